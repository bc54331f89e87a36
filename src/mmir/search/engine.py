"""The search engine: turns a query into concept weights or a query vector and ranks segments."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.media import decode_image, display_path, draft_side
from mmir.search.aggregate import best_per_media
from mmir.search.queries import ExampleQuery, ItemQuery, Query, TextQuery
from mmir.types import Hit

if TYPE_CHECKING:
    from mmir.concepts import ConceptVocabulary, QueryMapping
    from mmir.index.store import SegmentStore
    from mmir.models.encoder import Encoder

ConceptSource = Callable[[np.ndarray, np.ndarray], np.ndarray]


class SearchEngine:
    """Answers :class:`TextQuery`, :class:`ExampleQuery` and :class:`ItemQuery` over one collection.

    Args:
        store: The collection's catalog + vectors.
        vocabulary: Maps query text to weighted concept columns, or a function building it on first use
            (loading the WordNet hierarchy costs ~1 s, which query by example should not pay).
        encoder: Returns the collection's encoder (built only for query-by-example).
        extra_concepts: Optional ``(ids int64[N], descriptors float32[N, D]) -> float32[N, U]`` scores of
            user concepts, appended after the encoder's concept columns.
    """

    def __init__(
        self,
        store: SegmentStore,
        vocabulary: ConceptVocabulary | Callable[[], ConceptVocabulary],
        encoder: Callable[[], Encoder],
        extra_concepts: ConceptSource | None = None,
    ) -> None:
        self.store = store
        self._vocabulary = vocabulary
        self._encoder = encoder
        self._extra_concepts = extra_concepts
        self._concepts: tuple[int, np.ndarray, np.ndarray] | None = None

    @property
    def vocabulary(self) -> ConceptVocabulary:
        """The concept vocabulary, built on first use."""
        if callable(self._vocabulary):
            self._vocabulary = self._vocabulary()
        return self._vocabulary

    def search(self, query: Query, k: int = 10) -> list[Hit]:
        """The ``k`` best files for ``query``, best first (scores higher-is-better)."""
        if k <= 0:
            raise QueryError("k must be at least 1")
        if isinstance(query, TextQuery):
            return self._search_text(query, k)
        if isinstance(query, ExampleQuery):
            image = decode_image(query.data, query.name, min_side=draft_side(self._encoder().input_side))
            descriptor = self._encoder().encode([image]).descriptors
            return self._search_vector(descriptor, k, why=f"similar to {display_path(query.name)}")
        return self._search_item(query, k)

    def search_vector(self, descriptor: np.ndarray, k: int, why: str) -> list[Hit]:
        """The ``k`` files nearest a raw query descriptor ``float32[D]`` or ``[1, D]`` encoded by the caller."""
        if k <= 0:
            raise QueryError("k must be at least 1")
        return self._search_vector(np.asarray(descriptor, np.float32).reshape(1, -1), k, why=why)

    def segment_scores(self, query: TextQuery | ExampleQuery, limit: int = 5000) -> tuple[np.ndarray, np.ndarray]:
        """Per-segment scores for sub-queries of a temporal query: ``(ids int64[M], scores float32[M])``.

        Text scores every segment through concepts; an example scores its ``limit`` nearest segments (the rest
        count as 0). Scores are higher-is-better, as everywhere.
        """
        if isinstance(query, TextQuery):
            from mmir.search.concept_scoring import score_concepts

            mapping = self.map_query(query)
            if not any(term.concepts for term in mapping.terms):
                raise QueryError(f"no concept matches {query.text!r}; try other words (see `mmir concepts`)")
            ids, probs = self.concept_matrix()
            return ids, score_concepts(mapping, probs).astype(np.float32) if len(ids) else np.zeros(0, np.float32)
        image = decode_image(query.data, query.name, min_side=draft_side(self._encoder().input_side))
        scores, ids = self.store.search(self._encoder().encode([image]).descriptors, limit)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def concept_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """``(segment ids int64[N], probabilities float32[N, C])``, cached per catalog generation."""
        generation = self.store.catalog.generation
        if self._concepts is None or self._concepts[0] != generation:
            ids, probs = self.store.catalog.all_concepts()
            if self._extra_concepts is not None and len(ids):
                desc_ids, descriptors = self.store.catalog.all_descriptors()
                probs = np.hstack([probs, self._extra_concepts(desc_ids, descriptors)])
            self._concepts = (generation, ids, probs)
        return self._concepts[1], self._concepts[2]

    def map_query(self, query: TextQuery) -> QueryMapping:
        """How ``query`` maps to concepts (for ``mmir concepts``)."""
        return self.vocabulary.map_query(query.text, query.mode)

    def _search_text(self, query: TextQuery, k: int) -> list[Hit]:
        from mmir.search.text_fusion import search_text  # concepts fused with metadata text (FTS5)

        ids, probs = self.concept_matrix()
        return search_text(self.map_query(query), ids, probs, self.store.catalog, k)

    def _search_vector(self, descriptors: np.ndarray, k: int, why: str, exclude: int | None = None) -> list[Hit]:
        # Over-fetch: several segments may belong to one file, and the query item itself is dropped.
        scores, ids = self.store.search(descriptors, k * 2 + 1)
        rows = self.store.catalog.hits_rows([int(i) for i in ids[0] if i >= 0])
        hits = [
            Hit(*rows[int(sid)], score=float(score), why=(f"{why} (score {score:.3f})",))
            for score, sid in zip(scores[0], ids[0], strict=True)
            if int(sid) in rows and rows[int(sid)][0].id != exclude
        ]
        return best_per_media(hits, k)

    def _search_item(self, query: ItemQuery, k: int) -> list[Hit]:
        import os

        record = self.store.catalog.lookup(os.path.abspath(query.path))
        if record is None:
            raise QueryError(f"{display_path(query.path)}: not in the collection (index it first, or use --image)")
        descriptors = self.store.catalog.descriptor_of_media(record.id)
        query_vector = descriptors.mean(axis=0, keepdims=True)
        query_vector /= max(float(np.linalg.norm(query_vector)), 1e-12)
        return self._search_vector(query_vector, k, why=f"similar to {display_path(query.path)}", exclude=record.id)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``scores`` (``float32[N]``), best first, ties by lower index."""
    k = min(k * 2, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]

"""The search engine: turns a query into concept weights or a query vector and ranks segments."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.index.concept_columns import BLOCK_ROWS, CatalogConcepts, ConceptBlock, ConceptColumns, ConceptSource
from mmir.media import decode_for_model, display_path
from mmir.search.aggregate import best_per_media
from mmir.search.queries import ExampleQuery, ItemQuery, Query, TextQuery
from mmir.types import Hit

if TYPE_CHECKING:
    from mmir.concepts import ConceptVocabulary, QueryMapping
    from mmir.index.store import SegmentStore
    from mmir.models.encoder import Encoder
    from mmir.search.joint_fusion import TextEmbedder

ExtraConcepts = Callable[[np.ndarray, np.ndarray], np.ndarray]
# User-concept scores are computed from stored descriptors this many segments at a time (5 MB at 1,280-d).
EXTRA_BATCH = 1024


class ConceptView:
    """A collection's concepts at one catalog generation: model columns from blocks, user concepts after them.

    The model's columns come from the column files under ``<collection>/concepts``
    (:class:`~mmir.index.concept_columns.ConceptColumns`, brought up to date here), or straight from the
    catalog's rows when that directory cannot be written (a read-only collection: correct, slower). User
    concepts are scored from stored descriptors, :data:`EXTRA_BATCH` at a time, and kept per block for this
    generation (``4·U`` bytes a segment).

    Args:
        store: The collection's store.
        generation: The catalog generation this view matches.
        extra: ``(ids int64[N], descriptors float32[N, D]) -> float32[N, U]`` user-concept scores, or ``None``.
        block_rows: Segments per block.
    """

    def __init__(self, store: SegmentStore, generation: int, extra: ExtraConcepts | None, block_rows: int) -> None:
        self.store = store
        self.generation = generation
        self._extra = extra
        self._extra_cache: dict[tuple[int, int], np.ndarray] = {}
        self._width: int | None = None
        columns = ConceptColumns(store.directory / store.CONCEPTS, block_rows)
        try:
            columns.sync(store.catalog)
            self.source: ConceptSource = columns
        except OSError:
            self.source = CatalogConcepts(store.catalog, block_rows)

    def blocks(self) -> Iterator[ConceptBlock]:
        """The concept blocks in segment id order."""
        return self.source.blocks()

    def width(self) -> int:
        """``C + U``: model concept columns, then user concepts (0 when the collection is empty)."""
        if self._width is None:  # once per generation
            first = next(iter(self.blocks()), None)
            extra = self._extra_scores(first.ids[:1]).shape[1] if first is not None and self._extra else 0
            self._width = 0 if first is None else first.width + extra
        return self._width

    def columns(self, block: ConceptBlock, concepts: np.ndarray) -> np.ndarray:
        """``float32[B, K]`` of columns ``concepts``: model ones read from the block, user ones scored."""
        concepts = np.asarray(concepts, np.int64)
        model = concepts < block.width
        if model.all():
            return block.columns(concepts)
        out = np.empty((len(block.ids), len(concepts)), np.float32)
        out[:, model] = block.columns(concepts[model])
        key = (int(block.ids[0]), len(block.ids))
        if key not in self._extra_cache:
            self._extra_cache[key] = self._extra_scores(block.ids)
        out[:, ~model] = self._extra_cache[key][:, concepts[~model] - block.width]
        return out

    def rows(self, segment_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """``segment id → float32[C + U]`` full concept rows of a few segments (for ``why``)."""
        found = self.store.catalog.concepts_by_ids(segment_ids)
        if self._extra is None or not found:
            return found
        ids = np.fromiter(found, np.int64, len(found))
        extra = self._extra_scores(ids)
        return {int(sid): np.concatenate([found[int(sid)], extra[row]]) for row, sid in enumerate(ids)}

    def _extra_scores(self, ids: np.ndarray) -> np.ndarray:
        """User-concept scores ``float32[N, U]`` of segments ``ids``, from their stored descriptors."""
        assert self._extra is not None
        parts = []
        for start in range(0, len(ids), EXTRA_BATCH):
            found, descriptors = self.store.catalog.descriptors_by_ids(ids[start : start + EXTRA_BATCH])
            parts.append(np.asarray(self._extra(found, descriptors), np.float32))
        return np.concatenate(parts)


class SearchEngine:
    """Answers :class:`TextQuery`, :class:`ExampleQuery` and :class:`ItemQuery` over one collection.

    Args:
        store: The collection's catalog + vectors.
        vocabulary: Maps query text to weighted concept columns, or a function building it on first use
            (loading the WordNet hierarchy costs ~1 s, which query by example should not pay).
        encoder: Returns the collection's encoder (built only for query-by-example).
        extra_concepts: Optional ``(ids int64[N], descriptors float32[N, D]) -> float32[N, U]`` scores of
            user concepts, appended after the encoder's concept columns.
        text_tower: Returns the text tower of the joint text–image model that built the collection, or ``None``
            (text queries then use concepts and metadata text only).
    """

    def __init__(
        self,
        store: SegmentStore,
        vocabulary: ConceptVocabulary | Callable[[], ConceptVocabulary],
        encoder: Callable[[], Encoder],
        extra_concepts: ExtraConcepts | None = None,
        text_tower: Callable[[], TextEmbedder | None] | None = None,
    ) -> None:
        self.store = store
        self._vocabulary = vocabulary
        self._encoder = encoder
        self._extra_concepts = extra_concepts
        self._text_tower = text_tower
        self._view: ConceptView | None = None
        self._view_lock = threading.Lock()
        self.block_rows = BLOCK_ROWS  # segments per concept block (smaller in tests)

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
            image = decode_for_model(query.data, query.name, self._encoder().input_side)
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

        Text scores every segment through concepts, block by block (memory: 12 bytes a segment); an example
        scores its ``limit`` nearest segments (the rest count as 0). Scores are higher-is-better, as everywhere.
        """
        if isinstance(query, TextQuery):
            from mmir.search.keyword_stream import concept_scores

            mapping = self.map_query(query)
            if not any(term.concepts for term in mapping.terms):
                raise QueryError(f"no concept matches {query.text!r}; try other words (see `mmir concepts`)")
            view = self.concepts()
            return concept_scores(mapping, view.blocks(), view.width(), view.columns)
        image = decode_for_model(query.data, query.name, self._encoder().input_side)
        scores, ids = self.store.search(self._encoder().encode([image]).descriptors, limit)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def concepts(self) -> ConceptView:
        """Every segment's concepts (model, then user concepts), block by block; see :class:`ConceptView`."""
        with self._view_lock:  # server threads share the engine: one of them brings the files up to date
            generation = self.store.catalog.generation
            if self._view is None or self._view.generation != generation:
                self._view = ConceptView(self.store, generation, self._extra_concepts, self.block_rows)
            return self._view

    def concept_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """``(segment ids int64[N], probabilities float32[N, C + U])`` of every segment, read at once.

        Memory grows with the collection (4 GB at a million segments): search never calls it. It is kept for
        benchmarks and tools that study small collections as a whole.
        """
        ids, probs = self.store.catalog.all_concepts()
        if self._extra_concepts is not None and len(ids):
            desc_ids, descriptors = self.store.catalog.all_descriptors()
            probs = np.hstack([probs, self._extra_concepts(desc_ids, descriptors)])
        return ids, probs

    def map_query(self, query: TextQuery) -> QueryMapping:
        """How ``query`` maps to concepts (for ``mmir concepts``)."""
        return self.vocabulary.map_query(query.text, query.mode)

    def _search_text(self, query: TextQuery, k: int) -> list[Hit]:
        from mmir.search.keyword_stream import search_blocks  # concepts fused with metadata text, block by block

        view = self.concepts()
        route = (self.map_query(query), view.blocks(), view.width(), view.columns, view.rows, self.store.catalog, k)
        tower = self._text_tower() if self._text_tower is not None else None
        if tower is not None:  # a joint text–image model built the collection: its text tower joins in
            from mmir.search.joint_fusion import search_joint

            return search_joint(*route, tower)
        return search_blocks(*route)

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

"""The search engine: a collection's concepts (block by block), vocabulary and encoder, as the pipeline uses them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.index.concept_columns import BLOCK_ROWS, CatalogConcepts, ConceptBlock, ConceptColumns, ConceptSource
from mmir.media import decode_for_model
from mmir.search.queries import ItemQuery, Per, Query, SubQuery, TextQuery, VectorQuery
from mmir.types import DEFAULT_K, Hit

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
    """What the search pipeline (:mod:`mmir.search.pipeline`) needs of one collection: its store, concepts,
    vocabulary, encoder, text tower and descriptor-channel extractors, each built on first use.

    Args:
        store: The collection's catalog + vectors.
        vocabulary: Maps query text to weighted concept columns, or a function building it on first use
            (loading the WordNet hierarchy costs ~1 s, which query by example should not pay).
        encoder: Returns the collection's encoder (built only for query-by-example).
        extra_concepts: Optional ``(ids int64[N], descriptors float32[N, D]) -> float32[N, U]`` scores of
            user concepts, appended after the encoder's concept columns.
        text_tower: Returns the text tower of the joint text–image model that built the collection, or ``None``
            (text queries then use concepts and metadata text only).
        channel_extractors: Channel names → extractors of those engineered descriptors (for channel queries).
    """

    def __init__(
        self,
        store: SegmentStore,
        vocabulary: ConceptVocabulary | Callable[[], ConceptVocabulary],
        encoder: Callable[[], Encoder],
        extra_concepts: ExtraConcepts | None = None,
        text_tower: Callable[[], TextEmbedder | None] | None = None,
        channel_extractors: Callable[[Sequence[str]], list] | None = None,
    ) -> None:
        self.store = store
        self._vocabulary = vocabulary
        self.encoder = encoder
        self._extra_concepts = extra_concepts
        self._text_tower = text_tower
        self._channel_extractors = channel_extractors
        self._view: ConceptView | None = None
        self._view_lock = threading.Lock()
        self.block_rows = BLOCK_ROWS  # segments per concept block (smaller in tests)

    @property
    def vocabulary(self) -> ConceptVocabulary:
        """The concept vocabulary, built on first use."""
        if callable(self._vocabulary):
            self._vocabulary = self._vocabulary()
        return self._vocabulary

    def text_tower(self) -> TextEmbedder | None:
        """The joint model's text tower, or ``None`` (a collection built by a plain image model)."""
        return self._text_tower() if self._text_tower is not None else None

    def channel_extractors(self, names: Sequence[str]) -> list:
        """Extractors of the engineered descriptor channels ``names``."""
        if self._channel_extractors is None:
            from mmir.models.engineered import extractors

            return extractors(names, None)
        return self._channel_extractors(names)

    def search(self, query: Query, k: int = DEFAULT_K, per: Per | str = Per.FILE) -> list[Hit]:
        """The ``k`` best files (or shots) for ``query``, best first; see :func:`mmir.search.pipeline.search`."""
        from mmir.search.pipeline import search

        return list(search(self, query, k, per))

    def segment_scores(self, query: SubQuery, limit: int = 5000) -> tuple[np.ndarray, np.ndarray]:
        """Per-segment scores for sub-queries of a temporal query: ``(ids int64[M], scores float32[M])``.

        Text scores every segment through concepts, block by block (memory: 12 bytes a segment); an example
        (image, descriptor, or an indexed file or shot) scores its ``limit`` nearest segments (the rest count as 0).
        Scores are higher-is-better, as everywhere.
        """
        if isinstance(query, TextQuery):
            from mmir.search.keyword_stream import concept_scores

            mapping = self.map_query(query)
            if not any(term.concepts for term in mapping.terms):
                raise QueryError(f"no concept matches {query.text!r}; try other words (see `mmir concepts`)")
            view = self.concepts()
            return concept_scores(mapping, view.blocks(), view.width(), view.columns)
        if isinstance(query, VectorQuery):
            vector = np.asarray(query.descriptor, np.float32).reshape(1, -1)
        elif isinstance(query, ItemQuery):  # an indexed file or shot as a sub-query
            from mmir.search.items import resolve

            vector = resolve(self.store, query).query_vector()
        else:
            image = decode_for_model(query.data, query.name, self.encoder().input_side)
            vector = self.encoder().encode([image]).descriptors
        scores, ids = self.store.search(vector, limit)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def concepts(self) -> ConceptView:
        """Every segment's concepts (model, then user concepts), block by block; see :class:`ConceptView`."""
        with self._view_lock:  # server threads share the engine: one of them brings the files up to date
            generation = self.store.catalog.generation
            if self._view is None or self._view.generation != generation:
                self._view = ConceptView(self.store, generation, self._extra_concepts, self.block_rows)
            return self._view

    def map_query(self, query: TextQuery) -> QueryMapping:
        """How ``query`` maps to concepts (for ``mmir concepts``)."""
        return self.vocabulary.map_query(query.text, query.mode)

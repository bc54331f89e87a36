"""The one search pipeline: typed query → candidate source → (re-rank) → group to files or shots → k hits.

Every query kind (:mod:`mmir.search.queries`) becomes one :class:`~mmir.search.sources.Source` ranking segments
(vector index, concept columns + metadata text, a joint text tower, descriptor channels, a feedback scorer);
:func:`mmir.search.grouping.group` then asks it for as many segments as it takes to fill ``k`` distinct units
(``per="file"``: each file's best segment; ``per="shot"``: every shot its own unit); an example image may be
re-ranked by spatial verification (:mod:`mmir.search.spatial`); a temporal query pairs two sub-queries' shots
(:mod:`mmir.search.temporal`); a field query (visible text / speech) ranks the segments whose words hold its phrase
(:mod:`mmir.search.visible_text_search`). Scores follow one scale per kind (:mod:`mmir.search.scales`), and the
result says when nothing matches well. ``Collection.search(query, k, per=...)`` is the public entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, overload

import numpy as np

from mmir.errors import QueryError
from mmir.media import decode_for_model, display_path
from mmir.search import scales
from mmir.search.grouping import group
from mmir.search.queries import (
    ChannelQuery,
    ExampleQuery,
    FeedbackMethod,
    FeedbackQuery,
    FieldQuery,
    Fusion,
    ItemQuery,
    Per,
    Query,
    SubQuery,
    TemporalQuery,
    TextQuery,
    VectorQuery,
)  # fmt: skip
from mmir.search.scales import Kind
from mmir.types import DEFAULT_K, Hit

if TYPE_CHECKING:
    from PIL import Image

    from mmir.search.engine import SearchEngine
    from mmir.search.filters import SearchFilter
    from mmir.search.items import ResolvedItem
    from mmir.search.sources import Source
    from mmir.search.spatial import SpatialConfig
    from mmir.search.temporal import TemporalHit


@dataclass(frozen=True)
class SearchResult:
    """The hits of one query, best first, and what their scores mean. Iterates, indexes and sizes like a list.

    Attributes:
        hits: Up to ``k`` hits (fewer only when the collection has fewer matching units).
        kind: The score scale (see :data:`mmir.search.scales.SCALES`).
        weak: Nothing matches well (see :func:`mmir.search.scales.is_weak`).
        pairs: For a temporal query, each video's ``A then B`` pair (``hits`` carry the A shots).
        confidence: For a keyword query, how surely its words map to concepts, in ``[0, 1]``
            (:func:`mmir.search.scales.query_confidence`); 1 for other kinds.
    """

    hits: tuple[Hit, ...]
    kind: Kind
    weak: bool = False
    pairs: tuple[TemporalHit, ...] = field(default=())
    confidence: float = 1.0

    @property
    def scale(self) -> scales.Scale:
        """The range and meaning of the scores."""
        return scales.SCALES[self.kind]

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    @overload
    def __getitem__(self, index: int) -> Hit: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Hit, ...]: ...
    def __getitem__(self, index: int | slice) -> Hit | tuple[Hit, ...]:
        return self.hits[index]


@dataclass(frozen=True)
class Planned:
    """A query turned into a source, with what the grouping must leave out and how scores read."""

    source: Source
    kind: Kind
    exclude_media: frozenset[int] = frozenset()
    exclude_segments: frozenset[int] = frozenset()
    image: Image.Image | None = None  # the decoded example image (for spatial re-ranking)


def search(
    engine: SearchEngine, query: Query, k: int = DEFAULT_K, per: Per | str = Per.FILE,
    spatial: SpatialConfig | None = None, filter: SearchFilter | None = None,
) -> SearchResult:  # fmt: skip
    """The ``k`` best files (or shots) for ``query``; see the module docstring.

    ``filter`` keeps only the files it allows (kind, folder, dates, name), applied before grouping
    (:mod:`mmir.search.filters`): ``k`` units still come back unless fewer files match.

    Raises:
        QueryError: ``k < 1``, an unknown item or descriptor, a query that maps to nothing, or ``spatial`` without
            an example image.
    """
    if k <= 0:
        raise QueryError("k must be at least 1")
    per = Per(per)
    allowed = _allowed(engine, filter)
    if isinstance(query, TemporalQuery):
        return _temporal(engine, query, k, allowed)
    planned = plan(engine, query, per)
    if allowed is not None:
        from mmir.search.filters import restrict

        planned = replace(planned, source=restrict(planned.source, allowed, engine.store.catalog.counts()[1]))
    if spatial is not None and planned.image is None:
        raise QueryError("spatial verification needs a query image (--image)")
    depth = k if spatial is None else max(k, spatial.top)
    found = group(planned.source, engine.store.catalog, depth, per, planned.exclude_media, planned.exclude_segments)
    reasons = planned.source.explain([g.segment.id for g in found], [g.score for g in found])
    hits = [Hit(g.media, g.segment, g.score, reasons.get(g.segment.id, ())) for g in found]
    if spatial is not None and planned.image is not None:
        from mmir.search.spatial import rerank_hits

        hits = rerank_hits(planned.image, hits, spatial)
    hits = hits[:k]
    confidence = float(getattr(planned.source, "confidence", 1.0))
    weak = scales.is_weak(planned.kind, hits[0].score if hits else None, confidence)
    return SearchResult(tuple(hits), planned.kind, weak, confidence=confidence)


def _allowed(engine: SearchEngine, filter: SearchFilter | None) -> np.ndarray | None:
    """The segments ``filter`` allows (``None``: no filter, all of them)."""
    if filter is None or not filter.active:
        return None
    from mmir.search.filters import allowed_segments

    return allowed_segments(filter, engine.store.catalog)


def plan(engine: SearchEngine, query: Query, per: Per = Per.FILE) -> Planned:
    """The candidate source of ``query`` (any kind but temporal)."""
    from mmir.search.sources import VectorSource

    store = engine.store
    if isinstance(query, TextQuery):
        return Planned(*_text_source(engine, query))
    if isinstance(query, ExampleQuery):
        image = _decode(engine, query)
        vector = engine.encoder().encode([image]).descriptors
        return Planned(VectorSource(store, vector, f"similar to {display_path(query.name)}"), Kind.EXAMPLE,
                       image=image)  # fmt: skip
    if isinstance(query, VectorQuery):
        return Planned(VectorSource(store, query.descriptor, query.why), Kind.EXAMPLE)
    if isinstance(query, ItemQuery):
        item = _resolve(engine, query)
        source = VectorSource(store, item.query_vector(), f"similar to {item.label()}", item.segment_ids)
        # The source already leaves the item's segments out: the grouping needs only the file (per file), and not
        # the segments too, which would also widen its depth by the 40 shots of a video a second time.
        return Planned(source, Kind.EXAMPLE, frozenset({item.media.id}) if per is Per.FILE else frozenset())
    if isinstance(query, FeedbackQuery):
        return _feedback(engine, query)
    if isinstance(query, ChannelQuery):
        return _channel(engine, query, per)
    if isinstance(query, FieldQuery):
        from mmir.search.visible_text_search import field_source

        return Planned(field_source(store.catalog, query), Kind.FIELD)
    raise QueryError(f"unknown query type {type(query).__name__}")


def _text_source(engine: SearchEngine, query: TextQuery) -> tuple[Source, Kind]:
    from mmir.search.keyword_stream import KeywordSource

    mapping = engine.map_query(query)
    view = engine.concepts()
    tower = engine.text_tower()
    if tower is not None:  # a joint text–image model built the collection: its text tower joins in
        from mmir.search.joint_fusion import joint_source

        joint = joint_source(mapping, view.blocks(), view.width(), view.columns, view.rows, engine.store.catalog, tower)
        return joint, Kind.TEXT_JOINT
    source = KeywordSource(mapping, view.blocks, view.width(), view.columns, view.rows, engine.store.catalog)
    return source, Kind.TEXT


def _decode(engine: SearchEngine, query: ExampleQuery) -> Image.Image:
    return decode_for_model(query.data, query.name, engine.encoder().input_side)


def _resolve(engine: SearchEngine, query: ItemQuery) -> ResolvedItem:
    from mmir.search.items import resolve

    return resolve(engine.store, query)


def _exclusions(item: ResolvedItem, per: Per) -> tuple[frozenset[int], frozenset[int]]:
    """What "similar to an item" leaves out: its file (per file), or the item's own segments (per shot)."""
    if per is Per.FILE:
        return frozenset({item.media.id}), frozenset(item.segment_ids)
    return frozenset(), frozenset(item.segment_ids)


def _feedback(engine: SearchEngine, query: FeedbackQuery) -> Planned:
    from mmir.search.feedback import FeedbackSource, Marks

    store = engine.store

    def vectors(items: Sequence[ItemQuery]) -> np.ndarray:
        rows = []
        for item in items:
            projected = store.project(_resolve(engine, item).raw).mean(axis=0)
            rows.append(projected / max(float(np.linalg.norm(projected)), 1e-12))
        return np.stack(rows).astype(np.float32)

    positives = vectors(query.positives)
    negatives = vectors(query.negatives) if query.negatives else np.zeros((0, positives.shape[1]), np.float32)
    projected = store.project(query.query.reshape(1, -1))[0] if query.query is not None else None
    why = f"feedback ({query.method.value}): {len(query.positives)} relevant, {len(query.negatives)} not"
    source = FeedbackSource(store, Marks(positives, negatives, projected), query.method, why=why)
    kind = Kind.FEEDBACK_CLASSIFIER if query.method is FeedbackMethod.CLASSIFIER else Kind.FEEDBACK_ROCCHIO
    return Planned(source, kind)


def _channel(engine: SearchEngine, query: ChannelQuery, per: Per) -> Planned:
    from mmir.index.channels import channel_names
    from mmir.search.channel_inputs import ChannelInputs
    from mmir.search.channel_search import ChannelSource, channels_for, fused_source

    store = engine.store
    names = channels_for(query.descriptor, channel_names(store.catalog))
    example = query.example
    if names == ["cnn"]:
        return plan(engine, example, per)
    item = _resolve(engine, example) if isinstance(example, ItemQuery) else None
    image = _decode(engine, example) if isinstance(example, ExampleQuery) else None
    inputs = ChannelInputs(engine, item, image)
    exclude = _exclusions(item, per) if item is not None else (frozenset(), frozenset())
    why = f"similar to {item.label() if item is not None else display_path(getattr(example, 'name', 'the query'))}"
    if len(names) == 1:
        raw = inputs.query_vectors(names)[names[0]]
        source: Source = ChannelSource(store, names[0], raw, why, sorted(exclude[0]), inputs.shots(names[0]))
        return Planned(source, Kind.CHANNEL, *exclude, image=image)
    fusion = Fusion(query.fusion)
    source = fused_source(store, names, inputs.query_vectors, query.weights, fusion, why, inputs.shots)
    kind = Kind.FUSED_LATE if fusion is Fusion.LATE else Kind.FUSED_EARLY
    return Planned(source, kind, *exclude, image=image)


def _temporal(engine: SearchEngine, query: TemporalQuery, k: int, allowed: np.ndarray | None = None) -> SearchResult:
    from mmir.search import temporal

    shortlist = max(200, 50 * k)

    def scored(sub: SubQuery) -> dict[int, float]:
        ids, scores = engine.segment_scores(sub, shortlist)
        if allowed is not None:  # the filter's segments only (a filtered-out video pairs nothing)
            keep = np.isin(ids, allowed)
            ids, scores = ids[keep], scores[keep]
        return temporal.candidates(ids, scores, shortlist)

    scored_a, scored_b = scored(query.first), scored(query.second)
    rows = engine.store.catalog.hits_rows(sorted(set(scored_a) | set(scored_b)))
    pairs = temporal.then_within(scored_a, scored_b, rows, query.within_s, k)
    hits = tuple(Hit(pair.media, pair.first, pair.score, pair.why) for pair in pairs)
    return SearchResult(hits, Kind.TEMPORAL, weak=not hits, pairs=tuple(pairs))

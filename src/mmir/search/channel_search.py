"""Query by example over one descriptor channel, or over several fused (early or late), as candidate sources.

The ``cnn`` channel is the collection's own vector index: every segment, so video shots take part
(:class:`mmir.search.sources.VectorSource`). The engineered channels (colour, lbp, hog, bovw) are stored per photo
(:mod:`mmir.index.channels`, each with its own persisted exact FAISS index, :mod:`mmir.index.channel_indexes`);
video shots get theirs from their keyframe thumbnails (:mod:`mmir.search.channel_shots`). Fused search scores
every segment: its CNN cosine and its (file's or shot's) score in each engineered channel, combined over the
channels the segment has.

Score scales: one channel — cosine in ``[-1, 1]``; early fusion — the weighted mean of cosines, ``[-1, 1]``;
late fusion — the weighted mean of per-channel z-scores mapped through the normal CDF, ``[0, 1]`` (0.5: as good
as the collection's average item).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.index.channel_indexes import ChannelIndexes, OpenChannel
from mmir.index.channels import first_segments
from mmir.models.engineered import Descriptor
from mmir.search.fusion import DEFAULT_EARLY_WEIGHTS, DEFAULT_WEIGHTS, weighted_channels, zscore
from mmir.search.queries import Fusion
from mmir.search.sources import Ranked, ScoredSource, ranked_from_arrays

if TYPE_CHECKING:
    from mmir.index.store import SegmentStore

__all__ = ["FUSED", "ChannelSource", "Fusion", "channels_for", "fused_source", "open_channels"]

QueryVectors = Callable[[Sequence[str]], dict[str, np.ndarray]]
FUSED = "fused"


def channels_for(descriptor: str, stored: Sequence[str]) -> list[str]:
    """The channels a ``--descriptor`` value searches: one, or ``cnn`` plus every ``stored`` one for ``fused``.

    Raises:
        QueryError: for an unknown descriptor name.
    """
    if descriptor == FUSED:
        return [Descriptor.CNN.value, *stored]
    if descriptor not in {d.value for d in Descriptor}:
        known = ", ".join([*(d.value for d in Descriptor), FUSED])
        raise QueryError(f"unknown descriptor {descriptor!r}; known: {known}")
    return [descriptor]


def open_channels(store: SegmentStore, names: Sequence[str]) -> dict[str, OpenChannel]:
    """Each channel's persisted index (:mod:`mmir.index.channel_indexes`), synced with the catalog first."""
    indexes = ChannelIndexes.of_store(store)
    return {name: indexes.open(name) for name in names}


ShotRows = tuple[np.ndarray, np.ndarray]  # video shots' (segment ids int64[M], raw channel vectors float32[M, K])


def shot_scores(opened: OpenChannel, shots: ShotRows | None, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(segment ids int64[M], cosines float32[M])`` of the video shots in an engineered channel."""
    if shots is None or not len(shots[0]):
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    rows = np.vstack([opened.query(row) for row in shots[1]])  # the index's space (unit length, tf-idf for bovw)
    return shots[0], (rows @ np.asarray(query, np.float32).reshape(-1)).astype(np.float32)


class ChannelSource:
    """One engineered channel: photos by cosine in the channel's index (each file standing as its first segment),
    and video shots by cosine of their keyframes' vectors (:mod:`mmir.search.channel_shots`).

    Args:
        store: The collection's store.
        name: The channel.
        raw: The query's raw channel vector ``float32[K]``.
        why: Prefix of each hit's reason.
        exclude_media: Files never returned (the query file).
        shots: Video shots' raw vectors in this channel (``None``: none).
    """

    def __init__(
        self, store: SegmentStore, name: str, raw: np.ndarray, why: str, exclude_media: Sequence[int] = (),
        shots: ShotRows | None = None,
    ) -> None:  # fmt: skip
        self.store, self.name, self.why = store, name, why
        self.opened = open_channels(store, [name])[name]
        self.query = self.opened.query(raw)
        self.exclude = {int(i) for i in exclude_media}
        self.shot_ids, self.shot_scores = shot_scores(self.opened, shots, self.query)

    def top(self, n: int) -> Ranked:
        size = len(self.opened.index)
        want = min(n + len(self.exclude), size)
        pairs: list[tuple[int, float]] = []
        if want > 0:
            found, ids = self.opened.index.search(self.query, want)
            segments = first_segments(self.store.catalog, [int(m) for m in ids[0] if m >= 0])
            pairs = [(segments[int(m)], float(s)) for m, s in zip(ids[0], found[0], strict=True)
                     if int(m) in segments and int(m) not in self.exclude]  # fmt: skip
        shots = ranked_from_arrays(self.shot_ids, self.shot_scores, n)
        pairs += list(zip(shots.ids.tolist(), shots.scores.tolist(), strict=True))
        pairs.sort(key=lambda pair: (-pair[1], pair[0]))
        out_ids = np.asarray([p[0] for p in pairs], np.int64)[:n]
        exhausted = want >= size and shots.exhausted
        return Ranked(out_ids, np.asarray([p[1] for p in pairs], np.float32)[:n], exhausted=exhausted)

    def explain(self, ids: Sequence[int], scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        return {int(i): (f"{self.why} ({self.name} cosine {s:.3f})",) for i, s in zip(ids, scores, strict=True)}


def fused_source(
    store: SegmentStore, names: Sequence[str], query_vectors: QueryVectors, weights: Mapping[str, float],
    fusion: Fusion = Fusion.LATE, why: str = "similar", shots: Callable[[str], ShotRows | None] | None = None,
) -> ScoredSource:  # fmt: skip
    """Every segment scored in channels ``names`` (``cnn`` per segment, the others per file), fused.

    Args:
        store: The collection's store.
        names: Channels (``cnn`` first); channels of weight 0 are not searched.
        query_vectors: ``names → {name: float32[K]}`` the query's raw vectors (``cnn``: a raw CNN descriptor).
        weights: Fusion weights per channel (missing: the validated defaults of ``fusion``).
        fusion: Late (z-scores, mapped to ``[0, 1]``) or early (weighted mean of cosines, ``[-1, 1]``).
        why: Prefix of each hit's reason.
        shots: Channel name → the video shots' raw vectors in it (``None``: videos take part by ``cnn`` only).
    """
    early = fusion is Fusion.EARLY
    names = weighted_channels(list(names), weights, early=early) or list(names)  # all 0: an error below
    defaults = DEFAULT_EARLY_WEIGHTS if early else DEFAULT_WEIGHTS
    chosen = {name: float(weights.get(name, defaults.get(name, 1.0))) for name in names}
    if sum(chosen.values()) <= 0:
        raise QueryError(f"fusion weights of {list(names)} sum to zero")
    raw = query_vectors(names)
    segment_ids, media_ids = store.catalog.segment_media()
    per_channel = {
        name: _segment_scores(store, name, raw[name], segment_ids, media_ids, shots(name) if shots else None)
        for name in names
    }
    total = np.zeros(len(segment_ids), np.float64)
    weight = np.zeros(len(segment_ids), np.float64)
    for name, (scores, present) in per_channel.items():
        values = scores.copy()
        if not early and present.any():
            values[present] = zscore(scores[present])
        total += np.where(present, chosen[name] * values, 0.0)
        weight += np.where(present, chosen[name], 0.0)
    has_any = weight > 0
    fused = total / np.maximum(weight, 1e-12)
    if not early:
        from scipy.special import ndtr  # the normal CDF, vectorised

        fused = ndtr(fused)

    def explain(ids: Sequence[int], scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        rows = np.searchsorted(segment_ids, np.asarray(list(ids), np.int64))
        out: dict[int, tuple[str, ...]] = {}
        for sid, row, score in zip(ids, rows, scores, strict=True):
            detail = ", ".join(f"{n} {s[row]:.3f}" for n, (s, p) in per_channel.items() if p[row])
            out[int(sid)] = (f"{why} (fused {score:.3f}: {detail})",)
        return out

    return ScoredSource(segment_ids[has_any], fused[has_any].astype(np.float32), explain)


def _segment_scores(
    store: SegmentStore, name: str, raw: np.ndarray, segment_ids: np.ndarray, media_ids: np.ndarray,
    shots: ShotRows | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(cosines float64[N], present bool[N])`` of every segment in channel ``name`` (engineered: its file's)."""
    scores = np.zeros(len(segment_ids), np.float64)
    present = np.zeros(len(segment_ids), bool)
    if name == Descriptor.CNN.value:
        size = len(store.vectors)
        if size:
            found, ids = store.search(np.asarray(raw, np.float32).reshape(1, -1), size)
            keep = ids[0] >= 0
            rows = np.searchsorted(segment_ids, ids[0][keep])
            rows = np.clip(rows, 0, max(len(segment_ids) - 1, 0))
            known = segment_ids[rows] == ids[0][keep]
            scores[rows[known]] = found[0][keep][known]
            present[rows[known]] = True
        return scores, present
    opened = open_channels(store, [name])[name]
    query = opened.query(raw)
    if len(opened.index):
        found, ids = opened.index.search(query, len(opened.index))
        by_media = dict(zip(ids[0].tolist(), found[0].tolist(), strict=True))
        for row, media in enumerate(media_ids.tolist()):
            if media in by_media:
                scores[row], present[row] = by_media[media], True
    shot_ids, cosines = shot_scores(opened, shots, query)
    rows = np.searchsorted(segment_ids, shot_ids)
    known = (rows < len(segment_ids)) & (segment_ids[np.minimum(rows, max(len(segment_ids) - 1, 0))] == shot_ids)
    scores[rows[known]], present[rows[known]] = cosines[known], True
    return scores, present

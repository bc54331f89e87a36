"""Query by example over one descriptor channel, or over several fused (early or late).

Channels are per file: the CNN channel is each file's first-segment descriptor (projected like the main index),
the engineered ones are the stored rows of :mod:`mmir.index.channels`. Each channel has its own persisted exact
FAISS index (:mod:`mmir.index.channel_indexes`, kept in step with the catalog without decoding), so late fusion
sees every file's score in every channel; the bag of words is tf-idf weighted with the idf saved with its index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.index.channel_indexes import ChannelIndexes, OpenChannel
from mmir.index.channels import first_segments
from mmir.models.engineered import Descriptor
from mmir.search.fusion import early_fusion_scores, late_fusion, weighted_channels

if TYPE_CHECKING:
    from mmir.index.store import SegmentStore
    from mmir.types import Hit


class Fusion(StrEnum):
    """How several channels are combined (see :mod:`mmir.search.fusion`)."""

    LATE = "late"
    EARLY = "early"


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


def search_channels(
    store: SegmentStore,
    names: Sequence[str],
    query_vectors: QueryVectors,
    k: int,
    weights: Mapping[str, float],
    fusion: Fusion = Fusion.LATE,
    why: str = "similar",
) -> list[Hit]:
    """The ``k`` files most similar to a query in channel(s) ``names``, best first.

    One channel: its index's top ``k``. Several: every file's score in every channel (a full search of each
    exact index), fused over the files present in all of them.

    Args:
        store: The collection's store.
        names: Channels to search; more than one are fused.
        query_vectors: ``names → {name: float32[K]}`` the query's raw vectors (decoded and extracted once).
        k: Number of files.
        weights: Fusion weights per channel (see :mod:`mmir.search.fusion`).
        fusion: Late (z-normalised score combination) or early (weighted mean of the cosines).
        why: Prefix of each hit's explanation.
    """
    if len(names) > 1:  # a channel of weight 0 changes no score: not searched, and no file needs it
        names = weighted_channels(list(names), weights, early=fusion is Fusion.EARLY) or names  # all 0: an error
    opened = open_channels(store, names)
    raw = query_vectors(names)
    queries = {name: opened[name].query(raw[name]) for name in names}
    if len(names) == 1:
        found, ids = opened[names[0]].index.search(queries[names[0]], k)
        keep = ids[0] >= 0
        return _hits(store, ids[0][keep], found[0][keep], {names[0]: found[0][keep]}, why)
    full = {name: opened[name].index.search(queries[name], len(opened[name].index)) for name in names}
    common = _common_ids([ids[0] for _, ids in full.values()])
    per_channel = {}
    for name, (found, ids) in full.items():
        order = np.argsort(ids[0], kind="stable")
        at = order[np.searchsorted(ids[0], common, sorter=order)]
        per_channel[name] = found[0][at]
    if fusion is Fusion.EARLY:
        scores = early_fusion_scores(per_channel, weights)
    else:
        scores = late_fusion(per_channel, weights)
    top = np.argsort(-scores, kind="stable")[:k]
    return _hits(store, common[top], scores[top], {n: s[top] for n, s in per_channel.items()}, why)


def _hits(
    store: SegmentStore, media_ids: np.ndarray, scores: np.ndarray, per_channel: Mapping[str, np.ndarray], why: str
) -> list[Hit]:
    """Hits of ``media_ids`` (best first, ``int64[n]``) with their scores and per-channel scores ``float32[n]``."""
    from mmir.types import Hit

    segments = first_segments(store.catalog, [int(i) for i in media_ids])
    found = store.catalog.hits_rows(list(segments.values()))
    hits = []
    for i, media_id in enumerate(int(m) for m in media_ids):
        if media_id in segments and segments[media_id] in found:
            detail = ", ".join(f"{name} {values[i]:.3f}" for name, values in per_channel.items())
            hits.append(Hit(*found[segments[media_id]], score=float(scores[i]), why=(f"{why} ({detail})",)))
    return hits


def _common_ids(id_lists: list[np.ndarray]) -> np.ndarray:
    """Sorted media ids present in every channel."""
    common = id_lists[0]
    for ids in id_lists[1:]:
        common = np.intersect1d(common, ids)
    return np.sort(common)

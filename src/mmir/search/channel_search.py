"""Query by example over one descriptor channel, or over several fused (early or late).

Channels are per file: the CNN channel is each file's first-segment descriptor (projected like the main index),
the engineered ones are the stored rows of :mod:`mmir.index.channels`. Every channel's index is exact (an inner
product over all files), so late fusion sees every file's score in every channel; the bag of words is tf-idf
weighted with the idf of the stored counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.index.channels import ChannelIndex, channel_vectors, first_segments
from mmir.models.engineered import Descriptor, tfidf
from mmir.search.fusion import early_fusion, late_fusion

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


def channel_matrix(store: SegmentStore, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(media ids int64[N], search-ready rows float32[N, K], idf or None)`` of channel ``name``."""
    if name == Descriptor.CNN.value:
        ids, descriptors = store.catalog.all_media_descriptors()
        vectors = store.project(descriptors) if len(ids) else descriptors
        return ids, vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12), None
    ids, vectors = channel_vectors(store.catalog, name)
    if not len(ids):
        raise QueryError(f"no file holds the {name!r} descriptor (index with --descriptors cnn,{name})")
    if name == Descriptor.BOVW.value:
        weighted, idf = tfidf(vectors)
        return ids, weighted, idf
    return ids, vectors, None


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

    Args:
        store: The collection's store.
        names: Channels to search; more than one are fused.
        query_vectors: ``names → {name: float32[K]}`` the query's raw vectors (decoded and extracted once).
        k: Number of files.
        weights: Fusion weights per channel (see :mod:`mmir.search.fusion`).
        fusion: Late (z-normalised score combination) or early (weighted concatenation).
        why: Prefix of each hit's explanation.
    """
    from mmir.types import Hit

    matrices = {name: channel_matrix(store, name) for name in names}
    common = _common_ids([m[0] for m in matrices.values()])
    raw = query_vectors(names)
    rows, queries = {}, {}
    for name, (ids, vectors, idf) in matrices.items():
        rows[name] = vectors[np.searchsorted(ids, common)]
        query = raw[name] if name != Descriptor.CNN.value else store.project(raw[name][None, :])[0]
        queries[name] = tfidf(query, idf)[0][0] if idf is not None else query / max(np.linalg.norm(query), 1e-12)
    per_channel = {name: ChannelIndex(common, rows[name]).scores(queries[name]) for name in names}
    if len(names) == 1:
        scores = per_channel[names[0]]
    elif fusion is Fusion.EARLY:  # one inner product of the fused vectors (= the weighted mean of the cosines)
        scores = early_fusion(rows, weights) @ early_fusion({n: q[None, :] for n, q in queries.items()}, weights)[0]
    else:
        scores = late_fusion(per_channel, weights)
    top = np.argsort(-scores, kind="stable")[:k]
    segments = first_segments(store.catalog, [int(common[i]) for i in top])
    found = store.catalog.hits_rows(list(segments.values()))
    hits = []
    for i in top:
        media_id = int(common[i])
        if media_id in segments and segments[media_id] in found:
            detail = ", ".join(f"{name} {per_channel[name][i]:.3f}" for name in names)
            hits.append(Hit(*found[segments[media_id]], score=float(scores[i]), why=(f"{why} ({detail})",)))
    return hits


def _common_ids(id_lists: list[np.ndarray]) -> np.ndarray:
    """Sorted media ids present in every channel."""
    common = id_lists[0]
    for ids in id_lists[1:]:
        common = np.intersect1d(common, ids)
    return np.sort(common)

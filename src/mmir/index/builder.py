"""Builds the vector index a collection's size calls for, from stored vectors, with bounded memory.

No CNN pass: vectors come from a :class:`VectorSource` (the catalog's raw descriptors, projected).
Training reads a bounded random sample; adding streams batches; the recall of the approximate index is
measured against exact search computed in the same streaming pass (for sample queries held out of the
index until then), and ``nprobe`` is tuned on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

from mmir.index.ivf import IvfIndex
from mmir.index.tuning import TARGET_RECALL, TUNING_QUERIES, IndexKind, IndexPlan, choose_plan, training_size
from mmir.index.vectors import FaissIndex, Metric

BATCH = 10_000
"""Vectors read per batch while (re)building: 10k × 1,280 floats ≈ 51 MB."""
RECALL_AT = 10


class VectorSource(Protocol):
    """Where a rebuild reads the collection's exact index vectors from."""

    @property
    def dim(self) -> int:
        """Dimension ``D`` of the vectors."""
        ...

    def count(self) -> int:
        """Number of vectors."""
        ...

    def sample(self, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A random subset: ``(ids int64[S], vectors float32[S, D])``."""
        ...

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All vectors in batches of at most ``size``: ``(ids int64[B], vectors float32[B, D])``."""
        ...

    def fetch(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact vectors of ``int64[M]`` ids: ``(ids int64[M'], float32[M', D])``, unknown ids left out."""
        ...


class Probed(Protocol):
    """An approximate index whose ``nprobe`` can be set per search (IVF in FAISS or in Milvus)."""

    @property
    def plan(self) -> IndexPlan:
        """Its plan (``nlist``)."""
        ...

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``float32[Q, D]`` → ``(scores float32[Q, k], ids int64[Q, k])``."""
        ...


class StreamingTopK:
    """Exact top-``k`` neighbours of a few queries, accumulated over batches (each query's own id excluded).

    Args:
        queries: ``float32[Q, D]``.
        query_ids: ``int64[Q]`` ids of the queries in the collection (excluded from their own results).
        k: Neighbours kept.
        metric: Scores higher-is-better.
    """

    def __init__(self, queries: np.ndarray, query_ids: np.ndarray, k: int, metric: Metric) -> None:
        self.queries = queries
        self.query_ids = query_ids
        self.k = k
        self.metric = metric
        self.scores = np.full((len(queries), 0), -np.inf, np.float32)
        self.ids = np.zeros((len(queries), 0), np.int64)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Merge one batch (``int64[B]``, ``float32[B, D]``)."""
        scores = self.queries @ vectors.T
        if self.metric is Metric.L2:
            scores = 2 * scores - (vectors**2).sum(axis=1)[None, :] - (self.queries**2).sum(axis=1)[:, None]
        scores[self.query_ids[:, None] == ids[None, :]] = -np.inf
        all_scores = np.hstack([self.scores, scores.astype(np.float32)])
        all_ids = np.hstack([self.ids, np.broadcast_to(ids, scores.shape)])
        keep = np.argsort(-all_scores, axis=1, kind="stable")[:, : self.k]
        self.scores = np.take_along_axis(all_scores, keep, axis=1)
        self.ids = np.take_along_axis(all_ids, keep, axis=1)


def recall_at(truth: np.ndarray, found: np.ndarray) -> float:
    """Recall@k: mean fraction of each row of ``truth`` (``int64[Q, k]``) among the first ``k`` valid ids of
    the same row of ``found`` (``int64[Q, k']``, ``-1`` = no id)."""
    hits = []
    for expected, got in zip(truth, found, strict=True):
        expected = expected[expected >= 0]
        got = got[got >= 0][: truth.shape[1]]
        hits.append(len(set(expected.tolist()) & set(got.tolist())) / max(len(expected), 1))
    return float(np.mean(hits)) if hits else 1.0


def build_index(source: VectorSource, metric: Metric, seed: int = 0) -> tuple[FaissIndex | IvfIndex, IndexPlan]:
    """The index :func:`~mmir.index.tuning.choose_plan` picks for the source's size, filled and tuned."""
    size, dim = source.count(), source.dim
    plan = choose_plan(size, dim)
    if plan.kind is IndexKind.EXACT:
        exact = FaissIndex(dim, metric)
        for ids, vectors in source.batches(BATCH):
            exact.add(ids, vectors)
        return exact, plan.tuned(0, 1.0, size)
    sample_ids, sample = source.sample(training_size(plan, size), seed)
    probes = min(TUNING_QUERIES, len(sample) // 10)
    # The tuning queries are held out of training and of the index until tuned: queries that are in the index
    # (and shaped its clusters) find their neighbours in fewer lists than new photos do, overstating recall.
    index = IvfIndex.train(plan, sample[probes:], metric, source.fetch)
    truth = StreamingTopK(sample[:probes].copy(), sample_ids[:probes].copy(), RECALL_AT, metric)
    del sample
    for ids, vectors in source.batches(BATCH):
        keep = ~np.isin(ids, truth.query_ids)
        index.add(ids[keep], vectors[keep])
        truth.update(ids[keep], vectors[keep])
    nprobe, recall = tune_nprobe(index, truth)
    index.add(truth.query_ids, truth.queries)
    tuned = plan.tuned(nprobe, recall, size)
    return index.with_plan(tuned), tuned


def tune_nprobe(index: Probed, truth: StreamingTopK) -> tuple[int, float]:
    """Smallest ``nprobe`` (steps of about √2) whose recall@10 reaches :data:`TARGET_RECALL` (or all lists)."""
    step, nprobe, recall = 0, 0, 0.0
    while True:
        nprobe = min(index.plan.nlist, max(nprobe + 1, round(2 ** (step / 2))))
        _, found = index.search(truth.queries, RECALL_AT, nprobe=nprobe)
        recall = recall_at(truth.ids, found)
        if recall >= TARGET_RECALL or nprobe >= index.plan.nlist:
            return nprobe, recall
        step += 1

"""The approximate vector index: IVF candidates on compressed vectors, re-ranked exactly.

FAISS proposes candidates from an inverted-file index over 8-bit scalar codes of an uncentred PCA of the
vectors; their exact vectors are then fetched (from the catalog's stored raw descriptors) and scored
exactly, so the final scores are the exact index's scores. The PCA is uncentred (eigenvectors of the
second-moment matrix, a rotation + truncation) because centring would change inner-product rankings.
The inverted lists can be memory-mapped from the saved file (read-only: a writer reloads it into memory).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mmir.errors import CollectionError
from mmir.index.tuning import IndexPlan
from mmir.index.vectors import Metric

Fetch = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``int64[M]`` ids → ``(ids int64[M'], exact vectors float32[M', D])`` of those still stored (a concurrent
writer may have deleted some since the candidate index was saved)."""


def uncentred_pca(sample: np.ndarray, dim: int) -> np.ndarray:
    """Top-``dim`` eigenvectors ``float32[dim, D]`` of the second-moment matrix of ``sample`` (``float32[S, D]``)."""
    second = np.zeros((sample.shape[1], sample.shape[1]), np.float64)
    for start in range(0, len(sample), 8192):  # float64 in chunks: no float64 copy of the whole sample
        chunk = sample[start : start + 8192].astype(np.float64)
        second += chunk.T @ chunk
    second /= max(len(sample), 1)
    _, vectors = np.linalg.eigh(second)
    return np.ascontiguousarray(vectors[:, ::-1][:, :dim].T, dtype=np.float32)


class IvfIndex:
    """IVF + SQ8 candidates (optionally after uncentred PCA), exactly re-ranked through ``fetch``.

    Args:
        index: A trained FAISS index (``IndexPreTransform`` or ``IndexIVF``) holding catalog ids.
        metric: How exact scores are computed (higher-is-better at this boundary).
        plan: Its parameters (``nprobe``, ``candidates``).
        fetch: Exact vectors of candidate ids.
        mapped: Whether the inverted lists are memory-mapped (read-only).
    """

    def __init__(self, index: Any, metric: Metric, plan: IndexPlan, fetch: Fetch, mapped: bool = False) -> None:
        import faiss

        self._index = index
        self.metric = metric
        self.plan = plan
        self.fetch = fetch
        self.mapped = mapped
        self.dim = int(index.d)
        faiss.extract_index_ivf(index).nprobe = max(1, plan.nprobe)

    @classmethod
    def train(cls, plan: IndexPlan, sample: np.ndarray, metric: Metric, fetch: Fetch) -> IvfIndex:
        """Train on ``sample`` (``float32[S, D]``, a bounded random subset of the collection)."""
        import faiss

        dim = sample.shape[1]
        faiss_metric = faiss.METRIC_INNER_PRODUCT if metric is Metric.INNER_PRODUCT else faiss.METRIC_L2
        inner = plan.reduced_dim or dim
        ivf = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlat(inner, faiss_metric), inner, plan.nlist, faiss.ScalarQuantizer.QT_8bit, faiss_metric
        )
        ivf.cp.niter = 10  # k-means converges enough for candidate generation; halves training time
        index: Any = ivf
        if plan.reduced_dim:
            transform = faiss.LinearTransform(dim, inner, False)
            faiss.copy_array_to_vector(uncentred_pca(sample, inner).ravel(), transform.A)
            transform.is_trained = True
            index = faiss.IndexPreTransform(transform, ivf)  # FAISS's Python layer keeps both alive
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        return cls(index, metric, plan, fetch)

    @classmethod
    def load(cls, path: Path, metric: Metric, plan: IndexPlan, fetch: Fetch, mmap: bool) -> IvfIndex:
        """Read a saved index; with ``mmap`` its inverted lists stay on disk (read-only)."""
        import faiss

        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if mmap else 0)
            faiss.extract_index_ivf(index)
        except RuntimeError as exc:
            raise CollectionError(f"{path}: unreadable or not an IVF vector index ({exc})") from exc
        return cls(index, metric, plan, fetch, mapped=mmap)

    def with_plan(self, plan: IndexPlan) -> IvfIndex:
        """The same index with tuned search parameters."""
        return IvfIndex(self._index, self.metric, plan, self.fetch, self.mapped)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``float32[N, D]`` vectors under ``int64[N]`` ids."""
        if len(ids) == 0:
            return
        self._writable()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dim:
            raise CollectionError(f"vector dimension {vectors.shape[1]} does not match the index ({self.dim})")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Remove vectors by id (unknown ids are ignored)."""
        import faiss

        if len(ids):
            self._writable()
            self._index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64)))

    def _writable(self) -> None:
        if self.mapped:
            raise CollectionError("the vector index is memory-mapped read-only; reopen it for writing")

    def candidates(self, queries: np.ndarray, count: int, nprobe: int | None = None) -> np.ndarray:
        """Candidate ids ``int64[Q, count]`` (``-1`` pads) from the compressed index."""
        import faiss

        ivf = faiss.extract_index_ivf(self._index)
        ivf.nprobe = nprobe or max(1, self.plan.nprobe)
        _, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), count)
        return np.asarray(ids, np.int64)

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``float32[Q, D]`` → ``(scores float32[Q, k'], ids int64[Q, k'])``, exact scores, best first."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, len(self))
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        candidates = self.candidates(queries, max(k, self.plan.candidates), nprobe)
        return rerank(queries, candidates, k, self.fetch, self.metric)

    def save(self, path: Path) -> None:
        """Write atomically (temporary file + rename)."""
        import faiss

        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)

    def memory_bytes(self) -> int:
        """Bytes of codes, ids and centroids (resident in RAM unless memory-mapped)."""
        import faiss

        ivf = faiss.extract_index_ivf(self._index)
        return int(len(self) * (ivf.code_size + 8) + ivf.nlist * ivf.d * 4 + self.dim * ivf.d * 4)

    def __len__(self) -> int:
        return int(self._index.ntotal)


def rerank(queries: np.ndarray, candidates: np.ndarray, k: int, fetch: Fetch, metric: Metric) -> tuple[
    np.ndarray, np.ndarray
]:  # fmt: skip
    """Exact top-``k`` among ``candidates`` (``int64[Q, C]``, ``-1`` pads) for ``queries`` (``float32[Q, D]``).

    The union of all queries' candidates is fetched once; candidates no longer stored are dropped. Rows with
    fewer than ``k`` candidates are padded with id ``-1`` and score ``-inf``.
    """
    wanted = np.unique(candidates[candidates >= 0])
    known, vectors = fetch(wanted) if len(wanted) else (wanted, np.zeros((0, queries.shape[1]), np.float32))
    order = np.argsort(known)
    known, vectors = known[order], vectors[order]
    scores_out = np.full((len(queries), k), -np.inf, np.float32)
    ids_out = np.full((len(queries), k), -1, np.int64)
    for row, (query, cand) in enumerate(zip(queries, candidates, strict=True)):
        cand = cand[np.isin(cand, known)]
        rows = vectors[np.searchsorted(known, cand)]
        if metric is Metric.INNER_PRODUCT:
            scores = rows @ query
        else:
            scores = -((rows - query) ** 2).sum(axis=1)
        order = np.lexsort((cand, -scores))[:k]  # ties broken by lower id, so results are deterministic
        scores_out[row, : len(order)] = scores[order]
        ids_out[row, : len(order)] = cand[order]
    return scores_out, ids_out

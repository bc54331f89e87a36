"""The default vector store: one FAISS file in the collection directory, its structure chosen by size.

Small collections get the exact :class:`~mmir.index.vectors.FaissIndex`; large ones an
:class:`~mmir.index.ivf.IvfIndex` re-ranked from the catalog. A saved IVF index is opened memory-mapped
(its inverted lists stay in the page cache, shared, not copied into this process); the first write
reloads it into memory, since FAISS maps it read-only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmir.errors import CollectionError
from mmir.index.builder import VectorSource, build_index
from mmir.index.ivf import Fetch, IvfIndex
from mmir.index.stores import DEFAULT_STORE, StoreInfo
from mmir.index.tuning import IndexKind, IndexPlan, needs_rebuild
from mmir.index.vectors import FaissIndex, Metric


class FaissStore:
    """Vectors in ``path`` (a FAISS file), exact or IVF as :mod:`mmir.index.tuning` decides.

    Args:
        path: The index file.
        metric: How vectors are compared.
        dim: Vector dimension (for an empty index).
        plan: The plan recorded with the saved file (from the manifest).
        fetch: Exact vectors of candidate ids (re-ranking for IVF).
    """

    def __init__(self, path: Path, metric: Metric, dim: int, plan: IndexPlan, fetch: Fetch) -> None:
        self.path = Path(path)
        self.metric = metric
        self._fetch = fetch
        self._plan = plan
        self._index: FaissIndex | IvfIndex = FaissIndex(dim, metric)

    @property
    def dim(self) -> int:
        """Vector dimension ``D``."""
        return self._index.dim

    @property
    def plan(self) -> IndexPlan:
        """The index structure in use and its tuning."""
        return self._plan

    def override_plan(self, plan: IndexPlan) -> None:
        """Search with other parameters (``nprobe``, ``candidates``) of the same structure (benchmarks, experiments)."""
        if plan.kind is not self._plan.kind or plan.nlist != self._plan.nlist:
            raise CollectionError("override_plan changes search parameters only, not the index structure")
        self._plan = plan
        if isinstance(self._index, IvfIndex):
            self._index = self._index.with_plan(plan)

    def load(self, mmap: bool = True) -> bool:
        """Read the saved file of the recorded plan; False (leaving an empty index) if it is missing or another kind."""
        if not self.path.exists():
            return False
        try:
            if self._plan.kind is IndexKind.IVF:
                self._index = IvfIndex.load(self.path, self.metric, self._plan, self._fetch, mmap=mmap)
            else:
                self._index = FaissIndex.load(self.path, self.metric)
        except CollectionError:
            return False  # unreadable or of another kind than recorded: the caller rebuilds from the catalog
        return True

    def _writable(self) -> FaissIndex | IvfIndex:
        if isinstance(self._index, IvfIndex) and self._index.mapped:
            self.load(mmap=False)
        return self._index

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``float32[N, D]`` vectors under ``int64[N]`` ids."""
        if len(ids):
            self._writable().add(ids, vectors)

    def remove(self, ids: np.ndarray) -> None:
        """Remove vectors by id (unknown ids are ignored)."""
        if len(ids):
            self._writable().remove(ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``float32[Q, D]`` → ``(scores float32[Q, k'], ids int64[Q, k'])``, best first."""
        return self._index.search(queries, k)

    def rebuild(self, source: VectorSource) -> None:
        """Choose, train and fill a new index from ``source`` (bounded memory; no CNN pass)."""
        self._index, self._plan = build_index(source, self.metric)

    def maintain(self, source: VectorSource) -> bool:
        """Rebuild when the collection crossed the exact threshold or outgrew its training."""
        if needs_rebuild(self._plan, source.count()):
            self.rebuild(source)
            return True
        return False

    def save(self) -> None:
        """Write the index file atomically (nothing to do for an unchanged memory-mapped index)."""
        if not (isinstance(self._index, IvfIndex) and self._index.mapped):
            self._index.save(self.path)

    def describe(self) -> StoreInfo:
        """Type, memory, expected recall, last tuning."""
        mapped = isinstance(self._index, IvfIndex) and self._index.mapped
        return StoreInfo(
            store=DEFAULT_STORE, index_type=self._plan.description + (" memory-mapped" if mapped else ""),
            memory_bytes=self._index.memory_bytes(), expected_recall=self._plan.expected_recall,
            last_tuning=self._plan.tuned_at,
        )  # fmt: skip

    def ids(self) -> np.ndarray:
        """All stored ids, ``int64[N]`` (exact index only; for tests and checks)."""
        if isinstance(self._index, FaissIndex):
            return self._index.ids()
        raise CollectionError("listing ids is only supported by the exact index")

    def close(self) -> None:
        """Nothing to release beyond the index object itself."""

    def __len__(self) -> int:
        return len(self._index)

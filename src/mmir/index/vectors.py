"""The vector index: a FAISS index whose ids are the catalog's segment ids.

Scores are higher-is-better at this boundary: inner product as is, Euclidean distance negated.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mmir.errors import CollectionError


class Metric(str, enum.Enum):
    """How vectors are compared."""

    INNER_PRODUCT = "ip"
    L2 = "l2"


class VectorIndex(Protocol):
    """What the rest of mmir needs from a vector index."""

    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``float32[N, D]`` vectors under ``int64[N]`` ids."""
        ...

    def remove(self, ids: np.ndarray) -> None:
        """Remove vectors by id (unknown ids are ignored)."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``float32[Q, D]`` → ``(scores float32[Q, k], ids int64[Q, k])``, best first, id ``-1`` pads."""
        ...

    def save(self, path: Path) -> None:
        """Write the index atomically."""
        ...

    def __len__(self) -> int: ...


class FaissIndex:
    """The exact index: a flat FAISS index wrapped in ``IndexIDMap2`` so that ids are catalog segment ids.

    Large collections get :class:`mmir.index.ivf.IvfIndex` instead (chosen in :mod:`mmir.index.tuning`).

    Args:
        dim: Vector dimension ``D``.
        metric: Inner product (cosine on L2-normalised vectors) or Euclidean.
    """

    def __init__(self, dim: int, metric: Metric = Metric.INNER_PRODUCT) -> None:
        import faiss

        self.dim = dim
        self.metric = metric
        faiss_metric = faiss.METRIC_INNER_PRODUCT if metric is Metric.INNER_PRODUCT else faiss.METRIC_L2
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlat(dim, faiss_metric))

    @classmethod
    def load(cls, path: Path, metric: Metric) -> FaissIndex:
        """Read an index written by :meth:`save`."""
        import faiss

        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise CollectionError(f"{path}: unreadable vector index ({exc})") from exc
        if not isinstance(index, faiss.IndexIDMap2):
            raise CollectionError(f"{path}: not an exact (IDMap2) vector index")
        self = cls.__new__(cls)
        self.dim = index.d
        self.metric = metric
        self._index = index
        return self

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``float32[N, D]`` vectors under ``int64[N]`` ids."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dim:
            raise CollectionError(f"vector dimension {vectors.shape[1]} does not match the index ({self.dim})")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Remove vectors by id."""
        if len(ids):
            self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``float32[Q, D]`` → ``(scores float32[Q, k'], ids int64[Q, k'])`` with ``k' = min(k, len)``."""
        k = min(k, len(self))
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        if self.metric is Metric.L2:
            scores = -scores
        return scores, ids

    def memory_bytes(self) -> int:
        """Bytes held in RAM: the raw vectors and their ids."""
        return len(self) * (self.dim * 4 + 8)

    def reconstruct(self, segment_id: int) -> np.ndarray:
        """The stored vector ``float32[D]`` of one id."""
        return np.asarray(self._index.reconstruct(int(segment_id)), np.float32)

    def ids(self) -> np.ndarray:
        """All ids in the index, ``int64[N]``."""
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def save(self, path: Path) -> None:
        """Write atomically (temporary file + rename) so a crash never leaves a half-written index."""
        import faiss

        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)

    def __len__(self) -> int:
        return int(self._index.ntotal)

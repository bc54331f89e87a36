"""Keeps the catalog and the vector index in step: the only place that writes both.

The catalog is the source of truth. Every batch is committed to SQLite in one transaction; the FAISS
index is saved now and then with the catalog generation it matches. After a crash (or kill -9) the
saved index may lag behind: it is rebuilt from the catalog's stored descriptors, with no CNN pass.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from mmir.errors import CollectionError
from mmir.index.catalog import Catalog, SegmentEncoding
from mmir.index.manifest import Manifest
from mmir.index.vectors import FaissIndex, Metric
from mmir.types import MediaKind

Projection = Callable[[np.ndarray], np.ndarray]


class SegmentStore:
    """A collection's catalog + vector index.

    Args:
        directory: The collection directory (holds ``catalog.sqlite``, ``vectors.faiss``, ``manifest.json``).
        manifest: The collection's manifest.
        projection: Maps raw descriptors ``float32[N, D]`` to index vectors (e.g. PCA-whitening);
            identity when ``None``.
    """

    CATALOG = "catalog.sqlite"
    VECTORS = "vectors.faiss"
    MANIFEST = "manifest.json"

    def __init__(self, directory: Path, manifest: Manifest, projection: Projection | None = None) -> None:
        self.directory = Path(directory)
        self.manifest = manifest
        self.catalog = Catalog(self.directory / self.CATALOG)
        self._projection = projection
        self._vectors: FaissIndex | None = None
        self._lock: IO[str] | None = None

    def project(self, descriptors: np.ndarray) -> np.ndarray:
        """Raw descriptors ``float32[N, D]`` → index vectors ``float32[N, D']``."""
        vectors = np.asarray(descriptors, np.float32)
        return self._projection(vectors) if self._projection else vectors

    @property
    def vectors(self) -> FaissIndex:
        """The vector index, loaded or rebuilt so that it matches the catalog."""
        if self._vectors is None:
            path = self.directory / self.VECTORS
            if path.exists() and self.manifest.vectors_generation == self.catalog.generation:
                self._vectors = FaissIndex.load(path, Metric(self.manifest.metric))
            else:
                self._vectors = self._rebuild()
        return self._vectors

    def _rebuild(self) -> FaissIndex:
        ids, descriptors = self.catalog.all_descriptors()
        vectors = self.project(descriptors) if len(ids) else descriptors
        dim = vectors.shape[1] if len(ids) else self._projected_dim()
        index = FaissIndex(dim, Metric(self.manifest.metric), self.manifest.factory)
        index.add(ids, vectors)
        return index

    def _projected_dim(self) -> int:
        return int(self.project(np.zeros((1, self.manifest.dim), np.float32)).shape[1])

    def rebuild_vectors(self, projection: Projection | None) -> None:
        """Re-derive the vector index from stored descriptors with a new projection (no CNN pass)."""
        self._projection = projection
        self._vectors = self._rebuild()
        self.flush()

    def lock_for_writing(self) -> None:
        """Take the collection's writer lock (one indexing process at a time)."""
        handle = open(self.directory / "lock", "w")  # noqa: SIM115  (held until close())
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise CollectionError(f"{self.directory}: another mmir process is writing this collection") from exc
        self._lock = handle

    def put(
        self, path: str, kind: MediaKind, size: int, mtime: float, sha1: str, segments: Sequence[SegmentEncoding]
    ) -> int:
        """Store a file's segments (replacing older ones) in one committed transaction; returns the media id."""
        vectors = self.vectors  # load (or rebuild) before the catalog changes, so nothing is added twice
        with self.catalog.transaction():
            media_id, new_ids, removed = self.catalog.put_media(path, kind, size, mtime, sha1, segments)
        vectors.remove(np.asarray(removed, np.int64))
        if segments:
            descriptors = np.stack([seg.descriptor for seg in segments])
            vectors.add(np.asarray(new_ids, np.int64), self.project(descriptors))
        return media_id

    def touch(self, media_id: int, size: int, mtime: float) -> None:
        """Record new size/mtime of a file whose content did not change."""
        with self.catalog.transaction():
            self.catalog.touch(media_id, size, mtime)

    def remove(self, media_ids: Sequence[int]) -> None:
        """Forget files and their segments."""
        if not media_ids:
            return
        vectors = self.vectors
        with self.catalog.transaction():
            removed = [seg for media_id in media_ids for seg in self.catalog.remove_media(media_id)]
        vectors.remove(np.asarray(removed, np.int64))

    def flush(self) -> None:
        """Save the vector index and record the catalog generation it matches."""
        if self._vectors is None:
            return
        self._vectors.save(self.directory / self.VECTORS)
        self.manifest = self.manifest.with_changes(vectors_generation=self.catalog.generation)
        self.manifest.save(self.directory / self.MANIFEST)

    def search(self, descriptors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw query descriptors ``float32[Q, D]`` → ``(scores float32[Q, k], segment ids int64[Q, k])``."""
        return self.vectors.search(self.project(descriptors), k)

    def close(self) -> None:
        """Release the writer lock and close the catalog."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self.catalog.close()

    def sizes(self) -> dict[str, int]:
        """Bytes on disk of the collection's files."""
        return {
            name: os.path.getsize(self.directory / name)
            for name in (self.CATALOG, self.VECTORS, self.MANIFEST)
            if (self.directory / name).exists()
        }

"""The server's view of one collection: shared by request threads, with the slow work kept outside its lock.

SQLite handles and the engine's caches are shared, so catalog and index reads take one short lock. Decoding
and encoding an uploaded image — the slow part of query by example — happen outside it, under a separate
semaphore that bounds how many uploads are decoded at once (each may take up to ``max_pixels * 3`` bytes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from mmir.api import Collection
from mmir.media import ImageLimits, decode_image, display_path
from mmir.server.hits import PathMapper, hit_json
from mmir.server.settings import ServerSettings
from mmir.types import Hit


class CollectionService:
    """One open collection, reopened when another process changed it, plus upload decoding.

    Args:
        settings: The server's settings (collection directory, roots, upload limits).
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._decode_slots = threading.BoundedSemaphore(settings.decode_slots)
        self._collection: Collection | None = None
        self._generation = -1
        self._paths: tuple[int, PathMapper] | None = None

    @contextmanager
    def use(self) -> Iterator[Collection]:
        """The open collection, for a short catalog/index read (one thread at a time)."""
        with self._lock:
            if self._collection is None:
                self._collection = Collection.open(self.settings.collection)
                self._generation = self._collection.store.catalog.generation
            elif self._collection.store.catalog.generation != self._generation:
                self._collection = self._collection.reopened()
                self._generation = self._collection.store.catalog.generation
            yield self._collection

    def ranked_now(self, run: Callable[[Collection], list[Hit]], offset: int = 0) -> list[dict[str, Any]] | None:
        """:meth:`ranked` on the calling thread if that is quick, else ``None`` (call :meth:`ranked` in a worker).

        Quick means: the lock is free and the collection open and unchanged, so no reopening or cache rebuild
        runs here. The event loop then answers a keyword search without two thread hand-offs.
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            collection = self._collection
            if collection is None or collection.store.catalog.generation != self._generation:
                return None
            hits = run(collection)
            paths = self._mapper(collection)
        finally:
            self._lock.release()
        return [hit_json(rank, hit, paths) for rank, hit in enumerate(hits, 1)][offset:]

    def _mapper(self, collection: Collection) -> PathMapper:
        """Configured roots, else the folder holding every indexed file (recomputed when the catalog changes)."""
        if self.settings.roots:
            return PathMapper.for_roots([str(root) for root in self.settings.roots])
        if self._paths is None or self._paths[0] != self._generation:
            paths = [path for _id, path in collection.store.catalog.media_under("/")]
            self._paths = (self._generation, PathMapper.common_root(paths))
        return self._paths[1]

    def ranked(self, run: Callable[[Collection], list[Hit]], offset: int = 0) -> list[dict[str, Any]]:
        """Run a query under the lock; hits from ``offset`` on, as JSON."""
        with self.use() as collection:
            hits = run(collection)
            paths = self._mapper(collection)
        return [hit_json(rank, hit, paths) for rank, hit in enumerate(hits, 1)][offset:]

    def relative(self, path: str) -> str:
        """``path`` as clients see it."""
        with self.use() as collection:
            return self._mapper(collection).relative(path)

    def encode_upload(self, data: bytes, name: str) -> np.ndarray:
        """Raw descriptor ``float32[D]`` of an uploaded image, decoded at reduced size, outside the lock.

        Raises:
            MediaError: the bytes are not a decodable image within the limits (the message names ``name``).
        """
        with self.use() as collection:
            encoder = collection.encoder  # built once under the lock; encoding itself needs no lock
        side = max(encoder.input_side, 1)
        limits = ImageLimits(max_pixels=self.settings.max_pixels, max_bytes=self.settings.max_upload_bytes)
        with self._decode_slots:
            image = decode_image(data, name, limits=limits, min_side=max(side, self.settings.max_decode_side))
            shorter = min(image.size)
            if shorter > self.settings.max_decode_side:  # non-JPEG formats decode at full size: shrink now
                scale = self.settings.max_decode_side / shorter
                image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
            return np.asarray(encoder.encode([image]).descriptors[0], np.float32)

    def search_upload(self, data: bytes, name: str, k: int, offset: int = 0) -> list[dict[str, Any]]:
        """Query by example with uploaded bytes."""
        descriptor = self.encode_upload(data, name)
        why = f"similar to {display_path(Path(name).name)}"
        return self.ranked(lambda c: c.search_descriptor(descriptor, k + offset, why), offset)

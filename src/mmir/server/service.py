"""The server's view of one collection: shared by request threads, with the slow work kept outside its lock.

SQLite handles and the engine's caches are shared, so catalog and index reads take one short lock. The slow parts
happen outside it: decoding and encoding an uploaded image (query by example), under a separate semaphore that
bounds how many uploads are decoded at once, and mapping query text to concepts (the text model may run for up to
:data:`~mmir.concepts.vocabulary.TEXT_MODEL_BUDGET_S` on a query of made-up words), whose result the vocabulary
caches so that scoring under the lock finds the query mapped. After a large decode the freed pixel buffers are
handed back to the system (:func:`release_memory`), so the server's size falls back once the uploads are done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from mmir.api import Collection, Per, QueryMapping, QueryMode, SearchFilter, VectorQuery, acquire_lock
from mmir.media import ImageLimits, decode_image, display_path
from mmir.server.hits import PathMapper, hit_json
from mmir.server.settings import ServerSettings
from mmir.types import Hit

TRIM_INTERVAL_S = 1.0  # malloc_trim walks the heap (a few ms): at most once a second, and when the last decode ends


def _load_libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()


def release_memory() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``; nothing elsewhere).

    A decoded 40-megapixel image is freed after the upload, but glibc keeps the pages in its arenas (one per thread
    that allocated), so 16 parallel uploads left the server at 2.4 GB for good. Trimming returns them.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


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
        if settings.text_model_process:
            from mmir.concepts.text_process import isolate_text_model

            isolate_text_model()  # one child process, started now so the first made-up query does not wait for it
        self._decoding = 0  # uploads being decoded now (the last one out trims the heap)
        self._trimmed = 0.0
        self._count_lock = threading.Lock()

    def close(self) -> None:
        """Release what the server holds (at shutdown): the open collection's files and the text-model child."""
        with self._lock:
            collection, self._collection = self._collection, None
        if collection is not None:
            collection.close()
        if self.settings.text_model_process:
            from mmir.concepts.text_process import release_text_model

            release_text_model()

    @contextmanager
    def use(self) -> Iterator[Collection]:
        """The open collection, for a short catalog/index read (one thread at a time).

        A request whose client went away, or whose time budget ran out, while it waited stops waiting
        (:func:`~mmir.api.acquire_lock` raises :class:`~mmir.api.Cancelled`).
        """
        acquire_lock(self._lock)
        try:
            if self._collection is None:
                self._collection = Collection.open(self.settings.collection)
                self._generation = self._collection.generation
            elif self._collection.generation != self._generation:
                self._collection = self._collection.reopened()
                self._generation = self._collection.generation
            yield self._collection
        finally:
            self._lock.release()

    def ranked_now(
        self, run: Callable[[Collection], list[Hit]], offset: int = 0, ready: Callable[[Collection], bool] | None = None
    ) -> list[dict[str, Any]] | None:  # fmt: skip
        """:meth:`ranked` on the calling thread if that is quick, else ``None`` (call :meth:`ranked` in a worker).

        Quick means: the lock is free, the collection open and unchanged, and ``ready`` (e.g. "the query is mapped
        already") holds, so no reopening, cache rebuild or text model runs here. The event loop then answers a
        keyword search without two thread hand-offs.
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            collection = self._collection
            if collection is None or collection.generation != self._generation:
                return None
            if ready is not None and not ready(collection):
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
            paths = collection.indexed_paths()
            self._paths = (self._generation, PathMapper.common_root(paths))
        return self._paths[1]

    def ranked(self, run: Callable[[Collection], list[Hit]], offset: int = 0) -> list[dict[str, Any]]:
        """Run a query under the lock; hits from ``offset`` on, as JSON."""
        with self.use() as collection:
            hits = run(collection)
            paths = self._mapper(collection)
        return [hit_json(rank, hit, paths) for rank, hit in enumerate(hits, 1)][offset:]

    def map_text(self, text: str, mode: QueryMode = QueryMode.AND) -> QueryMapping:
        """``text`` mapped to concepts **outside** the collection lock (the text model may run here).

        The vocabulary remembers the mapping, so the search that follows under the lock (:meth:`ranked`) maps the
        same text from its cache; another client's keyword query never waits behind this one's text model.
        """
        with self.use() as collection:
            vocabulary = collection.vocabulary  # built once under the lock; mapping needs no lock
        return vocabulary.map_query(text, mode)

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
        acquire_lock(self._decode_slots)  # an upload whose client left while it queued is not decoded for nobody
        self._count(+1)
        try:
            return self._decode_and_encode(encoder, data, name, limits, max(side, self.settings.max_decode_side))
        finally:
            self._count(-1)  # the pixels were freed when the call returned
            self._decode_slots.release()

    def _decode_and_encode(
        self, encoder: Any, data: bytes, name: str, limits: ImageLimits, min_side: int
    ) -> np.ndarray:  # fmt: skip
        image = decode_image(data, name, limits=limits, min_side=min_side)
        shorter = min(image.size)
        if shorter > self.settings.max_decode_side:  # non-JPEG formats decode at full size: shrink now
            scale = self.settings.max_decode_side / shorter
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        return np.asarray(encoder.encode([image]).descriptors[0], np.float32)

    def _count(self, change: int) -> None:
        """Track decodes in flight; trim the heap when the last ends, or at most every :data:`TRIM_INTERVAL_S`."""
        with self._count_lock:
            self._decoding += change
            now = time.monotonic()
            due = change < 0 and (self._decoding == 0 or now - self._trimmed > TRIM_INTERVAL_S)
            if due:
                self._trimmed = now
        if due:
            release_memory()

    def search_upload(
        self, data: bytes, name: str, k: int, offset: int = 0, per: Per = Per.FILE, flt: SearchFilter | None = None
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Query by example with uploaded bytes: ``k`` distinct files (``per=file``) or shots (``per=shot``), of
        those ``flt`` allows."""
        descriptor = self.encode_upload(data, name)
        query = VectorQuery(descriptor, f"similar to {display_path(Path(name).name)}")
        return self.ranked(lambda c: list(c.search(query, k + offset, per, filter=flt)), offset)

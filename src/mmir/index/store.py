"""Keeps the catalog and the vector index in step: the only place that writes both.

The catalog is the source of truth. Every batch is committed to SQLite in one transaction; the FAISS
index is saved now and then, and the ledger then records the catalog generation it matches (artifact
``index:vectors``, :func:`mmir.index.ledger.artifact_current`; collections written before kept it in the
manifest's ``vectors_generation``, read only while the ledger has no record). After a crash (or kill -9) the
saved index may lag behind: it is rebuilt from the catalog's stored descriptors, with no CNN pass.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from mmir.errors import CollectionError
from mmir.index import ledger
from mmir.index.catalog import Catalog, SegmentEncoding
from mmir.index.manifest import Manifest
from mmir.index.metadata_text import write_texts
from mmir.index.stores import DamagedStoreError, StoreInfo, VectorStore
from mmir.index.tuning import IndexPlan
from mmir.types import MediaKind

if TYPE_CHECKING:
    from mmir.media.metadata import MetadataText

Projection = Callable[[np.ndarray], np.ndarray]


class CatalogVectors:
    """The collection's index vectors read from the catalog: raw descriptors, projected (no CNN pass).

    Args:
        catalog: The catalog holding the raw descriptors.
        project: Raw ``float32[N, D]`` → index vectors ``float32[N, D']``.
        dim: ``D'``.
    """

    def __init__(self, catalog: Catalog, project: Projection, dim: int) -> None:
        self.catalog = catalog
        self.project = project
        self.dim = dim

    def count(self) -> int:
        """Number of segments."""
        return self.catalog.counts()[1]

    def sample(self, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A random subset of ``size`` segments: ``(ids int64[S], float32[S, D'])``."""
        ids = self.catalog.segment_ids()
        chosen = np.random.default_rng(seed).choice(ids, size=min(size, len(ids)), replace=False)
        return self.fetch(chosen)

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All segments, ``size`` at a time: ``(ids int64[B], float32[B, D'])``."""
        for ids, descriptors in self.catalog.iter_descriptors(size):
            yield ids, self.project(descriptors)

    def fetch(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index vectors of ``ids`` that are still catalogued (others left out)."""
        found, descriptors = self.catalog.descriptors_by_ids(ids)
        if not len(found):
            return found, np.zeros((0, self.dim), np.float32)
        return found, self.project(descriptors)


@dataclass(frozen=True)
class FileToStore:
    """One file for :meth:`SegmentStore.put_many`: where it is, what it was when read, and its segments.

    ``text``: its searchable metadata text and the sidecar signature it was read with, when already extracted.
    """

    path: str
    kind: MediaKind
    size: int
    mtime: float
    sha1: str
    segments: tuple[SegmentEncoding, ...]
    text: tuple[str, MetadataText] | None = None


class SegmentStore:
    """A collection's catalog + vector store.

    Args:
        directory: The collection directory (holds ``catalog.sqlite``, ``vectors.faiss``, ``manifest.json``).
        manifest: The collection's manifest (its ``store`` says where the vectors live).
        projection: Maps raw descriptors ``float32[N, D]`` to index vectors (e.g. PCA-whitening);
            identity when ``None``.
    """

    CATALOG = "catalog.sqlite"
    VECTORS = "vectors.faiss"
    MANIFEST = "manifest.json"
    CONCEPTS = "concepts"  # directory of the keyword-search concept columns (mmir.index.concept_columns)

    def __init__(self, directory: Path, manifest: Manifest, projection: Projection | None = None) -> None:
        self.directory = Path(directory)
        self.manifest = manifest
        self.catalog = Catalog(self.directory / self.CATALOG)
        self._projection = projection
        self._vectors: VectorStore | None = None
        self._lock: IO[str] | None = None

    def project(self, descriptors: np.ndarray) -> np.ndarray:
        """Raw descriptors ``float32[N, D]`` → index vectors ``float32[N, D']``."""
        vectors = np.asarray(descriptors, np.float32)
        return self._projection(vectors) if self._projection else vectors

    def source(self) -> CatalogVectors:
        """The catalog's descriptors as index vectors, for (re)building and re-ranking."""
        return CatalogVectors(self.catalog, self.project, self._projected_dim())

    @property
    def vectors(self) -> VectorStore:
        """The vector store, opened or rebuilt so that it matches the catalog."""
        if self._vectors is None:
            self._vectors = self._open_vectors()
        return self._vectors

    def _open_vectors(self) -> VectorStore:
        from mmir.index.open_store import open_vector_store

        source = self.source()
        plan = self.manifest.index_plan or IndexPlan()
        store = open_vector_store(self.manifest, self.directory / self.VECTORS, plan, source)
        current = self.vectors_current()
        try:
            usable = current and store.load()
        except DamagedStoreError as exc:
            if self._lock is None:  # a reader says so; the writer (`mmir index`) rebuilds it below
                raise
            logging.getLogger(__name__).warning("note: %s: vector store damaged (%s); rebuilt from the catalog",
                                                exc.store, exc.damage)  # fmt: skip
            usable = False
        if not usable:
            store.rebuild(source)  # stale, missing or damaged: re-derived from stored descriptors, no CNN pass
        return store

    def vectors_current(self) -> bool:
        """Whether the saved vectors match the catalog now (the ledger says; else an older manifest's record)."""
        saved = self.manifest.vectors_generation  # written by an older mmir; -1 since the ledger holds it
        legacy = ledger.generation_setting(saved) if saved >= 0 else None
        setting = ledger.generation_setting(self.catalog.generation)
        return ledger.artifact_current(self.catalog, ledger.VECTORS, setting, legacy) is not None

    def _vectors_stale(self) -> None:
        """Record that the saved vectors must be re-derived (projection or store changed) before their next use."""
        ledger.record_producer(self.catalog, ledger.Producer(ledger.VECTORS, ledger.STALE))
        self.manifest = self.manifest.with_changes(vectors_generation=-1)

    def _projected_dim(self) -> int:
        return int(self.project(np.zeros((1, self.manifest.dim), np.float32)).shape[1])

    def rebuild_vectors(self, projection: Projection | None) -> None:
        """Re-derive the vector index from stored descriptors with a new projection (no CNN pass)."""
        self._projection = projection
        if self._vectors is not None:
            self._vectors.close()
        self._vectors = None
        self._vectors_stale()  # forces the rebuild below
        _ = self.vectors
        self.flush()

    def use_store(self, store: str) -> None:
        """Keep the vectors in ``store`` from now on (recorded in the manifest); a change re-derives them there.

        Raises:
            CollectionError: if ``store`` is not a valid address.
        """
        from mmir.index.open_store import milvus_collection_name
        from mmir.index.stores import StoreKind, parse_store

        address = parse_store(store)
        if address.uri == self.manifest.store:
            return
        name = milvus_collection_name(self.directory) if address.kind is not StoreKind.FAISS else ""
        if self._vectors is not None:
            self._vectors.close()
            self._vectors = None
        self._vectors_stale()  # the new store is filled from the catalog's descriptors on first use
        self.manifest = self.manifest.with_changes(store=address.uri, store_collection=name)
        self.manifest.save(self.directory / self.MANIFEST)

    def lock_for_writing(self) -> None:
        """Take the collection's writer lock (one indexing process at a time); held already: nothing to do."""
        if self._lock is not None:  # a second index() on the same handle must not lock itself out
            return
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
        return self.put_many([FileToStore(path, kind, size, mtime, sha1, tuple(segments))])[0]

    def put_many(self, files: Sequence[FileToStore]) -> list[int]:
        """Store several files' segments (replacing older ones) in one committed transaction; their media ids.

        One commit per batch rather than per file: the commits cost about as much as the inserts. A run killed
        before the commit loses only these files, which the next run indexes again.
        """
        vectors = self.vectors  # load (or rebuild) before the catalog changes, so nothing is added twice
        with self.catalog.transaction():
            stored = [self.catalog.put_media(f.path, f.kind, f.size, f.mtime, f.sha1, f.segments) for f in files]
            pairs = zip(files, stored, strict=True)
            texts = [(media_id, f.size, f.mtime, *f.text) for f, (media_id, _, _) in pairs if f.text]
            write_texts(self.catalog.connection, texts)
        vectors.remove(np.asarray([seg for _, _, removed in stored for seg in removed], np.int64))
        new_ids = [seg for _, ids, _ in stored for seg in ids]
        if new_ids:
            descriptors = np.stack([seg.descriptor for f in files for seg in f.segments])
            vectors.add(np.asarray(new_ids, np.int64), self.project(descriptors))
        return [media_id for media_id, _, _ in stored]

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
        """Re-choose the index if the collection's size calls for it, save it, and record the generation it matches."""
        if self._vectors is None and self._lock is None:
            return
        vectors = self.vectors  # the writer checks the store even after a run that changed nothing (damage repaired)
        vectors.maintain(self.source())
        vectors.save()
        # The plan first, the record last: a kill -9 between them leaves a record no newer than the saved files.
        self.manifest = self.manifest.with_changes(vectors_generation=-1, index_plan=vectors.plan)
        self.manifest.save(self.directory / self.MANIFEST)
        self._record_vectors(self.catalog.generation)

    def _record_vectors(self, generation: int) -> None:
        setting = ledger.generation_setting(generation)
        ledger.record_producer(self.catalog, ledger.Producer(ledger.VECTORS, setting, {"store": self.manifest.store}))

    def vectors_still_match(self, flushed_at: int) -> None:
        """Record that the vectors saved at catalog generation ``flushed_at`` match the catalog now.

        For writes since then that leave segments alone (ledger rows, text): without this the manifest would
        lag the catalog and every reader would rebuild the vector index from stored descriptors.
        """
        generation = self.catalog.generation
        if flushed_at != generation and ledger.artifact_current(
            self.catalog, ledger.VECTORS, ledger.generation_setting(flushed_at)
        ):
            self._record_vectors(generation)

    def describe_vectors(self) -> StoreInfo:
        """Index type, memory, expected recall and last tuning of the vector store."""
        return self.vectors.describe()

    def search(self, descriptors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw query descriptors ``float32[Q, D]`` → ``(scores float32[Q, k], segment ids int64[Q, k])``."""
        return self.vectors.search(self.project(descriptors), k)

    def close(self) -> None:
        """Release the writer lock, the vector store and the catalog."""
        if self._vectors is not None:
            self._vectors.close()
            self._vectors = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self.catalog.close()

    def sizes(self) -> dict[str, int]:
        """Bytes on disk of the collection's files (the keyword-search concept columns count as ``concepts``)."""
        sizes = {
            name: os.path.getsize(self.directory / name)
            for name in (self.CATALOG, self.VECTORS, self.MANIFEST)
            if (self.directory / name).exists()
        }
        columns = self.directory / self.CONCEPTS
        if columns.is_dir():
            sizes[self.CONCEPTS] = sum(_size(path) for path in columns.iterdir())
        return sizes


def _size(path: Path) -> int:
    """Bytes of a file, 0 if it went away meanwhile (a search renaming its partial files into place)."""
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0

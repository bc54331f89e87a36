"""One persisted vector index per descriptor channel, kept in step with the catalog without decoding anything.

Every channel (``cnn`` and each engineered one of :mod:`mmir.index.channels`) has its own exact FAISS index
(:class:`mmir.index.vectors.FaissIndex`, ids = media ids) saved under ``channel-indexes/`` in the collection
directory; which catalog state it matches is the ledger's artifact ``index:channel:NAME``
(:mod:`mmir.index.ledger`), recorded after the files are saved (collections written before kept a small JSON state
beside the index, read while the ledger has no record, then removed):

- **Engineered channels** follow the catalog's channel change log (schema step 6, :data:`CHANGES_SCHEMA`):
  triggers append ``(media id, channel)`` for every row inserted, replaced or deleted (also by ``ON DELETE
  CASCADE`` when a file goes), whoever wrote it. Opening an index applies the changes after its recorded
  sequence number: the changed files are removed and re-added from their stored rows (so add, update and
  delete are all the same step, and re-applying one is harmless). A missing or unreadable index, or one more
  than a quarter out of date, is rebuilt from the stored rows instead. Log entries the saved index already
  holds are pruned.
- **bovw** rows are tf-idf weighted with an idf learned from the stored counts when the index is (re)built and
  saved with it (``.idf.npy``); files added later use that idf until the next rebuild, the usual practice
  for vocabulary statistics.
- **cnn** (each file's first-segment descriptor, projected like the main index) follows the catalog
  generation and the projection: when either changed since it was saved, it is rebuilt from the stored
  descriptors (one read of the ``segments`` table, no CNN pass).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import CollectionError, QueryError
from mmir.index import ledger
from mmir.index.channels import channel_vectors
from mmir.index.vectors import FaissIndex, Metric

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog
    from mmir.index.store import SegmentStore

CHANGES_SCHEMA = """
CREATE TABLE IF NOT EXISTS channel_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL,
    name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS channel_changes_name ON channel_changes(name, seq);
CREATE TRIGGER IF NOT EXISTS channels_inserted AFTER INSERT ON channels BEGIN
    INSERT INTO channel_changes (media_id, name) VALUES (NEW.media_id, NEW.name);
END;
CREATE TRIGGER IF NOT EXISTS channels_deleted AFTER DELETE ON channels BEGIN
    INSERT INTO channel_changes (media_id, name) VALUES (OLD.media_id, OLD.name);
END;
"""
"""Schema step 6: the log of channel rows written or deleted (``INSERT OR REPLACE`` logs through its insert)."""

DIRECTORY = "channel-indexes"  # inside the collection directory
CNN = "cnn"
BOVW = "bovw"
_REBUILD_SHARE = 4  # more changed files than 1/4 of the index (and more than _REBUILD_MIN): rebuild instead
_REBUILD_MIN = 64
_CNN_BATCH = 8192  # files whose descriptors are read at a time when the cnn channel index is rebuilt


@dataclass(frozen=True)
class CnnSource:
    """Where the ``cnn`` channel's vectors come from.

    Attributes:
        project: Raw descriptors ``float32[N, D]`` → index vectors ``float32[N, D']`` (the main index's).
        key: Names the projection (model fingerprint, PCA file); a saved index with another key is rebuilt.
    """

    project: Callable[[np.ndarray], np.ndarray]
    key: str


@dataclass(frozen=True)
class IndexState:
    """What a saved channel index matches: the change-log position (engineered) or generation + key (cnn)."""

    seq: int = 0
    generation: int = -1
    key: str = ""

    def setting(self) -> str:
        """The ledger setting of an index saved at this state."""
        if self.generation >= 0:
            return f"{ledger.generation_setting(self.generation)} of {self.key}"
        return f"change {self.seq}"


@dataclass(frozen=True)
class OpenChannel:
    """A channel's index, ready to search.

    Attributes:
        name: The channel.
        index: Unit rows under media ids (inner product = cosine).
        idf: ``float32[K]`` tf-idf weights of ``bovw`` (``None`` for other channels).
        project: Raw CNN descriptors → index space (``None`` for engineered channels).
    """

    name: str
    index: FaissIndex
    idf: np.ndarray | None = None
    project: Callable[[np.ndarray], np.ndarray] | None = None

    def query(self, raw: np.ndarray) -> np.ndarray:
        """A query's raw channel vector ``float32[K]`` → the index's space, unit length ``float32[1, K']``."""
        from mmir.models.engineered import tfidf

        x = np.asarray(raw, np.float32).reshape(1, -1)
        if self.project is not None:
            x = self.project(x)
        if self.idf is not None:
            return tfidf(x, self.idf)[0]
        return _unit(x)


def projection_key(store: SegmentStore) -> str:
    """Names the CNN channel's projection: model, dimension and PCA file (its size and time: a re-learned PCA
    keeps the file name)."""
    manifest = store.manifest
    key = f"{manifest.fingerprint}|{manifest.dim}|{manifest.pca}"
    if manifest.pca:
        try:
            stat = (store.directory / manifest.pca).stat()
        except OSError:
            return key
        key += f"|{stat.st_size}|{stat.st_mtime_ns}"
    return key


def _recorded(found: ledger.Producer) -> IndexState:
    """The state the ledger records for a channel's saved index.

    Raises:
        ValueError: the record does not describe a state (the index is then rebuilt).
    """
    state = IndexState(**{k: v for k, v in found.detail.items() if k in ("seq", "generation", "key")})  # type: ignore[arg-type]
    if state.setting() != found.setting:
        raise ValueError(f"{found.name}: recorded setting {found.setting!r} does not match its detail")
    return state


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class ChannelIndexes:
    """Opens (syncing, rebuilding and saving as needed) the per-channel indexes of a collection.

    Args:
        directory: Where the indexes are saved (``<collection>/channel-indexes``; created on first save).
        catalog: The collection's catalog (the source of truth).
        cnn: How to build the ``cnn`` channel; ``None`` if it is not searched.
    """

    def __init__(self, directory: Path, catalog: Catalog, cnn: CnnSource | None = None) -> None:
        self.directory = Path(directory)
        self.catalog = catalog
        self.cnn = cnn

    @classmethod
    def of_store(cls, store: SegmentStore) -> ChannelIndexes:
        """The channel indexes of a collection's store (the ``cnn`` channel projected like its main index)."""
        return cls(store.directory / DIRECTORY, store.catalog, CnnSource(store.project, projection_key(store)))

    def open(self, name: str) -> OpenChannel:
        """The index of channel ``name``, up to date with the catalog.

        Raises:
            QueryError: if no file holds the channel.
        """
        if name == CNN:
            return self._open_cnn()
        latest = self._latest_seq(name)
        saved = self._load(name)
        if saved is not None:
            state, opened = saved
            if state.seq >= latest:  # seqs only grow: a smaller latest means its entries were pruned, none new
                return opened
            changed = self._changed_since(name, state.seq, latest)
            if len(changed) <= max(_REBUILD_MIN, len(opened.index) // _REBUILD_SHARE):
                self._apply(opened, changed)
                self._save(opened, IndexState(seq=latest))
                return opened
        return self._rebuild(name, latest)

    def _open_cnn(self) -> OpenChannel:
        if self.cnn is None:
            raise QueryError("the cnn channel needs the collection's projection")
        wanted = IndexState(generation=self.catalog.generation, key=self.cnn.key)
        saved = self._load(CNN)
        if saved is not None and saved[0] == wanted:
            return OpenChannel(CNN, saved[1].index, project=self.cnn.project)
        media = self.catalog.media_ids()
        if not len(media):
            raise QueryError("the collection holds no file yet")
        index: FaissIndex | None = None
        for start in range(0, len(media), _CNN_BATCH):  # bounded reads: the index holds the vectors, not a copy
            ids, descriptors = self.catalog.media_descriptors_by_ids(media[start : start + _CNN_BATCH])
            vectors = _unit(self.cnn.project(descriptors))
            index = index or FaissIndex(vectors.shape[1], Metric.INNER_PRODUCT)
            index.add(ids, vectors)
        assert index is not None
        opened = OpenChannel(CNN, index, project=self.cnn.project)
        self._save(opened, wanted)
        return opened

    def _rebuild(self, name: str, latest: int) -> OpenChannel:
        from mmir.models.engineered import tfidf

        ids, vectors = channel_vectors(self.catalog, name)  # read after `latest`: later changes re-apply harmlessly
        if not len(ids):
            raise QueryError(f"no file holds the {name!r} descriptor (index with --descriptors cnn,{name})")
        idf = None
        if name == BOVW:
            vectors, idf = tfidf(vectors)
        index = FaissIndex(vectors.shape[1], Metric.INNER_PRODUCT)
        index.add(ids, _unit(vectors))
        opened = OpenChannel(name, index, idf)
        self._save(opened, IndexState(seq=latest))
        return opened

    def _apply(self, opened: OpenChannel, changed: np.ndarray) -> None:
        """Remove the changed files and re-add those that still hold the channel (from their stored rows)."""
        from mmir.models.engineered import tfidf

        opened.index.remove(changed)
        ids, vectors = channel_vectors(self.catalog, opened.name, changed)
        if not len(ids):
            return
        if opened.idf is not None:
            vectors = tfidf(vectors, opened.idf)[0]
        opened.index.add(ids, _unit(vectors))

    def _latest_seq(self, name: str) -> int:
        row = self.catalog.connection.execute("SELECT MAX(seq) FROM channel_changes WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _changed_since(self, name: str, after: int, upto: int) -> np.ndarray:
        rows = self.catalog.connection.execute(
            "SELECT DISTINCT media_id FROM channel_changes WHERE name = ? AND seq > ? AND seq <= ?", (name, after, upto)
        )
        return np.asarray([r[0] for r in rows], np.int64)

    def _paths(self, name: str) -> tuple[Path, Path, Path]:
        base = self.directory / name
        return base.with_suffix(".faiss"), base.with_suffix(".json"), base.with_suffix(".idf.npy")

    def _load(self, name: str) -> tuple[IndexState, OpenChannel] | None:
        """The saved index and its state, or ``None`` when missing or unreadable (then it is rebuilt)."""
        index_path, state_path, idf_path = self._paths(name)
        recorded = ledger.producer(self.catalog, ledger.channel_index(name))
        try:
            state = _recorded(recorded) if recorded is not None else IndexState(**json.loads(state_path.read_text()))
            index = FaissIndex.load(index_path, Metric.INNER_PRODUCT)
            idf = np.load(idf_path) if name == BOVW else None
        except (OSError, ValueError, TypeError, CollectionError):  # a derived index: damaged means rebuilt
            return None
        if recorded is None:  # an older collection's state file: the ledger takes it over (the files stay as they are)
            self._record(name, state)
        return state, OpenChannel(name, index, idf)

    def _record(self, name: str, state: IndexState) -> None:
        """Record what channel ``name``'s saved files match; an older collection's state file then goes."""
        if ledger.record_artifact(self.catalog, ledger.channel_index(name), state.setting(), state.__dict__):
            self._paths(name)[1].unlink(missing_ok=True)

    def _save(self, opened: OpenChannel, state: IndexState) -> None:
        """Write index and idf (each atomically), then record the state in the ledger (last, so it never claims a
        newer index than the files hold)."""
        index_path, _, idf_path = self._paths(opened.name)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            opened.index.save(index_path)
            if opened.idf is not None:
                np.save(idf_path.with_name(idf_path.name + ".tmp.npy"), opened.idf)
                os.replace(idf_path.with_name(idf_path.name + ".tmp.npy"), idf_path)
        except OSError:
            return  # a read-only collection: the index is rebuilt in memory next time too
        self._record(opened.name, state)
        if opened.name != CNN:
            self._prune(opened.name, state.seq)

    def _prune(self, name: str, seq: int) -> None:
        """Forget log entries the saved index holds (skipped while another process writes the catalog)."""
        try:
            self.catalog.connection.execute("DELETE FROM channel_changes WHERE name = ? AND seq <= ?", (name, seq))
        except sqlite3.OperationalError:
            return

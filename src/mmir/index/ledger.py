"""The ledger of derived data: which producer ran for each file (and for the collection) with which setting.

Two tables (catalog schema step 7, :data:`SCHEMA`):

- ``ledger(media_id, producer, setting)``: per-file outputs, e.g. ``channel:colour`` → ``v1``. A file's row goes
  with the file (``ON DELETE CASCADE``) and with its content (:func:`forget_files` when it is stored again), so a
  missing row always means "not computed for this content". Indexing asks :func:`missing` which files lack a
  producer the run wants and computes only that (a channel needs a decode pass, no CNN).
- ``producers(name, setting, detail)``: collection-wide producers whose output every file shares: the encoder
  (fingerprint plus precision, so int8 vectors have their own and never join a float collection) and PCA
  (dimension, whitening, how many vectors it was fitted on). ``mmir info`` lists both with their coverage.

Failed files have no media row; they stay in :mod:`mmir.index.failures` (keyed by path), read through here.
Writes are single autocommit statements (or run inside the caller's transaction); they never bump the catalog
generation, since the vector index does not depend on them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    producer TEXT NOT NULL,
    setting TEXT NOT NULL,
    PRIMARY KEY (media_id, producer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ledger_producer ON ledger(producer, setting);
CREATE TABLE IF NOT EXISTS producers (
    name TEXT PRIMARY KEY,
    setting TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    recorded_at REAL NOT NULL
);
INSERT OR IGNORE INTO ledger (media_id, producer, setting)
    SELECT media_id, 'channel:' || name, 'v1' FROM channels;
"""
"""Schema step 7: per-file and collection-wide producer records (channels stored before it are adopted as v1)."""

CHANNEL_VERSION = "v2"  # bump when an engineered channel's extraction changes: every file is then back-filled
# v2 (issue 24): lbp and hog come from scikit-image (interpolated LBP circle, hard HOG orientation bins).
ENCODER = "encoder"
PCA = "pca"
_SQL_BATCH = 500


def channel_producer(name: str) -> str:
    """The per-file producer name of an engineered descriptor channel."""
    return f"channel:{name}"


@dataclass(frozen=True)
class Producer:
    """A collection-wide producer record.

    Attributes:
        name: ``encoder`` or ``pca``.
        setting: What decides its output (``fingerprint`` / ``fingerprint+int8``; ``256-d whitened``).
        detail: Facts for ``info`` (e.g. ``{"fitted_on": 258, "input_side": 224}``).
    """

    name: str
    setting: str
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Coverage:
    """How many indexed files a producer's output covers (``files`` of ``total``)."""

    producer: str
    setting: str
    files: int
    total: int

    def __str__(self) -> str:
        return f"{self.setting} ({self.files}/{self.total} files)"


# -- collection-wide producers ---------------------------------------------------------------------------------


def record_producer(catalog: Catalog, producer: Producer) -> None:
    """Record (or replace) a collection-wide producer."""
    catalog.connection.execute(
        "INSERT OR REPLACE INTO producers (name, setting, detail, recorded_at) VALUES (?, ?, ?, ?)",
        (producer.name, producer.setting, json.dumps(dict(producer.detail)), time.time()),
    )


def producer(catalog: Catalog, name: str) -> Producer | None:
    """The recorded collection-wide producer ``name``, or ``None``."""
    row = catalog.connection.execute("SELECT setting, detail FROM producers WHERE name = ?", (name,)).fetchone()
    return Producer(name, str(row[0]), json.loads(row[1])) if row else None


def forget_producer(catalog: Catalog, name: str) -> None:
    """Drop a collection-wide producer (e.g. PCA removed)."""
    catalog.connection.execute("DELETE FROM producers WHERE name = ?", (name,))


# -- per-file producers ----------------------------------------------------------------------------------------


def record_files(catalog: Catalog, media_ids: Sequence[int], producers: Mapping[str, str]) -> None:
    """Record that ``producers`` (``{name: setting}``) ran for each of ``media_ids``."""
    rows = [(int(media_id), name, setting) for media_id in media_ids for name, setting in producers.items()]
    if rows:
        catalog.connection.executemany(
            "INSERT OR REPLACE INTO ledger (media_id, producer, setting) VALUES (?, ?, ?)", rows
        )


def copy_files(catalog: Catalog, source_media_id: int, media_id: int) -> None:
    """``media_id`` is a copy of ``source_media_id`` (same content): it has what the source has."""
    catalog.connection.execute(
        "INSERT OR REPLACE INTO ledger (media_id, producer, setting) "
        "SELECT ?, producer, setting FROM ledger WHERE media_id = ?",
        (int(media_id), int(source_media_id)),
    )


def forget_files(catalog: Catalog, media_ids: Iterable[int]) -> None:
    """Forget every per-file record of ``media_ids`` (their content changed: nothing derived from it is valid)."""
    ids = [int(i) for i in media_ids]
    for start in range(0, len(ids), _SQL_BATCH):
        part = ids[start : start + _SQL_BATCH]
        catalog.connection.execute(f"DELETE FROM ledger WHERE media_id IN ({','.join('?' * len(part))})", part)


def missing(catalog: Catalog, wanted: Mapping[str, str], kind: str = "image") -> dict[int, frozenset[str]]:
    """``{media id: producers it lacks}`` among files of ``kind`` that lack some of ``wanted`` (``{name: setting}``).

    A row with another setting counts as missing (stale).
    """
    lacking: dict[int, set[str]] = {}
    for name, setting in wanted.items():
        rows = catalog.connection.execute(
            "SELECT id FROM media WHERE kind = ? AND id NOT IN "
            "(SELECT media_id FROM ledger WHERE producer = ? AND setting = ?)",
            (kind, name, setting),
        )
        for (media_id,) in rows:
            lacking.setdefault(int(media_id), set()).add(name)
    return {media_id: frozenset(names) for media_id, names in lacking.items()}


def coverage(catalog: Catalog) -> list[Coverage]:
    """Every producer with its coverage: collection-wide ones first (they cover every file), then per-file ones."""
    total = int(catalog.connection.execute("SELECT COUNT(*) FROM media").fetchone()[0])
    found = [
        Coverage(str(name), str(setting), total, total)
        for name, setting in catalog.connection.execute("SELECT name, setting FROM producers ORDER BY name")
    ]
    rows = catalog.connection.execute(
        "SELECT producer, setting, COUNT(*) FROM ledger GROUP BY producer, setting ORDER BY producer, setting"
    )
    found += [Coverage(str(name), str(setting), int(files), total) for name, setting, files in rows]
    return found


# -- the encoder: fingerprint plus precision ---------------------------------------------------------------------

INT8 = "int8"


def encoder_setting(fingerprint: str, backend: str) -> str:
    """The encoder producer's setting: the fingerprint, marked ``+int8`` for int8-quantised vectors.

    int8 vectors are 0.82-0.90 cosine to the float ones of the same model: another fingerprint, never mixed.
    """
    return f"{fingerprint}+{INT8}" if backend == "onnx-int8" else fingerprint


def recorded_precision(catalog: Catalog) -> str | None:
    """``int8`` or ``float`` as recorded by the encoder producer; ``None`` when no encoder ran yet.

    A collection indexed before the ledger existed (files but no record) holds float vectors: int8 was never the
    default.
    """
    found = producer(catalog, ENCODER)
    if found is not None:
        return INT8 if found.setting.endswith(f"+{INT8}") else "float"
    has_files = catalog.connection.execute("SELECT 1 FROM media LIMIT 1").fetchone() is not None
    return "float" if has_files else None


def check_encoder(catalog: Catalog, where: str, fingerprint: str, backend: str) -> None:
    """Refuse to index with ``backend`` into a collection whose vectors have the other precision.

    Raises:
        CollectionError: an ``onnx-int8`` run on a float collection, or a float run on an int8 one.
    """
    from mmir.errors import CollectionError

    precision = recorded_precision(catalog)
    wanted = INT8 if backend == "onnx-int8" else "float"
    if precision is None or backend == "auto" or precision == wanted:
        return
    if wanted == INT8:
        raise CollectionError(
            f"{where} holds float vectors ({fingerprint}); --backend onnx-int8 makes int8-quantised ones (cosine "
            "0.82-0.90 to float) that would not compare with them: index into another --collection, or use "
            "--backend onnx or torch"
        )
    raise CollectionError(
        f"{where} holds int8-quantised vectors ({fingerprint}+{INT8}); --backend {backend} makes float ones that "
        "would not compare with them: use --backend onnx-int8 (or auto), or another --collection"
    )


def record_encoder(catalog: Catalog, fingerprint: str, backend: str, input_side: int) -> None:
    """Record the encoder that ran (its setting and the decode side channels are computed at)."""
    setting = encoder_setting(fingerprint, backend)
    found = producer(catalog, ENCODER)
    if found is None or found.setting != setting or found.detail.get("input_side") != input_side:
        record_producer(catalog, Producer(ENCODER, setting, {"input_side": int(input_side)}))


def with_other_setting(catalog: Catalog, name: str, setting: str) -> set[int]:
    """Files whose ``name`` producer ran with another setting than ``setting`` (files without a row are left out)."""
    rows = catalog.connection.execute(
        "SELECT media_id FROM ledger WHERE producer = ? AND setting != ?", (name, setting)
    )
    return {int(r[0]) for r in rows}


def stored_channels(catalog: Catalog) -> list[str]:
    """Names of the engineered channels some file of the collection holds (``channel:NAME`` producers), sorted."""
    prefix = channel_producer("")
    rows = catalog.connection.execute(
        "SELECT DISTINCT producer FROM ledger WHERE producer LIKE ? ORDER BY producer", (prefix + "%",)
    )
    return [str(r[0])[len(prefix) :] for r in rows]

"""The ledger of derived data: what every derived output was computed from, and the one place that says if it is stale.

Two tables (catalog schema step 7, :data:`SCHEMA`):

- ``ledger(media_id, producer, setting)``: per-file outputs, e.g. ``channel:colour`` → ``v2``, ``thumbnails``,
  ``shots`` (the shot detector), ``ocr``/``speech`` (engine version) and ``metadata-text`` (the file's size, mtime
  and sidecar set it was read with: :func:`text_signature`). A file's row goes with the file (``ON DELETE
  CASCADE``) and with its content (:func:`forget_files` when it is stored again), so a missing row always means
  "not computed for this content". Indexing asks :func:`missing` which files lack a producer the run wants and
  computes only that (a channel needs a decode pass, no CNN).
- ``producers(name, setting, detail)``: collection-wide producers whose output every file shares: the encoder
  (fingerprint plus precision, so int8 vectors have their own and never join a float collection) and PCA
  (dimension, whitening, how many vectors it was fitted on); and the derived **artifacts** kept beside the catalog
  (names ``index:...``): the vector index, the keyword-search concept columns and each channel index, whose
  setting is the catalog state they match (:func:`generation_setting`, or a channel change-log position).
  :func:`artifact_current` is the one test every reader of an artifact makes ("is what is saved on disk current?");
  :func:`record_artifact` is what its writer calls once the files are in place (files first, record last, so a
  kill -9 in between leaves a record that claims nothing newer than the files).

``mmir info`` lists every producer with its coverage (:func:`coverage`, :func:`not_run`) and the artifacts.

Failed files have no media row (a row would make them count, list and search as indexed files), so they stay in
:mod:`mmir.index.failures`, keyed by path and judged by size/mtime/limits; they are read and written only through
this module (:func:`failure_of`, :func:`record_failure`, :func:`forget_failure`, :func:`failures_under`).
Writes are single autocommit statements (or run inside the caller's transaction); they never bump the catalog
generation, since the vector index does not depend on them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mmir.index import failures

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog
    from mmir.index.failures import Failure

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
METADATA_TEXT = "metadata-text"  # per file; setting: the size, mtime and sidecars its text was read with
SHOTS = "shots"  # per video; setting: the shot detector (its frames, keyframes and shot rows)
THUMBNAILS = "thumbnails"  # per file; setting: the pictures' version (mmir.indexing.thumbnails.SETTING)
OCR = "ocr"  # per file; setting: the OCR engine's version (mmir.index.visible_text)
SPEECH = "speech"
# Producers `mmir info` names even before they ran (their coverage is then 0); per-file ones with the media kind
# they apply to (None: every file).
KNOWN_FILE_PRODUCERS: dict[str, str | None] = {
    METADATA_TEXT: None, SHOTS: "video", THUMBNAILS: None, OCR: None, SPEECH: "video",
}  # fmt: skip
KNOWN_COLLECTION_PRODUCERS = (ENCODER, PCA)
ARTIFACT = "index:"  # prefix of the collection-wide derived artifacts' names in ``producers``
VECTORS = "index:vectors"  # the vector index (FAISS files or a Milvus collection)
CONCEPT_COLUMNS = "index:concepts"  # the keyword-search concept columns (mmir.index.concept_columns)
_PER_CONTENT_EXCLUDED = (METADATA_TEXT,)  # depends on the file's own size/mtime/sidecars, not on its content
PER_FILE_SETTING = "read at each file's size, mtime and sidecars"  # how coverage shows metadata-text's settings
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


def channel_index(name: str) -> str:
    """The artifact name of a descriptor channel's saved index (:mod:`mmir.index.channel_indexes`)."""
    return f"{ARTIFACT}channel:{name}"


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
    excluded = ",".join("?" * len(_PER_CONTENT_EXCLUDED))
    catalog.connection.execute(
        "INSERT OR REPLACE INTO ledger (media_id, producer, setting) "
        f"SELECT ?, producer, setting FROM ledger WHERE media_id = ? AND producer NOT IN ({excluded})",
        (int(media_id), int(source_media_id), *_PER_CONTENT_EXCLUDED),
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
    """Every producer that ran, with its coverage: collection-wide ones first (they cover every file), then per-file
    ones (of the files of the kind they apply to: ``shots`` of the videos). Artifacts are not producers of a file's
    output: :func:`artifacts` lists them."""
    db = catalog.connection
    of_kind = _files_of_kind(catalog)
    wide = db.execute("SELECT name, setting FROM producers WHERE name NOT LIKE ? ORDER BY name", (ARTIFACT + "%",))
    found = [Coverage(str(name), str(setting), of_kind(None), of_kind(None)) for name, setting in wide]
    per_file = ",".join("?" * len(_PER_CONTENT_EXCLUDED))  # settings of their own per file: counted as one
    rows = db.execute(
        f"SELECT producer, CASE WHEN producer IN ({per_file}) THEN ? ELSE setting END AS s, "
        "COUNT(*) FROM ledger GROUP BY producer, s ORDER BY producer, s",
        (*_PER_CONTENT_EXCLUDED, PER_FILE_SETTING),
    )
    found += [Coverage(str(name), str(setting), int(files), of_kind(KNOWN_FILE_PRODUCERS.get(str(name))))
              for name, setting, files in rows]  # fmt: skip
    return found


def not_run(catalog: Catalog, ran: Sequence[Coverage] | None = None) -> list[Coverage]:
    """The known producers (:data:`KNOWN_FILE_PRODUCERS`, encoder, PCA) with no record yet: coverage 0.

    Args:
        catalog: The collection's catalog.
        ran: :func:`coverage` of it, when the caller has it already (else it is read here).
    """
    names = {c.producer for c in (coverage(catalog) if ran is None else ran)}
    of_kind = _files_of_kind(catalog)
    known: list[tuple[str, str | None]] = [(n, None) for n in KNOWN_COLLECTION_PRODUCERS]
    known += list(KNOWN_FILE_PRODUCERS.items())
    return [Coverage(name, "none", 0, of_kind(kind)) for name, kind in known if name not in names]


def _files_of_kind(catalog: Catalog) -> Callable[[str | None], int]:
    """Counts the catalog's files once; the returned function gives those of a media kind (``None``: all)."""
    counts = {str(k): int(n) for k, n in catalog.connection.execute("SELECT kind, COUNT(*) FROM media GROUP BY kind")}
    return lambda kind: counts.get(kind, 0) if kind else sum(counts.values())


# -- collection-wide derived artifacts (vector index, concept columns, channel indexes) -------------------------


def generation_setting(generation: int) -> str:
    """An artifact setting saying it matches the catalog at ``generation``."""
    return f"generation {int(generation)}"


STALE = "stale"  # the setting of an artifact that must be re-derived before its next use


def artifact_current(catalog: Catalog, name: str, setting: str, legacy: str | None = None) -> Producer | None:
    """The record of artifact ``name`` when its saved output matches ``setting`` (the catalog state it must
    match), else ``None`` (stale, or never saved: re-derive it from the catalog).

    Args:
        catalog: The collection's catalog.
        name: ``index:vectors``, ``index:concepts`` or :func:`channel_index`.
        setting: What a current output was derived from (e.g. :func:`generation_setting` of the catalog now).
        legacy: The setting the artifact's own state file recorded before the ledger held it (collections written
            by an older mmir); used only while the ledger has no record of it.
    """
    found = producer(catalog, name)
    if found is None and legacy is not None:
        found = Producer(name, legacy)
    return found if found is not None and found.setting == setting else None


def record_artifact(catalog: Catalog, name: str, setting: str, detail: Mapping[str, object] | None = None) -> bool:
    """Record that artifact ``name``'s saved files now match ``setting`` (call once the files are in place).

    Returns:
        ``False`` when the catalog cannot be written now (a read-only collection, or a writer holding it past the
        busy timeout): the artifact is then re-derived next time, as when its files are missing.
    """
    try:
        record_producer(catalog, Producer(name, setting, dict(detail or {})))
    except sqlite3.OperationalError:
        return False
    return True


def artifacts(catalog: Catalog) -> list[Producer]:
    """The recorded artifacts (vector index, concept columns, channel indexes), by name."""
    rows = catalog.connection.execute(
        "SELECT name, setting, detail FROM producers WHERE name LIKE ? ORDER BY name", (ARTIFACT + "%",)
    )
    return [Producer(str(name), str(setting), json.loads(detail)) for name, setting, detail in rows]


@dataclass(frozen=True)
class Stale:
    """What a run must (re)compute: per-file producers each file lacks, and the artifacts that are not current."""

    files: dict[int, frozenset[str]]
    artifacts: frozenset[str]


def stale(
    catalog: Catalog, files: Mapping[str, str], artifacts: Mapping[str, str] | None = None, kind: str = "image"
) -> Stale:
    """The one decision of what is stale: files of ``kind`` lacking a wanted ``{producer: setting}`` (or holding
    another setting), and the ``{artifact: setting}`` whose saved output does not match the catalog now."""
    lacking = missing(catalog, files, kind) if files else {}
    behind = frozenset(name for name, setting in (artifacts or {}).items()
                       if artifact_current(catalog, name, setting) is None)  # fmt: skip
    return Stale(lacking, behind)


# -- the metadata text producer ----------------------------------------------------------------------------------


def text_signature(size: int, mtime: float, sidecars: str) -> str:
    """The ``metadata-text`` setting: what a file's text was read from (same form as catalog step 12 writes)."""
    return f"{int(size)}|{float(mtime):.6f}|{sidecars}"


# -- failures: files with no media row, keyed by path (mmir.index.failures holds the table) ---------------------


def failure_of(catalog: Catalog, path: str) -> Failure | None:
    """The recorded failure of ``path`` (with the size, mtime and limits it failed under), or ``None``."""
    return failures.lookup(catalog, path)


def record_failure(catalog: Catalog, path: str, size: int, mtime: float, limits: str, reason: str) -> None:
    """Remember that ``path`` (at this size and mtime, under these limits) failed for ``reason``."""
    failures.record(catalog, path, size, mtime, limits, reason)


def forget_failure(catalog: Catalog, path: str) -> None:
    """Drop the failure of ``path`` (it indexed, or it is gone)."""
    failures.forget(catalog, path)


def failures_under(catalog: Catalog, root: str) -> list[str]:
    """Paths of the recorded failures at or below ``root``."""
    return failures.paths_under(catalog, root)


def failure_count(catalog: Catalog) -> int:
    """Number of recorded failures."""
    return failures.count(catalog)


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

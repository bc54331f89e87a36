"""Metadata text in the catalog: one SQLite FTS5 row per file, searched with BM25.

Catalog schema step 3 (:data:`SCHEMA`) adds ``media_text`` (what was extracted when: the file's size/mtime and
its sidecars' signature) and the FTS5 table ``media_text_fts`` (rowid = media id; columns name, description,
keywords, sidecar; Porter stemming over unicode61 so "beaches" finds "beach"). Text is stored folded by the shared
tokeniser (:func:`mmir.concepts.tokens.fold`: NFKC, letter/digit boundaries split), the form query words take
too; step 8 (:data:`REFOLD_SCHEMA`) re-folds catalogs written before. A trigger removes both rows when the file
leaves the catalog.

:func:`sync_metadata` brings the text up to date after an indexing run: a file whose size/mtime or sidecar set
changed is re-read, so editing ``photo.txt`` is picked up although the photo itself is unchanged. What each file's
text was read from is the ledger's ``metadata-text`` producer (:func:`mmir.index.ledger.text_signature`); step 12
(:data:`LEDGER_SCHEMA`) moved it there from ``media_text``, which catalogs keep empty.
:func:`term_matches` runs one FTS5 query per query term; every token is passed as a quoted string, so quotes,
``OR``/``NEAR``/``*``/``:``/``^`` and parentheses in user input are plain text, never FTS5 syntax (and values
are bound parameters, never SQL).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmir.concepts.tokens import fold, words
from mmir.media.paths import bytes_to_path

if TYPE_CHECKING:  # catalog.py imports this module for its schema step
    from mmir.index.catalog import Catalog
    from mmir.media.metadata import MetadataText, TextField

SCHEMA = """
CREATE TABLE IF NOT EXISTS media_text (
    media_id INTEGER PRIMARY KEY REFERENCES media(id) ON DELETE CASCADE,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sidecars TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS media_text_fts USING fts5(
    name, description, keywords, sidecar, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS media_text_gone AFTER DELETE ON media BEGIN
    DELETE FROM media_text_fts WHERE rowid = old.id;
    DELETE FROM media_text WHERE media_id = old.id;
END;
"""

_COLUMNS = ("name", "description", "keywords", "sidecar")  # TextField values, in FTS5 column order
# BM25 column weights: words someone typed about the photo (keywords, captions, sidecars) say more than
# words of a file name, which are often camera counters or folder dates. A prior, not fitted to any data.
_BM25_WEIGHTS = (1.0, 2.0, 2.0, 2.0)
# Catalog schema step 8: the stored text re-folded by the shared tokeniser (mmir.concepts.tokens), so catalogs
# written before it split "Paris2019.jpg" and fullwidth letters as queries now do. ``mmir_fold`` is the SQL
# function :func:`register_functions` installs on every catalog connection before its migrations run.
REFOLD_SCHEMA = """
UPDATE media_text_fts SET name = mmir_fold(name), description = mmir_fold(description),
    keywords = mmir_fold(keywords), sidecar = mmir_fold(sidecar);
"""

# Catalog schema step 11: when each photo was taken (EXIF DateTimeOriginal, seconds since the epoch; no row when it
# does not say), which search filters by before the file's mtime (:mod:`mmir.index.filters`). The size of every stored
# row is cleared, so the next sync reads each file's metadata once more and finds its date (no pixels are decoded).
TAKEN_SCHEMA = """
CREATE TABLE IF NOT EXISTS media_taken (
    media_id INTEGER PRIMARY KEY REFERENCES media(id) ON DELETE CASCADE,
    taken REAL NOT NULL
);
UPDATE media_text SET size = -1;
"""

# Catalog schema step 12: what each file's text was read from moves into the ledger (producer ``metadata-text``,
# setting as :func:`mmir.index.ledger.text_signature` writes it), the one record of derived data; ``media_text``
# stays, empty, for its trigger.
LEDGER_SCHEMA = """
INSERT OR REPLACE INTO ledger (media_id, producer, setting)
    SELECT media_id, 'metadata-text', printf('%d|%.6f|%s', size, mtime, sidecars) FROM media_text;
DELETE FROM media_text;
"""

# Files whose text is written per transaction: one commit per file cost as much as reading the text. A sync
# interrupted mid-chunk loses only that chunk, which the next sync reads again (its size/mtime rows are unchanged).
_SYNC_CHUNK = 256


@dataclass(frozen=True)
class SyncReport:
    """What :func:`sync_metadata` did."""

    checked: int
    updated: int


def sync_metadata(catalog: Catalog, extract: Callable[[str], MetadataText] | None = None) -> SyncReport:
    """Re-extract the text of every file whose size, mtime or sidecars changed since it was last read.

    Args:
        catalog: The collection's catalog (schema ≥ 3).
        extract: Reads one file's text (default: :func:`mmir.media.metadata.extract_metadata_text`, given the
            folder listing this function already made, so sidecars are not looked up again one ``stat`` each).
    """
    # Imported here: keyword search imports this module and must not pay for PIL's metadata plugins.
    from mmir.index.ledger import METADATA_TEXT, text_signature
    from mmir.media.metadata import extract_metadata_text, folder_names, sidecar_signature

    db = catalog.connection
    db.executescript(SCHEMA)  # idempotent: a catalog that reached a later step before this one existed
    rows = db.execute(
        "SELECT m.id, m.path, m.size, m.mtime, l.setting FROM media m "
        "LEFT JOIN ledger l ON l.media_id = m.id AND l.producer = ?",
        (METADATA_TEXT,),
    ).fetchall()
    updated = 0
    listed: dict[str, frozenset[str]] = {}  # folder → its names, listed once per sync
    changed: list[tuple[int, int, float, str, MetadataText]] = []
    for media_id, raw_path, size, mtime, read_from in rows:
        path = bytes_to_path(raw_path)
        folder = os.path.dirname(path)
        if folder not in listed:
            listed[folder] = folder_names(folder)
        sidecars = sidecar_signature(path, listed[folder])
        if read_from == text_signature(size, mtime, sidecars):
            continue
        text = extract(path) if extract is not None else extract_metadata_text(path, listed[folder])
        changed.append((media_id, size, mtime, sidecars, text))
        if len(changed) >= _SYNC_CHUNK:
            updated += _store_texts(catalog, changed)
    updated += _store_texts(catalog, changed)
    return SyncReport(checked=len(rows), updated=updated)


def register_functions(db: sqlite3.Connection) -> None:
    """Install ``mmir_fold(text)`` (:func:`mmir.concepts.tokens.fold`, NULL stays NULL) for :data:`REFOLD_SCHEMA`."""
    db.create_function("mmir_fold", 1, _fold_or_none, deterministic=True)


def _fold_or_none(text: str | None) -> str | None:
    return fold(text) if isinstance(text, str) else text


def fts_phrase(term: str) -> str | None:
    """An FTS5 query matching the words of ``term`` in order, each a quoted string; ``None`` if it has none.

    Words are those of the shared tokeniser (:func:`mmir.concepts.tokens.words`), as the stored text was folded:
    ``'dog" OR x'`` → ``'"dog" + "or" + "x"'`` and ``img2031`` → ``'"img" + "2031"'``; only letters and digits
    survive, so nothing is FTS5 syntax.
    """
    tokens = words(term)
    if not tokens:
        return None
    return " + ".join(f'"{token}"' for token in tokens)  # "+" joins tokens into one phrase


def _store_texts(catalog: Catalog, changed: list[tuple[int, int, float, str, MetadataText]]) -> int:
    """Write the FTS5 rows and what they were read from, in one transaction; empties ``changed``."""
    if not changed:
        return 0  # no transaction: a commit would bump the catalog generation and drop caches keyed on it
    with catalog.transaction():
        write_texts(catalog.connection, changed)
    count = len(changed)
    changed.clear()
    return count


def write_texts(db: sqlite3.Connection, texts: Sequence[tuple[int, int, float, str, MetadataText]]) -> None:
    """Store ``(media id, size, mtime, sidecar signature, text)`` rows (inside the caller's transaction).

    The indexing pipeline calls this with the text it extracted from the bytes it had read anyway, so the
    :func:`sync_metadata` after the run finds those files current and reads nothing again.
    """
    from mmir.index.ledger import METADATA_TEXT, text_signature
    from mmir.media.metadata import TextField

    for media_id, size, mtime, sidecars, text in texts:
        db.execute("DELETE FROM media_text_fts WHERE rowid = ?", (media_id,))
        db.execute(
            "INSERT INTO media_text_fts(rowid, name, description, keywords, sidecar) VALUES (?, ?, ?, ?, ?)",
            (media_id, *(_fold_or_none(text.get(TextField(field))) for field in _COLUMNS)),
        )
        db.execute(
            "INSERT OR REPLACE INTO ledger(media_id, producer, setting) VALUES (?, ?, ?)",
            (media_id, METADATA_TEXT, text_signature(size, mtime, sidecars)),
        )
        if text.taken is None:
            db.execute("DELETE FROM media_taken WHERE media_id = ?", (media_id,))
        else:
            db.execute("INSERT OR REPLACE INTO media_taken(media_id, taken) VALUES (?, ?)", (media_id, text.taken))


def term_matches(
    catalog: Catalog, terms: Sequence[str], limit: int = 100_000, per_segment: bool = False
) -> list[dict[int, float]]:  # fmt: skip
    """Per term, ``media id → BM25 relevance`` (higher is better, > 0) of the files whose text contains it.

    Args:
        catalog: The collection's catalog.
        terms: Normalised query terms (a term of several words must match as a phrase).
        limit: Most files returned per term.
        per_segment: Key the result by segment id instead (every segment of a matching file).
    """
    db = catalog.connection
    weights = ", ".join(str(w) for w in _BM25_WEIGHTS)
    results: list[dict[int, float]] = []
    for term in terms:
        query = fts_phrase(term)
        if query is None:
            results.append({})
            continue
        ranked = (
            f"SELECT rowid AS media_id, -bm25(media_text_fts, {weights}) AS score FROM media_text_fts "
            f"WHERE media_text_fts MATCH ? ORDER BY bm25(media_text_fts, {weights}) LIMIT ?"
        )
        if per_segment:
            ranked = f"SELECT s.id, r.score FROM ({ranked}) r JOIN segments s ON s.media_id = r.media_id"
        try:
            rows = db.execute(ranked, (query, limit)).fetchall()
        except sqlite3.OperationalError:  # no text table yet (never synced): no metadata matches
            rows = []
        results.append({int(rowid): max(float(score), 1e-6) for rowid, score in rows})
    return results


def media_text(catalog: Catalog, media_id: int) -> dict[TextField, str]:
    """The stored text of one file, by field (empty when it has none)."""
    row = catalog.connection.execute(
        "SELECT name, description, keywords, sidecar FROM media_text_fts WHERE rowid = ?", (media_id,)
    ).fetchone()
    from mmir.media.metadata import TextField

    return {TextField(field): value for field, value in zip(_COLUMNS, row or (), strict=False) if value}

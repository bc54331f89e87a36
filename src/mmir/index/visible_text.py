"""Visible text (OCR) and speech in the catalog: words per segment, searched with FTS5 in their own fields.

Schema (:data:`SCHEMA`, one catalog step):

- ``segment_words``: what a producer read for a segment, one row per OCR line (``field = 'shows'``, with its box)
  or per spoken word (``field = 'said'``, with its start and end time). Rows go with their segment.
- ``segment_text_fts``: FTS5 over the same text, ``rowid`` = segment id, columns ``shows`` and ``said`` (Porter
  stemming over unicode61, as the metadata text), rebuilt from ``segment_words`` whenever a segment's words change.
- ``segment_text_vocab``: the FTS5 vocabulary, for fuzzy matching of OCR errors ("ST0P" for "stop").

Which files each producer covered, with which engine version, is in the ledger (producers ``ocr``, ``speech``).
Queries are passed to FTS5 through :func:`mmir.index.metadata_text.fts_phrase`: every token is a quoted string,
so FTS5 operators in user input are plain words.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog

SCHEMA = """
CREATE TABLE IF NOT EXISTS segment_words (
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    text TEXT NOT NULL,
    start_s REAL NOT NULL DEFAULT 0,
    end_s REAL NOT NULL DEFAULT 0,
    confidence REAL NOT NULL DEFAULT 1,
    box TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS segment_words_segment ON segment_words(segment_id, field);
CREATE VIRTUAL TABLE IF NOT EXISTS segment_text_fts USING fts5(
    shows, said, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS segment_text_vocab USING fts5vocab(segment_text_fts, 'row');
CREATE TRIGGER IF NOT EXISTS segment_text_gone AFTER DELETE ON segments BEGIN
    DELETE FROM segment_text_fts WHERE rowid = old.id;
END;
"""

OCR = "ocr"  # ledger producer names
SPEECH = "speech"
_TOKEN = re.compile(r"\w+")
FUZZY_MIN = 0.75  # similarity (difflib ratio) a vocabulary word needs to stand in for a query word
_FUZZY_MIN_LENGTH = 4  # shorter words have too many near neighbours to guess at
SOME_WORDS = 0.5  # scale of a segment holding some words of a several-word query, but not the phrase
CONTAINED = 0.8  # closeness given to a stored word that holds the query word (words read without spaces)


class TextField(str, Enum):
    """Where a word was found: visible in the image, or said in the audio."""

    SHOWS = "shows"
    SAID = "said"


@dataclass(frozen=True)
class Words:
    """Words a producer found for one segment.

    Attributes:
        segment_id: The segment.
        field: ``shows`` (OCR lines) or ``said`` (spoken words).
        items: ``(text, start_s, end_s, confidence, box)`` per line or word; ``box`` is ``"x0,y0,x1,y1"`` or ``""``.
    """

    segment_id: int
    field: TextField
    items: tuple[tuple[str, float, float, float, str], ...]


@dataclass(frozen=True)
class TextMatch:
    """How a segment matched a query term.

    Attributes:
        score: Relevance in (0, 1]: BM25 over the term's best in the collection, times ``closeness``.
        field: The field that matched.
        closeness: 1 for the words themselves; below 1 for a fuzzy match (how similar the stored word is).
        found: The stored word a fuzzy match stood for (``""`` for an exact match).
    """

    score: float
    field: TextField
    closeness: float = 1.0
    found: str = ""


def ensure_schema(db: sqlite3.Connection) -> None:
    """Create the tables if missing (idempotent: a catalog that reached a later step before this one existed)."""
    db.executescript(SCHEMA)


def write_words(db: sqlite3.Connection, words: Iterable[Words]) -> None:
    """Replace the words of each ``(segment, field)`` given and rebuild those segments' FTS rows (inside the
    caller's transaction)."""
    touched: set[int] = set()
    for entry in words:
        key = (entry.segment_id, entry.field.value)
        db.execute("DELETE FROM segment_words WHERE segment_id = ? AND field = ?", key)
        db.executemany(
            "INSERT INTO segment_words(segment_id, field, text, start_s, end_s, confidence, box) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(entry.segment_id, entry.field.value, *item) for item in entry.items],
        )
        touched.add(entry.segment_id)
    for segment_id in touched:
        _refresh_fts(db, segment_id)


def _refresh_fts(db: sqlite3.Connection, segment_id: int) -> None:
    """The segment's FTS row from its stored words: OCR lines as :func:`mmir.media.ocr_words.searchable` makes
    them (folded as queries are, words read without spaces split apart), speech words as they are."""
    from mmir.media.ocr_words import searchable

    texts: dict[str, list[str]] = {}
    rows = db.execute(
        "SELECT field, text FROM segment_words WHERE segment_id = ? ORDER BY start_s, rowid", (segment_id,)
    )
    for field, text in rows:
        texts.setdefault(field, []).append(searchable(text) if field == TextField.SHOWS.value else text)
    db.execute("DELETE FROM segment_text_fts WHERE rowid = ?", (segment_id,))
    if any(any(t.strip() for t in field) for field in texts.values()):
        db.execute(
            "INSERT INTO segment_text_fts(rowid, shows, said) VALUES (?, ?, ?)",
            (segment_id, " ".join(texts.get(TextField.SHOWS.value, [])), " ".join(texts.get(TextField.SAID.value, []))),
        )


def term_matches(
    catalog: Catalog, terms: Sequence[str], fields: Sequence[TextField] = tuple(TextField), fuzzy: bool = True,
    limit: int = 100_000,
) -> list[dict[int, TextMatch]]:  # fmt: skip
    """Per query term, ``segment id → TextMatch`` of the segments whose visible text or speech holds it.

    A term of several words matches best as a phrase; segments holding only some of its words follow (scaled
    by :data:`SOME_WORDS`, ranked by BM25: speech recognition drops and swaps words). With ``fuzzy``, a one-word
    term of 4+ letters also matches stored words at least :data:`FUZZY_MIN` similar to it in the ``shows`` field
    (OCR misreads letters), scored lower by their closeness. Exact matches win over fuzzy ones for a segment.
    """
    from mmir.index.metadata_text import fts_phrase

    if not _any_text(catalog.connection):  # most collections never ran --ocr/--speech: no queries per term
        return [{} for _ in terms]
    results: list[dict[int, TextMatch]] = []
    for term in terms:
        found: dict[int, TextMatch] = {}
        for field in fields:
            phrase = fts_phrase(term)
            if phrase is not None:
                _merge(found, _ranked(catalog.connection, field, phrase, limit), field, 1.0, "")
            tokens = _TOKEN.findall(term.lower())
            if len(tokens) > 1:  # recognisers drop and swap words: some of the words, lower, after the phrase
                any_word = " OR ".join(f'"{token}"' for token in dict.fromkeys(tokens))
                _merge(found, _ranked(catalog.connection, field, any_word, limit), field, SOME_WORDS, "")
            if fuzzy and field is TextField.SHOWS:
                for word, closeness in _neighbours(catalog.connection, term):
                    _merge(found, _ranked(catalog.connection, field, f'"{word}"', limit), field, closeness, word)
        results.append(found)
    return results


def _any_text(db: sqlite3.Connection) -> bool:
    try:
        return db.execute("SELECT 1 FROM segment_text_fts LIMIT 1").fetchone() is not None
    except sqlite3.OperationalError:  # no table yet
        return False


def _merge(found: dict[int, TextMatch], ranked: dict[int, float], field: TextField, closeness: float,
           word: str) -> None:  # fmt: skip
    if not ranked:
        return
    best = max(ranked.values())
    for segment_id, bm25 in ranked.items():
        score = closeness * bm25 / best
        if segment_id not in found or found[segment_id].score < score:
            found[segment_id] = TextMatch(score, field, closeness, word)


def _ranked(db: sqlite3.Connection, field: TextField, phrase: str, limit: int) -> dict[int, float]:
    """``segment id → BM25 relevance > 0`` for an already-quoted FTS5 ``phrase`` restricted to ``field``."""
    try:
        rows = db.execute(
            "SELECT rowid, -bm25(segment_text_fts) FROM segment_text_fts WHERE segment_text_fts MATCH ? "
            "ORDER BY bm25(segment_text_fts) LIMIT ?",
            (f"{{{field.value}}} : ({phrase})", limit),
        ).fetchall()
    except sqlite3.OperationalError:  # no table yet (a catalog that never ran these producers)
        return {}
    return {int(rowid): max(float(score), 1e-6) for rowid, score in rows}


def _neighbours(db: sqlite3.Connection, term: str) -> list[tuple[str, float]]:
    """Stored words (FTS5 vocabulary, stemmed) similar to a one-word ``term`` but not equal: ``(word, closeness)``."""
    tokens = _TOKEN.findall(term.lower())
    if len(tokens) != 1 or len(tokens[0]) < _FUZZY_MIN_LENGTH:
        return []
    query = tokens[0]
    stem = _stem(db, query)  # stored words are stems: compare stem with stem ("bakary" → "bakari" ~ "bakeri")
    matcher = difflib.SequenceMatcher(a=stem, autojunk=False)
    close: list[tuple[str, float]] = []
    try:
        rows = db.execute(
            "SELECT term FROM segment_text_vocab WHERE length(term) BETWEEN ? AND ?", (len(stem) - 2, len(stem) + 2)
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    for (word,) in rows:
        if word in (query, stem):
            continue
        matcher.set_seq2(word)
        if matcher.real_quick_ratio() >= FUZZY_MIN and matcher.quick_ratio() >= FUZZY_MIN:
            ratio = matcher.ratio()
            if ratio >= FUZZY_MIN:
                close.append((word, ratio))
    # OCR often reads a sign's words without the spaces ("ARDNAMURCHANPOINT"): a longer stored word holding the
    # query counts too, as a near match.
    for (word,) in db.execute(
        "SELECT term FROM segment_text_vocab WHERE length(term) > ? AND instr(term, ?) > 0", (len(stem) + 2, stem)
    ):
        close.append((word, CONTAINED))
    return sorted(close, key=lambda pair: -pair[1])[:20]


def _stem(db: sqlite3.Connection, word: str) -> str:
    """The stored form of ``word`` (Porter stem), read back through a scratch FTS5 table's vocabulary."""
    db.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stem_probe "
        "USING fts5(t, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.stem_probe_vocab USING fts5vocab(temp, stem_probe, 'row')")
    db.execute("DELETE FROM temp.stem_probe")
    db.execute("INSERT INTO temp.stem_probe(t) VALUES (?)", (word,))
    row = db.execute("SELECT term FROM temp.stem_probe_vocab LIMIT 1").fetchone()
    return str(row[0]) if row else word


def explain(catalog: Catalog, segment_id: int, terms: Sequence[str], matches: Sequence[TextMatch]) -> list[str]:
    """``why`` lines for one segment: ``text in image: 'STOP'``, ``said at 12.4 s: 'welcome everyone'``."""
    lines: list[str] = []
    for term, match in zip(terms, matches, strict=True):
        wanted = [match.found] if match.found else _TOKEN.findall(term.lower())
        where = _where(catalog.connection, segment_id, match.field, wanted)
        if where is None:
            continue
        close = f" (~{term!r}, {match.closeness:.0%} close)" if match.found else ""
        if match.field is TextField.SHOWS:
            lines.append(f"text in image: {where[1]!r}{close}")
        else:
            lines.append(f"said at {where[0]:.1f} s: {where[1]!r}")
    return lines


def _where(db: sqlite3.Connection, segment_id: int, field: TextField, tokens: list[str]) -> tuple[float, str] | None:
    """``(time, text)`` of the stored line (OCR) or run of words (speech) where ``tokens`` occur."""
    rows = db.execute(
        "SELECT text, start_s FROM segment_words WHERE segment_id = ? AND field = ? ORDER BY start_s, rowid",
        (segment_id, field.value),
    ).fetchall()
    if not rows or not tokens:
        return None
    if field is TextField.SHOWS:
        for text, start in rows:
            words = [w.lower() for w in _TOKEN.findall(text)]
            # a word read without spaces holds the query word ("ALARMWILL" for "will")
            if any(w.startswith(t[:4]) or t.startswith(w[:4]) or t in w for t in tokens for w in words if w):
                return float(start), str(text)
        return float(rows[0][1]), str(rows[0][0])
    words = [(str(text).lower(), float(start)) for text, start in rows]
    for i in range(len(words)):
        if words[i][0].startswith(tokens[0][:4]):
            return words[i][1], " ".join(w for w, _ in words[i : i + max(len(tokens), 1) + 2])
    return words[0][1], " ".join(w for w, _ in words[:6])


def counts(catalog: Catalog) -> dict[TextField, int]:
    """Files with some visible text / some speech stored."""
    found = {field: 0 for field in TextField}
    try:
        rows = catalog.connection.execute(
            "SELECT w.field, COUNT(DISTINCT s.media_id) FROM segment_words w JOIN segments s ON s.id = w.segment_id "
            "GROUP BY w.field"
        ).fetchall()
    except sqlite3.OperationalError:
        return found
    for field, count in rows:
        found[TextField(field)] = int(count)
    return found


def shown_lines(catalog: Catalog, media_id: int) -> list[str]:
    """The OCR lines stored for a file's segments, in order (for benchmarks and ``why``)."""
    rows = catalog.connection.execute(
        "SELECT w.text FROM segment_words w JOIN segments s ON s.id = w.segment_id "
        "WHERE s.media_id = ? AND w.field = ? ORDER BY s.start_s, w.rowid",
        (int(media_id), TextField.SHOWS.value),
    ).fetchall()
    return [str(text) for (text,) in rows]


def segment_spans(catalog: Catalog, media_id: int) -> list[tuple[int, float, float, float]]:
    """``(segment id, start_s, end_s, keyframe_s)`` of a file's segments in time order."""
    rows = catalog.connection.execute(
        "SELECT id, start_s, end_s, keyframe_s FROM segments WHERE media_id = ? ORDER BY start_s, id", (int(media_id),)
    ).fetchall()
    return [(int(sid), float(start), float(end), float(key)) for sid, start, end, key in rows]


def summary(catalog: Catalog) -> tuple[str, ...]:
    """Lines for ``mmir info``: how many files have visible text / speech stored (none when neither ran)."""
    found = counts(catalog)
    lines = []
    for field, label in ((TextField.SHOWS, "visible text"), (TextField.SAID, "speech")):
        producer = OCR if field is TextField.SHOWS else SPEECH
        row = catalog.connection.execute("SELECT COUNT(*) FROM ledger WHERE producer = ?", (producer,)).fetchone()
        if row and row[0]:
            lines.append(f"{label}: found in {found[field]} of {row[0]} files read by {producer}")
    return tuple(lines)


def copy_words(catalog: Catalog, source_media_id: int, media_id: int) -> None:
    """A file indexed as a copy of another (same content) gets its words too, segment by segment in order."""
    db = catalog.connection
    query = "SELECT id FROM segments WHERE media_id = ? ORDER BY id"
    sources = [r[0] for r in db.execute(query, (source_media_id,))]
    targets = [r[0] for r in db.execute(query, (media_id,))]
    for source, target in zip(sources, targets, strict=False):
        db.execute(
            "INSERT INTO segment_words(segment_id, field, text, start_s, end_s, confidence, box) "
            "SELECT ?, field, text, start_s, end_s, confidence, box FROM segment_words WHERE segment_id = ?",
            (target, source),
        )
        _refresh_fts(db, target)

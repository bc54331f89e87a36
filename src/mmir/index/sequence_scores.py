"""Stored per-shot scores of the registered sequence concepts, so that keyword search never runs (or imports) torch.

Catalog schema step 10 (:data:`SCHEMA`): one row per (video segment, concept) with the concept's probability for
the segment's shot. Scores are computed when a concept is registered (for every indexed shot) and after each
indexing run (for the shots it added), by :mod:`mmir.indexing.video_concepts`; a search reads them. Rows go with their
segment (``ON DELETE CASCADE``), so a re-indexed video is scored again. Which files are scored by which model is
also in the ledger (producer ``sequence:NAME``, setting = the model's hash), so ``mmir info`` shows coverage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog

SCHEMA = """
CREATE TABLE IF NOT EXISTS sequence_scores (
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    concept TEXT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (concept, segment_id)
) WITHOUT ROWID;
"""
"""Schema step 10: per-segment scores of the registered sequence concepts."""

_SQL_BATCH = 500


def producer_name(concept: str) -> str:
    """The ledger producer of a sequence concept."""
    return f"sequence:{concept}"


def lookup(catalog: Catalog, concepts: Sequence[str], segment_ids: Sequence[int]) -> np.ndarray:
    """Stored scores ``float32[N, S]`` of ``segment_ids`` for ``concepts``; ``nan`` where none is stored."""
    ids = [int(i) for i in segment_ids]
    out = np.full((len(ids), len(concepts)), np.nan, np.float32)
    row_of = {sid: row for row, sid in enumerate(ids)}
    for column, concept in enumerate(concepts):
        for start in range(0, len(ids), _SQL_BATCH):
            part = ids[start : start + _SQL_BATCH]
            marks = ",".join("?" * len(part))
            rows = catalog.connection.execute(
                f"SELECT segment_id, score FROM sequence_scores WHERE concept = ? AND segment_id IN ({marks})",
                [concept, *part],
            )
            for sid, score in rows:
                out[row_of[int(sid)], column] = score
    return out


def video_segments(catalog: Catalog, segment_ids: Sequence[int]) -> set[int]:
    """Those of ``segment_ids`` that belong to videos (only they can have a sequence score)."""
    ids, found = [int(i) for i in segment_ids], set[int]()
    for start in range(0, len(ids), _SQL_BATCH):
        part = ids[start : start + _SQL_BATCH]
        marks = ",".join("?" * len(part))
        rows = catalog.connection.execute(
            f"SELECT s.id FROM segments s JOIN media m ON m.id = s.media_id "
            f"WHERE m.kind = 'video' AND s.id IN ({marks})",
            part,
        )
        found.update(int(r[0]) for r in rows)
    return found


def unscored(catalog: Catalog, concept: str) -> list[int]:
    """Video segments without a stored score for ``concept``, ascending."""
    rows = catalog.connection.execute(
        "SELECT s.id FROM segments s JOIN media m ON m.id = s.media_id WHERE m.kind = 'video' AND s.id NOT IN "
        "(SELECT segment_id FROM sequence_scores WHERE concept = ?) ORDER BY s.id",
        (concept,),
    )
    return [int(r[0]) for r in rows]


def store(catalog: Catalog, concept: str, scores: Iterable[tuple[int, float]], setting: str) -> None:
    """Store ``(segment id, score)`` pairs for ``concept`` in one transaction and record its files in the ledger."""
    from mmir.index import ledger

    rows = [(int(sid), concept, float(score)) for sid, score in scores]
    if not rows:
        return
    db = catalog.connection
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany("INSERT OR REPLACE INTO sequence_scores (segment_id, concept, score) VALUES (?, ?, ?)", rows)
        media = _media_of(catalog, [sid for sid, _, _ in rows])
        ledger.record_files(catalog, sorted(media), {producer_name(concept): setting})
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def forget(catalog: Catalog, concept: str) -> None:
    """Drop every stored score of ``concept`` (unregistered, or registered again with another model)."""
    catalog.connection.execute("DELETE FROM sequence_scores WHERE concept = ?", (concept,))
    catalog.connection.execute("DELETE FROM ledger WHERE producer = ?", (producer_name(concept),))


def _media_of(catalog: Catalog, segment_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(segment_ids), _SQL_BATCH):
        part = segment_ids[start : start + _SQL_BATCH]
        marks = ",".join("?" * len(part))
        rows = catalog.connection.execute(f"SELECT DISTINCT media_id FROM segments WHERE id IN ({marks})", part)
        found.update(int(r[0]) for r in rows)
    return found

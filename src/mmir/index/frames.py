"""Video extras in the catalog: per-frame descriptors, keyframe thumbnails and blank-keyframe flags.

Catalog schema step 4 (registered in :data:`mmir.index.catalog.MIGRATIONS`) creates the tables. Per-frame
descriptors (``float16``, sampled at the analysis's descriptor rate) let sequence models and new concept
detectors be scored over the shots of a collection without decoding the videos again. Rows hang off their
segment (``ON DELETE CASCADE``), so re-indexing a changed video replaces them with its segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import sqlite3

    from mmir.index.catalog import Catalog, SegmentEncoding

SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    time_s REAL NOT NULL,
    descriptor BLOB NOT NULL,
    PRIMARY KEY (segment_id, time_s)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segment_extras (
    segment_id INTEGER PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,
    blank INTEGER NOT NULL DEFAULT 0,
    thumbnail BLOB
);
"""
"""Schema step 4: per-frame descriptors and per-segment thumbnail + blank flag (videos only)."""


@dataclass(frozen=True)
class SegmentExtras:
    """What a video segment carries beyond its encodings.

    Attributes:
        frame_times: ``float64[F]`` times of the sampled frames inside the segment.
        frames: ``float32[F, D]`` raw descriptors of those frames.
        thumbnail: JPEG bytes of the keyframe, or ``None``.
        blank: The keyframe is uniform (black, white, flat): near-duplicate detection leaves it out.
    """

    frame_times: np.ndarray
    frames: np.ndarray
    thumbnail: bytes | None = None
    blank: bool = False


def store(db: sqlite3.Connection, segment_id: int, extras: SegmentExtras) -> None:
    """Write a segment's extras (inside the caller's transaction)."""
    db.execute(
        "INSERT OR REPLACE INTO segment_extras(segment_id, blank, thumbnail) VALUES(?, ?, ?)",
        (segment_id, int(extras.blank), extras.thumbnail),
    )
    db.executemany(
        "INSERT OR REPLACE INTO frames(segment_id, time_s, descriptor) VALUES(?, ?, ?)",
        [
            (segment_id, float(t), np.ascontiguousarray(d, dtype=np.float16).tobytes())
            for t, d in zip(extras.frame_times, extras.frames, strict=True)
        ],
    )


def load(db: sqlite3.Connection, segment_id: int) -> SegmentExtras | None:
    """A segment's extras, or ``None`` (an image, or a catalog written before step 4)."""
    row = db.execute("SELECT blank, thumbnail FROM segment_extras WHERE segment_id = ?", (segment_id,)).fetchone()
    if row is None:
        return None
    rows = db.execute(
        "SELECT time_s, descriptor FROM frames WHERE segment_id = ? ORDER BY time_s", (segment_id,)
    ).fetchall()
    times = np.array([r[0] for r in rows], np.float64)
    frames = _stack_f16([r[1] for r in rows])
    return SegmentExtras(times, frames, bytes(row[1]) if row[1] is not None else None, bool(row[0]))


def _stack_f16(blobs: Sequence[bytes]) -> np.ndarray:
    if not blobs:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.frombuffer(b, np.float16) for b in blobs]).astype(np.float32)


def media_frames(catalog: Catalog, media_id: int) -> tuple[np.ndarray, np.ndarray]:
    """All sampled frames of a video in time order: ``(times float64[F], descriptors float32[F, D])``.

    Keyframe rows of one shot share its frames, so duplicates (same time) are dropped.
    """
    rows = catalog.connection.execute(
        "SELECT DISTINCT f.time_s, f.descriptor FROM frames f JOIN segments s ON s.id = f.segment_id "
        "WHERE s.media_id = ? ORDER BY f.time_s",
        (int(media_id),),
    ).fetchall()
    seen: dict[float, bytes] = {}
    for time_s, blob in rows:
        seen.setdefault(float(time_s), blob)
    return np.array(list(seen), np.float64), _stack_f16(list(seen.values()))


def shot_frames(catalog: Catalog, segment_ids: Sequence[int]) -> dict[int, np.ndarray]:
    """Sampled frame descriptors ``float32[F, D]`` (time order) of the shot of each video segment.

    The frames of a shot hang off its first keyframe row; the other keyframe rows of the shot (same video, same
    start and end) share them and map to the same array object, so callers can score each shot once.
    Segments without frames (photos) are absent from the result.
    """
    owner: dict[int, int] = {}  # segment id → id of the row of its shot that holds the frames
    for chunk in _chunks([int(i) for i in segment_ids]):
        marks = ",".join("?" * len(chunk))
        owner.update(catalog.connection.execute(
            "SELECT s.id, t.id FROM segments s JOIN segments t ON t.media_id = s.media_id AND t.start_s = s.start_s "
            f"AND t.end_s = s.end_s WHERE s.id IN ({marks}) "
            "AND EXISTS (SELECT 1 FROM frames f WHERE f.segment_id = t.id)",
            chunk,
        ).fetchall())  # fmt: skip
    blobs: dict[int, list[bytes]] = {}
    for chunk in _chunks(sorted(set(owner.values()))):
        marks = ",".join("?" * len(chunk))
        rows = catalog.connection.execute(
            f"SELECT segment_id, descriptor FROM frames WHERE segment_id IN ({marks}) ORDER BY segment_id, time_s",
            chunk,
        ).fetchall()
        for holder, blob in rows:
            blobs.setdefault(int(holder), []).append(blob)
    stacked = {holder: _stack_f16(parts) for holder, parts in blobs.items()}
    return {int(sid): stacked[int(holder)] for sid, holder in owner.items()}


def _chunks(values: list[int], size: int = 500) -> list[list[int]]:
    """``values`` in runs of ``size`` (SQLite's bound-parameter limit)."""
    return [values[start : start + size] for start in range(0, len(values), size)]


def blank_segments(catalog: Catalog) -> set[int]:
    """Ids of segments whose keyframe is uniform (left out of near-duplicate detection)."""
    return {int(r[0]) for r in catalog.connection.execute("SELECT segment_id FROM segment_extras WHERE blank = 1")}


def thumbnail_segments(catalog: Catalog) -> np.ndarray:
    """``int64[M]`` ascending ids of the segments that have a keyframe thumbnail (video shots)."""
    rows = catalog.connection.execute(
        "SELECT segment_id FROM segment_extras WHERE thumbnail IS NOT NULL ORDER BY segment_id"
    ).fetchall()
    return np.asarray([r[0] for r in rows], np.int64)


def thumbnail(catalog: Catalog, segment_id: int) -> bytes | None:
    """JPEG thumbnail of a video segment's keyframe, or ``None``."""
    query = "SELECT thumbnail FROM segment_extras WHERE segment_id = ?"
    row = catalog.connection.execute(query, (segment_id,)).fetchone()
    return bytes(row[0]) if row and row[0] is not None else None


def attach(db: sqlite3.Connection, segment_id: int, seg: SegmentEncoding) -> None:
    """Store ``seg.extras`` if it has any (called by the catalog for every inserted segment)."""
    extras = getattr(seg, "extras", None)
    if extras is not None:
        store(db, segment_id, extras)

"""The SQLite catalog: media files, their segments, and each segment's stored encodings.

Each segment row keeps the raw (pre-PCA) descriptor and the concept probabilities as BLOBs, so the
vector index can always be rebuilt, PCA re-learned and new concepts scored without decoding media.
Paths are stored as bytes (``os.fsencode``) so non-UTF-8 file names round-trip exactly.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmir.errors import CollectionError
from mmir.index import (
    channel_indexes,
    channels,
    failures,
    frames,
    ledger,
    metadata_text,
    sequence_scores,
    visible_text,
)
from mmir.media.paths import bytes_to_path, display_path, path_to_bytes
from mmir.types import MediaKind, MediaRef, Segment

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS media (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    display TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha1 TEXT NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS media_sha1 ON media(sha1);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    start_s REAL NOT NULL DEFAULT 0,
    end_s REAL NOT NULL DEFAULT 0,
    keyframe_s REAL NOT NULL DEFAULT 0,
    descriptor BLOB NOT NULL,
    concepts BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_media ON segments(media_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Schema steps in order: step N brings a catalog from user_version N-1 to N. Every step only adds
# (CREATE ... IF NOT EXISTS, ALTER TABLE ... ADD COLUMN), so older catalogs open and upgrade in place.
# Feature modules under index/ append their step here with the next free number.
MIGRATIONS: dict[int, str] = {
    1: _SCHEMA_V1,
    2: failures.SCHEMA,  # files that failed to decode, remembered until their size or mtime changes
    3: metadata_text.SCHEMA,  # metadata text (file/folder names, EXIF/XMP/IPTC, sidecars) in FTS5
    4: frames.SCHEMA,  # video: per-frame descriptors, thumbnails, blank keyframes
    5: channels.SCHEMA,  # extra descriptor channels (colour, texture, HOG, bag of words)
    6: channel_indexes.CHANGES_SCHEMA,  # log of channel rows written/deleted, followed by the channel indexes
    7: ledger.SCHEMA,  # which producer (channel, encoder, PCA) ran for each file / the collection, with which setting
    8: metadata_text.REFOLD_SCHEMA,  # metadata text re-folded by the shared query/text tokeniser
    9: visible_text.SCHEMA,  # visible text (OCR) and speech per segment, in FTS5 fields shows / said
    10: sequence_scores.SCHEMA,  # stored per-shot scores of registered sequence concepts (search needs no torch)
    11: metadata_text.TAKEN_SCHEMA,  # when each photo was taken (EXIF), for date filters; metadata re-read once
    12: metadata_text.LEDGER_SCHEMA,  # what each file's metadata text was read from: a ledger row (metadata-text)
}


@dataclass(frozen=True)
class MediaRecord:
    """What the catalog knows about a file, for change detection."""

    id: int
    size: int
    mtime: float
    sha1: str


@dataclass(frozen=True)
class SegmentEncoding:
    """One segment to store: its time span and its encodings (``float32[D]``, ``float32[C]``)."""

    descriptor: np.ndarray
    concepts: np.ndarray
    start_s: float = 0.0
    end_s: float = 0.0
    keyframe_s: float = 0.0
    extras: frames.SegmentExtras | None = None  # video segments: sampled frames, thumbnail, blank flag


class Catalog:
    """The SQLite catalog of a collection (one file, WAL journal, safe against kill -9)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            metadata_text.register_functions(self._db)  # SQL functions that migration steps may call
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CollectionError(f"{self.path}: not a usable mmir catalog ({exc})") from exc

    def _migrate(self) -> None:
        latest = max(MIGRATIONS)
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > latest:
            raise CollectionError(f"{self.path}: catalog schema {version} is newer than this mmir ({latest})")
        for step in sorted(v for v in MIGRATIONS if v > version):
            self._db.executescript(MIGRATIONS[step])
            self._db.execute(f"PRAGMA user_version={step}")

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection, for the catalog's feature modules inside ``index/`` (failures, metadata text,
        video frames, descriptor channels); nothing outside ``index/`` runs SQL."""
        return self._db

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction that bumps the catalog generation on commit."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES('generation', '1') "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    @property
    def generation(self) -> int:
        """Counter bumped by every committed change; the vector index records the one it matches."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def lookup(self, path: str) -> MediaRecord | None:
        """The catalog's record of ``path``, or ``None``."""
        row = self._db.execute(
            "SELECT id, size, mtime, sha1 FROM media WHERE path = ?", (path_to_bytes(path),)
        ).fetchone()
        return MediaRecord(*row) if row else None

    def media_with_sha1(self, sha1: str) -> int | None:
        """Id of some indexed media with this content hash (to reuse its encodings)."""
        row = self._db.execute("SELECT id FROM media WHERE sha1 = ? LIMIT 1", (sha1,)).fetchone()
        return int(row[0]) if row else None

    def touch(self, media_id: int, size: int, mtime: float) -> None:
        """Record a new size/mtime for content that did not change (call inside a transaction)."""
        self._db.execute("UPDATE media SET size = ?, mtime = ? WHERE id = ?", (size, mtime, media_id))

    def put_media(
        self, path: str, kind: MediaKind, size: int, mtime: float, sha1: str, segments: Sequence[SegmentEncoding]
    ) -> tuple[int, list[int], list[int]]:
        """Insert or replace a file and its segments (call inside a transaction).

        Returns:
            ``(media_id, new_segment_ids, removed_segment_ids)``.
        """
        raw = path_to_bytes(path)
        row = self._db.execute("SELECT id, sha1 FROM media WHERE path = ?", (raw,)).fetchone()
        removed: list[int] = []
        if row:
            media_id = int(row[0])
            if row[1] != sha1:  # new content: what was derived from the old one (channels, ledger rows) is stale
                self._db.execute("DELETE FROM channels WHERE media_id = ?", (media_id,))
                ledger.forget_files(self, [media_id])
            removed = [r[0] for r in self._db.execute("SELECT id FROM segments WHERE media_id = ?", (media_id,))]
            self._db.execute("DELETE FROM segments WHERE media_id = ?", (media_id,))
            self._db.execute(
                "UPDATE media SET kind = ?, size = ?, mtime = ?, sha1 = ?, indexed_at = ? WHERE id = ?",
                (kind.value, size, mtime, sha1, time.time(), media_id),
            )
        else:
            cursor = self._db.execute(
                "INSERT INTO media(path, display, kind, size, mtime, sha1, indexed_at) VALUES(?, ?, ?, ?, ?, ?, ?)",
                (raw, display_path(path), kind.value, size, mtime, sha1, time.time()),
            )
            media_id = int(cursor.lastrowid or 0)
        new_ids = [self._insert_segment(media_id, seg) for seg in segments]
        return media_id, new_ids, removed

    def _insert_segment(self, media_id: int, seg: SegmentEncoding) -> int:
        cursor = self._db.execute(
            "INSERT INTO segments(media_id, start_s, end_s, keyframe_s, descriptor, concepts) VALUES(?, ?, ?, ?, ?, ?)",
            (
                media_id,
                seg.start_s,
                seg.end_s,
                seg.keyframe_s,
                np.ascontiguousarray(seg.descriptor, dtype=np.float32).tobytes(),
                np.ascontiguousarray(seg.concepts, dtype=np.float16).tobytes(),
            ),
        )
        frames.attach(self._db, int(cursor.lastrowid or 0), seg)
        return int(cursor.lastrowid or 0)

    def segment_encodings(self, media_id: int) -> list[SegmentEncoding]:
        """The stored encodings of a file's segments (to reuse for identical content)."""
        rows = self._db.execute(
            "SELECT start_s, end_s, keyframe_s, descriptor, concepts, id FROM segments WHERE media_id = ? ORDER BY id",
            (media_id,),
        ).fetchall()
        return [
            SegmentEncoding(
                descriptor=np.frombuffer(d, np.float32),
                concepts=np.frombuffer(c, np.float16).astype(np.float32),
                start_s=s,
                end_s=e,
                keyframe_s=k,
                extras=frames.load(self._db, sid),
            )
            for s, e, k, d, c, sid in rows
        ]

    def remove_media(self, media_id: int) -> list[int]:
        """Delete a file and its segments (call inside a transaction); returns the removed segment ids."""
        removed = [r[0] for r in self._db.execute("SELECT id FROM segments WHERE media_id = ?", (media_id,))]
        self._db.execute("DELETE FROM media WHERE id = ?", (media_id,))
        return removed

    def media_under(self, root: str) -> list[tuple[int, str]]:
        """``(media_id, path)`` of every file at or below the directory or file ``root``."""
        prefix = path_to_bytes(root).rstrip(b"/")
        result = []
        for media_id, raw in self._db.execute("SELECT id, path FROM media"):
            raw = bytes(raw)
            if raw == prefix or raw.startswith(prefix + b"/"):
                result.append((int(media_id), bytes_to_path(raw)))
        return result

    def all_descriptors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every segment's raw descriptor: ``(ids int64[N], float32[N, D])``."""
        return self._all_segments("descriptor", np.float32)

    def all_concepts(self) -> tuple[np.ndarray, np.ndarray]:
        """Every segment's concept probabilities: ``(ids int64[N], float32[N, C])``."""
        ids, matrix = self._all_segments("concepts", np.float16)
        return ids, matrix.astype(np.float32)

    def _all_segments(self, column: str, dtype: type) -> tuple[np.ndarray, np.ndarray]:
        rows = self._db.execute(f"SELECT id, {column} FROM segments ORDER BY id").fetchall()
        return _stack([r[0] for r in rows], [r[1] for r in rows], dtype)

    def segment_ids(self) -> np.ndarray:
        """Every segment id, ``int64[N]`` ascending (8 bytes each: cheap even for millions)."""
        rows = self._db.execute("SELECT id FROM segments ORDER BY id").fetchall()
        return np.asarray([r[0] for r in rows], np.int64)

    def descriptors_by_ids(self, segment_ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw descriptors of some segments, reading only those rows: ``(ids int64[M], float32[M, D])``.

        Rows come back in the order of ``segment_ids``; unknown ids are left out (so ``M`` may be smaller).
        """
        wanted = [int(i) for i in segment_ids]
        found = dict(self._rows_in("SELECT id, descriptor FROM segments WHERE id IN ({marks})", wanted))
        ids = [i for i in wanted if i in found]
        return _stack(ids, [found[i] for i in ids], np.float32)

    def iter_descriptors(self, batch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every raw descriptor in id order, ``batch`` rows at a time: ``(ids int64[B], float32[B, D])``."""
        return self._iter_segments("descriptor", np.float32, batch, after=-1)

    def iter_concepts(self, batch: int, after: int = -1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Concept probabilities of the segments with id > ``after`` in id order, ``batch`` rows at a time.

        Yields ``(ids int64[B], float16[B, C])``: float16 as stored, so a chunk costs half of float32.
        """
        return self._iter_segments("concepts", np.float16, batch, after)

    def _iter_segments(
        self, column: str, dtype: type, batch: int, after: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids int64[B], dtype[B, X])`` of ``column`` for ids > ``after``, in id order, ``batch`` rows at a time.

        Keyset pagination (``id > last``), not OFFSET: each page costs the same however far the scan is.
        """
        last = after
        while True:
            rows = self._db.execute(
                f"SELECT id, {column} FROM segments WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            last = int(rows[-1][0])
            yield _stack([r[0] for r in rows], [r[1] for r in rows], dtype)

    def concepts_by_ids(self, segment_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """``segment id → float32[C]`` concept probabilities of some segments (unknown ids are absent)."""
        rows = self._rows_in("SELECT id, concepts FROM segments WHERE id IN ({marks})", [int(i) for i in segment_ids])
        return {int(sid): np.frombuffer(blob, np.float16).astype(np.float32) for sid, blob in rows}

    def segments_of(self, media_id: int) -> list[Segment]:
        """A file's segments in time (id) order, without their encodings (empty for an unknown file)."""
        rows = self._db.execute(
            "SELECT id, start_s, end_s, keyframe_s FROM segments WHERE media_id = ? ORDER BY id", (int(media_id),)
        ).fetchall()
        return [Segment(int(sid), int(media_id), start, end, key) for sid, start, end, key in rows]

    def segment_media(self) -> tuple[np.ndarray, np.ndarray]:
        """Every segment's file: ``(segment ids int64[N] ascending, media ids int64[N])`` (16 bytes a segment)."""
        rows = self._db.execute("SELECT id, media_id FROM segments ORDER BY id").fetchall()
        array = np.asarray(rows, np.int64).reshape(-1, 2)
        return array[:, 0].copy(), array[:, 1].copy()

    def count_segments_up_to(self, last_id: int) -> int:
        """Number of segments with id ``<= last_id`` (ids only grow, so a drop means rows were removed)."""
        return int(self._db.execute("SELECT COUNT(*) FROM segments WHERE id <= ?", (int(last_id),)).fetchone()[0])

    def media_ids(self) -> np.ndarray:
        """Every media id that has a segment, ``int64[M]`` ascending (8 bytes each)."""
        rows = self._db.execute("SELECT DISTINCT media_id FROM segments ORDER BY media_id").fetchall()
        return np.asarray([r[0] for r in rows], np.int64)

    def media_descriptors_by_ids(self, media_ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One descriptor per file (its first segment's) for some files: ``(media ids int64[M], float32[M, D])``.

        Rows follow the order of ``media_ids``; files without segments are left out. The same rows as
        :meth:`all_media_descriptors` gives, reading only the files asked for.
        """
        wanted = [int(i) for i in media_ids]
        found = dict(self._rows_in(
            "SELECT media_id, descriptor FROM segments WHERE id IN "
            "(SELECT MIN(id) FROM segments WHERE media_id IN ({marks}) GROUP BY media_id)", wanted,
        ))  # fmt: skip
        ids = [i for i in wanted if i in found]
        return _stack(ids, [found[i] for i in ids], np.float32)

    def _rows_in(self, sql: str, ids: list[int], chunk: int = 10_000) -> Iterator[tuple]:
        """The rows of ``sql`` whose ``IN ({marks})`` list is ``ids``, run ``chunk`` ids at a time.

        Chunked to stay below SQLite's bound-variable limit (999 before SQLite 3.32, 32,766 after).
        """
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            yield from self._db.execute(sql.format(marks=",".join("?" * len(part))), part)

    def all_media_descriptors(self) -> tuple[np.ndarray, np.ndarray]:
        """One descriptor per file (the first segment's): ``(media ids int64[M], float32[M, D])``."""
        rows = self._db.execute(
            "SELECT media_id, descriptor FROM segments WHERE id IN (SELECT MIN(id) FROM segments GROUP BY media_id)"
            " ORDER BY media_id"
        ).fetchall()
        return _stack([r[0] for r in rows], [r[1] for r in rows], np.float32)

    def descriptor_of_media(self, media_id: int) -> np.ndarray:
        """Raw descriptors ``float32[S, D]`` of a file's segments."""
        rows = self._db.execute(
            "SELECT descriptor FROM segments WHERE media_id = ? ORDER BY id", (media_id,)
        ).fetchall()
        return np.stack([np.frombuffer(r[0], np.float32) for r in rows]) if rows else np.zeros((0, 0), np.float32)

    def hits_rows(self, segment_ids: Sequence[int]) -> dict[int, tuple[MediaRef, Segment]]:
        """Media and segment for each segment id (unknown ids are absent)."""
        rows = self._rows_in(
            "SELECT s.id, s.start_s, s.end_s, s.keyframe_s, m.id, m.path, m.kind, m.size, m.mtime, m.sha1 "
            "FROM segments s JOIN media m ON m.id = s.media_id WHERE s.id IN ({marks})",
            [int(i) for i in segment_ids],
        )
        result = {}
        for sid, start, end, key, mid, raw, kind, size, mtime, sha1 in rows:
            media = MediaRef(mid, bytes_to_path(bytes(raw)), MediaKind(kind), size, mtime, sha1)
            result[int(sid)] = (media, Segment(int(sid), mid, start, end, key))
        return result

    def media_ref(self, media_id: int) -> MediaRef | None:
        """The file with catalog id ``media_id``, or ``None``."""
        row = self._db.execute(
            "SELECT id, path, kind, size, mtime, sha1 FROM media WHERE id = ?", (int(media_id),)
        ).fetchone()
        if row is None:
            return None
        return MediaRef(row[0], bytes_to_path(bytes(row[1])), MediaKind(row[2]), row[3], row[4], row[5])

    def counts(self) -> tuple[int, int]:
        """``(number of media, number of segments)``."""
        media = self._db.execute("SELECT COUNT(*) FROM media").fetchone()[0]
        segments = self._db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
        return int(media), int(segments)

    def bytes_indexed(self) -> int:
        """Total size of the indexed files."""
        return int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM media").fetchone()[0])


def _stack(ids: list[int], blobs: list[bytes], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.asarray(ids, np.int64), np.stack([np.frombuffer(b, dtype) for b in blobs])

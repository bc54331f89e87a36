"""Files that failed to index, remembered so that an unchanged broken file is not retried every run.

A failure is recorded with the file's size and mtime and the image limits it was judged under; the pipeline
skips the file while all three still match (and reports it again as "failed before: REASON"). Any
change to the file or to the limits makes it a candidate again. Only failures that are a property of the
content are recorded: a permission or I/O error is not, because fixing it (``chmod``) leaves the mtime alone.

Catalog schema step 2 (registered in :data:`mmir.index.catalog.MIGRATIONS`) creates the table. Each write is
one SQLite statement in autocommit mode, i.e. its own committed transaction; it does not bump the catalog
generation because the vector index does not depend on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmir.media.paths import bytes_to_path, path_to_bytes

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog

SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    path BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    limits TEXT NOT NULL,
    reason TEXT NOT NULL,
    failed_at REAL NOT NULL
);
"""
"""Schema step 2: one row per file whose last indexing attempt failed."""


@dataclass(frozen=True)
class Failure:
    """A recorded failure: the file's state when it failed, and why.

    Attributes:
        path: The file's path.
        size: Its size in bytes when it failed.
        mtime: Its modification time when it failed.
        limits: The decoding limits it was judged under (see :func:`limits_key`).
        reason: The one-line reason shown to the user.
    """

    path: str
    size: int
    mtime: float
    limits: str
    reason: str

    def still_applies(self, size: int, mtime: float, limits: str) -> bool:
        """Whether the file (and the limits) are unchanged since it failed."""
        return self.size == size and self.mtime == mtime and self.limits == limits


def lookup(catalog: Catalog, path: str) -> Failure | None:
    """The recorded failure of ``path``, or ``None``."""
    row = catalog.connection.execute(
        "SELECT size, mtime, limits, reason FROM failures WHERE path = ?", (path_to_bytes(path),)
    ).fetchone()
    return Failure(path, int(row[0]), float(row[1]), str(row[2]), str(row[3])) if row else None


def record(catalog: Catalog, path: str, size: int, mtime: float, limits: str, reason: str) -> None:
    """Remember that ``path`` (at this size and mtime, under these limits) failed for ``reason``."""
    catalog.connection.execute(
        "INSERT INTO failures(path, size, mtime, limits, reason, failed_at) VALUES(?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, "
        "limits = excluded.limits, reason = excluded.reason, failed_at = excluded.failed_at",
        (path_to_bytes(path), size, mtime, limits, reason, time.time()),
    )


def forget(catalog: Catalog, path: str) -> None:
    """Drop the failure of ``path`` (it indexed, or it is gone)."""
    catalog.connection.execute("DELETE FROM failures WHERE path = ?", (path_to_bytes(path),))


def paths_under(catalog: Catalog, root: str) -> list[str]:
    """Paths of the recorded failures at or below the directory or file ``root``."""
    prefix = path_to_bytes(root).rstrip(b"/")
    found = []
    for (raw,) in catalog.connection.execute("SELECT path FROM failures"):
        raw = bytes(raw)
        if raw == prefix or raw.startswith(prefix + b"/"):
            found.append(bytes_to_path(raw))
    return found


def count(catalog: Catalog) -> int:
    """Number of recorded failures."""
    return int(catalog.connection.execute("SELECT COUNT(*) FROM failures").fetchone()[0])

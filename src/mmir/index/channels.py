"""Extra descriptor channels (colour, texture, HOG, bag of words) stored per file beside the CNN descriptor.

Catalog schema step 5 (registered in :data:`mmir.index.catalog.MIGRATIONS`) creates the table: one row per file
and channel, the vector as a ``float32`` blob. Rows go away with their file (``ON DELETE CASCADE``). Writes are
single autocommit statements made by the pipeline's writer thread right after the file's own commit (see
:class:`mmir.indexing.types.ChannelSink`); they do not bump the catalog generation, since the CNN vector index does
not depend on them. Each channel's vector index (:mod:`mmir.index.channel_indexes`) is built from these rows
and follows their changes through a log that triggers fill (schema step 6).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog

SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (media_id, name)
);
CREATE INDEX IF NOT EXISTS channels_name ON channels(name);
"""
"""Schema step 5: one row per (file, extra descriptor channel)."""

_SQL_BATCH = 500  # media ids bound per statement


class CatalogChannelSink:
    """A :class:`~mmir.indexing.types.ChannelSink` writing into the catalog's ``channels`` table."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def store(self, media_id: int, vectors: Mapping[str, np.ndarray]) -> None:
        """Store ``{name: float32[K]}`` for a file (replacing its older rows of those channels)."""
        rows = [(media_id, name, np.asarray(v, np.float32).tobytes()) for name, v in vectors.items()]
        self.catalog.connection.executemany(
            "INSERT OR REPLACE INTO channels (media_id, name, vector) VALUES (?, ?, ?)", rows
        )

    def store_many(self, files: Sequence[tuple[int, Mapping[str, np.ndarray]]]) -> None:
        """:meth:`store` for several files in one committed transaction (a back-fill writes thousands)."""
        db = self.catalog.connection
        db.execute("BEGIN IMMEDIATE")
        try:
            for media_id, vectors in files:
                self.store(media_id, vectors)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def copy(self, source_media_id: int, media_id: int) -> None:
        """Give ``media_id`` the channels of ``source_media_id`` (a copy of the same content)."""
        self.catalog.connection.execute(
            "INSERT OR REPLACE INTO channels (media_id, name, vector) "
            "SELECT ?, name, vector FROM channels WHERE media_id = ?",
            (media_id, source_media_id),
        )


def channel_names(catalog: Catalog) -> list[str]:
    """The channels stored for at least one file, sorted."""
    return [r[0] for r in catalog.connection.execute("SELECT DISTINCT name FROM channels ORDER BY name")]


def channel_vectors(
    catalog: Catalog, name: str, media_ids: Iterable[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(media ids int64[N], float32[N, K])`` of the files holding channel ``name``, by media id.

    Args:
        catalog: The collection's catalog.
        name: The channel.
        media_ids: Only these files (those without the channel are absent); ``None``: every file.
    """
    select = "SELECT media_id, vector FROM channels WHERE name = ?"
    if media_ids is None:
        rows = catalog.connection.execute(f"{select} ORDER BY media_id", (name,)).fetchall()
    else:
        wanted, rows = sorted({int(i) for i in media_ids}), []
        for start in range(0, len(wanted), _SQL_BATCH):  # SQLite caps the number of bound parameters
            part = wanted[start : start + _SQL_BATCH]
            marks = ",".join("?" * len(part))
            rows += catalog.connection.execute(f"{select} AND media_id IN ({marks}) ORDER BY media_id", [name, *part])
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.asarray([r[0] for r in rows], np.int64), np.stack([np.frombuffer(r[1], np.float32) for r in rows])


def first_segments(catalog: Catalog, media_ids: list[int]) -> dict[int, int]:
    """``{media id: its first segment id}`` for ``media_ids`` (files without segments are absent)."""
    if not media_ids:
        return {}
    marks = ",".join("?" * len(media_ids))
    rows = catalog.connection.execute(
        f"SELECT media_id, MIN(id) FROM segments WHERE media_id IN ({marks}) GROUP BY media_id",
        [int(i) for i in media_ids],
    )
    return {int(media_id): int(segment_id) for media_id, segment_id in rows}

"""Light catalog reads for the search pipeline's hot path: which file each candidate segment belongs to, a whole
file's segments with their descriptors in one query, a file by its path in one query.

Grouping a vector source's candidates to files needs only ``segment → file``; building the full
``(MediaRef, Segment)`` rows (:meth:`~mmir.index.catalog.Catalog.hits_rows`) for every candidate cost more than
the rest of a "similar" query but the FAISS scan, so the pipeline asks for files here and for full rows only for
the ``k`` units it keeps. A feature module of the catalog (it runs SQL through ``catalog.connection``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mmir.media.paths import path_to_bytes
from mmir.types import MediaKind, MediaRef

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog

_CHUNK = 10_000  # ids per IN list, as the catalog's own reads: below SQLite's bound-variable limit (32,766)


def media_of(catalog: Catalog, segment_ids: Sequence[int]) -> dict[int, int]:
    """``segment id → media id`` of some segments (ids the catalog does not hold are absent), in one light query.

    Plain Python on purpose: the pipeline asks for tens of ids, where NumPy's per-call overhead would dominate.
    """
    found: dict[int, int] = {}
    for start in range(0, len(segment_ids), _CHUNK):
        part = list(segment_ids[start : start + _CHUNK])
        marks = ",".join("?" * len(part))
        found.update(catalog.connection.execute(f"SELECT id, media_id FROM segments WHERE id IN ({marks})", part))
    return found


def file_segments(catalog: Catalog, media_id: int) -> tuple[list[int], np.ndarray]:
    """A file's segment ids in time (id) order and their raw descriptors ``float32[S, D]``, in one query.

    No :class:`~mmir.types.Segment` objects: "similar to this video" needs its 40 shots' ids and descriptors
    only, and building 40 frozen dataclasses cost about as much as reading them. ``S = 0`` (shape ``(0, 0)``)
    for a file without segments or an unknown id.
    """
    rows = catalog.connection.execute(
        "SELECT id, descriptor FROM segments WHERE media_id = ? ORDER BY id", (int(media_id),)
    ).fetchall()
    if not rows:
        return [], np.zeros((0, 0), np.float32)
    return [r[0] for r in rows], np.stack([np.frombuffer(r[1], np.float32) for r in rows])


def media_at(catalog: Catalog, path: str) -> MediaRef | None:
    """The file stored under the absolute ``path``, or ``None`` (one query: ``lookup`` + ``media_ref`` made two)."""
    row = catalog.connection.execute(
        "SELECT id, kind, size, mtime, sha1 FROM media WHERE path = ?", (path_to_bytes(path),)
    ).fetchone()
    return None if row is None else MediaRef(row[0], path, MediaKind(row[1]), row[2], row[3], row[4])

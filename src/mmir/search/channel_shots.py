"""Engineered descriptor channels (colour, lbp, hog, bovw) of video shots, from their keyframe thumbnails.

The pipeline stores engineered channels per photo file (:mod:`mmir.index.channels`); a video has none, so a
``--descriptor colour`` search could never return a shot. Each shot keeps a JPEG thumbnail of its keyframe
(:mod:`mmir.index.frames`); the channel is extracted from it on the first channel query that needs it and kept in
``<collection>/channel-indexes/shots-<name>.npz`` (raw vectors by segment id): later queries extract only the
shots added since, and forget removed ones. Thumbnails are small (160 px), so a shot's colour and texture
statistics are those of a reduced keyframe: close to, not equal to, what the photo path computes at full size.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from mmir.index.store import SegmentStore

FOLDER = "channel-indexes"


def shot_vectors(
    store: SegmentStore, name: str, extract: Callable[[Image.Image], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``(segment ids int64[M], raw channel vectors float32[M, K])`` of every video shot with a thumbnail.

    Args:
        store: The collection's store.
        name: The channel.
        extract: Computes the channel's raw vector ``float32[K]`` from an image.
    """
    from mmir.index import frames
    from mmir.media import MediaError, decode_image

    wanted = frames.thumbnail_segments(store.catalog)
    path = store.directory / FOLDER / f"shots-{name}.npz"
    ids, rows = np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    if path.exists():
        with np.load(path) as saved:
            ids, rows = saved["ids"].astype(np.int64), saved["vectors"].astype(np.float32)
    keep = np.isin(ids, wanted)
    missing = wanted[~np.isin(wanted, ids)]
    added_ids, added = [], []
    for sid in missing.tolist():
        data = frames.thumbnail(store.catalog, sid)
        if data is None:
            continue
        try:
            image = decode_image(data, f"thumbnail of segment {sid}")
        except MediaError:
            continue  # a damaged thumbnail: the shot has no such channel, as a video without thumbnails
        added_ids.append(sid)
        added.append(np.asarray(extract(image), np.float32).reshape(-1))
    if added or not keep.all():
        kept = rows[keep] if len(rows) else np.zeros((0, len(added[0]) if added else 0), np.float32)
        ids = np.concatenate([ids[keep], np.asarray(added_ids, np.int64)])
        rows = np.vstack([kept, np.stack(added)]) if added else kept
        order = np.argsort(ids)
        ids, rows = ids[order], rows[order]
        _save(path, ids, rows)
    return ids, rows


def _save(path: Path, ids: np.ndarray, rows: np.ndarray) -> None:
    """Write atomically (a temporary file renamed over the old one); an unwritable collection just recomputes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp.npz")
        np.savez(temporary, ids=ids, vectors=rows)
        os.replace(temporary, path)
    except OSError:
        return

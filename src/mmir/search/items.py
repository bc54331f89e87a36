"""Indexed items as queries: a whole file, or one shot of it (by time or by segment id)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.index.segment_files import file_segments, media_at
from mmir.media import display_path
from mmir.search.queries import ItemQuery
from mmir.types import Segment

if TYPE_CHECKING:
    from mmir.index.store import SegmentStore
    from mmir.types import MediaRef


@dataclass(frozen=True, eq=False)
class ResolvedItem:
    """An item found in the catalog.

    Attributes:
        media: Its file.
        segment_ids: The segments it stands for: one shot, or every segment of the file (time order).
        raw: ``float32[S, D]`` their raw descriptors (rows follow ``segment_ids``).
        shot: The shot, when the item is a single segment of a video (a shot asked for, or a one-shot video);
            ``None`` for a photo or a whole video of several shots.
    """

    media: MediaRef
    segment_ids: tuple[int, ...]
    raw: np.ndarray
    shot: Segment | None = None

    @property
    def is_shot(self) -> bool:
        """A single segment of a video (a photo is its own single segment, not a shot)."""
        return self.shot is not None

    def query_vector(self) -> np.ndarray:
        """Raw query descriptor ``float32[1, D]``: the shot's, or the unit mean of the file's segments."""
        vector = self.raw.sum(axis=0, keepdims=True)  # the mean's direction (np.mean costs more per call)
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)

    def label(self) -> str:
        """``name`` or ``name @ 8.0-12.0 s`` for messages and ``why``."""
        name = display_path(self.media.path)  # the server shows it relative to its roots (PathMapper.scrub)
        if self.shot is None:
            return name
        return f"{name} @ {self.shot.start_s:.1f}-{self.shot.end_s:.1f} s"


def resolve(store: SegmentStore, item: ItemQuery) -> ResolvedItem:
    """The catalog's file (and shot) for ``item``.

    Raises:
        QueryError: the file is not indexed, or the shot id / time is not one of its shots.
    """
    catalog = store.catalog
    media = _media(store, item)
    video = media.kind.value == "video"
    if item.segment_id is None and item.at_s is None:  # the whole file: ids and descriptors in one light read
        ids, raw = file_segments(catalog, media.id)
        if not ids:
            raise QueryError(f"{display_path(media.path)}: has no indexed segments")
        shot = catalog.segments_of(media.id)[0] if video and len(ids) == 1 else None  # a one-shot video
        return ResolvedItem(media, tuple(ids), raw, shot)
    segments = catalog.segments_of(media.id)
    if not segments:
        raise QueryError(f"{display_path(media.path)}: has no indexed segments")
    if item.segment_id is not None:
        chosen = [s for s in segments if s.id == item.segment_id]
        if not chosen:
            raise QueryError(f"segment {item.segment_id} is not a shot of {display_path(media.path)}")
        segment = chosen[0]
    else:
        segment = shot_at(segments, float(item.at_s or 0.0))
    found, raw = catalog.descriptors_by_ids([segment.id])
    if not len(found):
        raise QueryError(f"{display_path(media.path)}: has no indexed segments")
    return ResolvedItem(media, (segment.id,), raw.astype(np.float32), segment if video else None)


def shot_at(segments: list[Segment], at_s: float) -> Segment:
    """The segment covering ``at_s`` seconds (the last one starting before it when none covers it)."""
    covering = [s for s in segments if s.start_s <= at_s < s.end_s]
    if covering:
        return covering[0]
    started = [s for s in segments if s.start_s <= at_s]
    return started[-1] if started else segments[0]


def _media(store: SegmentStore, item: ItemQuery) -> MediaRef:
    catalog = store.catalog
    if item.media_id is None and not item.path and item.segment_id is not None:  # a shot by its id alone
        row = catalog.hits_rows([item.segment_id]).get(item.segment_id)
        if row is None:
            raise QueryError(f"no segment {item.segment_id} in the collection")
        return row[0]
    if item.media_id is not None:
        ref = catalog.media_ref(item.media_id)
        if ref is None:
            raise QueryError(f"no media {item.media_id} in the collection")
        return ref
    ref = media_at(catalog, os.path.abspath(item.path))
    if ref is None:
        raise QueryError(f"{display_path(item.path)}: not in the collection (index it first, or use --image)")
    return ref

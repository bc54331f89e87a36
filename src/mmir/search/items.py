"""Indexed items as queries: a whole file, or one shot of it (by time or by segment id)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.media import display_path
from mmir.search.queries import ItemQuery

if TYPE_CHECKING:
    from mmir.index.store import SegmentStore
    from mmir.types import MediaRef, Segment


@dataclass(frozen=True, eq=False)
class ResolvedItem:
    """An item found in the catalog.

    Attributes:
        media: Its file.
        segments: The segments it stands for: one shot, or every segment of the file.
        raw: ``float32[S, D]`` their raw descriptors (rows follow ``segments``).
    """

    media: MediaRef
    segments: tuple[Segment, ...]
    raw: np.ndarray

    @property
    def is_shot(self) -> bool:
        """A single segment of a file with several (a photo is its own single segment)."""
        return len(self.segments) == 1 and self.media.kind.value == "video"

    def query_vector(self) -> np.ndarray:
        """Raw query descriptor ``float32[1, D]``: the shot's, or the unit mean of the file's segments."""
        vector = self.raw.mean(axis=0, keepdims=True)
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)

    def label(self) -> str:
        """``name`` or ``name @ 8.0-12.0 s`` for messages and ``why``."""
        name = display_path(self.media.path)  # the server shows it relative to its roots (PathMapper.scrub)
        if not self.is_shot:
            return name
        shot = self.segments[0]
        return f"{name} @ {shot.start_s:.1f}-{shot.end_s:.1f} s"


def resolve(store: SegmentStore, item: ItemQuery) -> ResolvedItem:
    """The catalog's file (and shot) for ``item``.

    Raises:
        QueryError: the file is not indexed, or the shot id / time is not one of its shots.
    """
    catalog = store.catalog
    media = _media(store, item)
    segments = catalog.segments_of(media.id)
    if not segments:
        raise QueryError(f"{display_path(media.path)}: has no indexed segments")
    if item.segment_id is not None:
        chosen = [s for s in segments if s.id == item.segment_id]
        if not chosen:
            raise QueryError(f"segment {item.segment_id} is not a shot of {display_path(media.path)}")
        segments = chosen
    elif item.at_s is not None:
        segments = [shot_at(segments, item.at_s)]
    found, raw = catalog.descriptors_by_ids([s.id for s in segments])
    by_id = {int(sid): row for sid, row in zip(found, raw, strict=True)}
    kept = tuple(s for s in segments if s.id in by_id)
    return ResolvedItem(media, kept, np.stack([by_id[s.id] for s in kept]).astype(np.float32))


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
    record = catalog.lookup(os.path.abspath(item.path))
    ref = catalog.media_ref(record.id) if record is not None else None
    if ref is None:
        raise QueryError(f"{display_path(item.path)}: not in the collection (index it first, or use --image)")
    return ref

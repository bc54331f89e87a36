"""Search filters — photos or videos only, a folder, a date range, a file name — applied inside the one pipeline.

A :class:`SearchFilter` is resolved once per search to the segments it allows (one SQL query:
:func:`mmir.index.filters.matching_segments`), and the query's candidate source then ranks only those
(:func:`restrict`), *before* grouping: ``k`` distinct files still come back when the filter is selective, for every
query kind. How a source is restricted depends on what it is:

- scores computed for every segment (keywords, feedback, visible text, fused channels): the arrays are masked;
- the vector index with few allowed segments (:data:`EXACT_MAX`, :data:`EXACT_SHARE`): those segments are scored
  exactly from their stored vectors (an approximate index could miss them all);
- any other source: it is asked for more (``n / share of the collection allowed``, growing) until ``n`` allowed
  segments are found or it has nothing more.

Dates are when a photo was taken (EXIF ``DateTimeOriginal``, read with the metadata text), else when the file was
last modified (videos, photos without the tag).
"""

from __future__ import annotations

import math
import os
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.search.cancel import checkpoint
from mmir.search.sources import Ranked, ScoredSource, Source, VectorSource
from mmir.types import MediaKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mmir.index.catalog import Catalog
    from mmir.index.store import SegmentStore

# Allowed segments are scored exactly from their stored vectors when they are few (at most EXACT_MAX, and at most
# EXACT_SHARE of the collection): an approximate index (IVF) asked for more probes only some lists and could return
# none of them. Otherwise the index is over-fetched: on a flat index that costs about an unfiltered search, while
# reading vectors from the catalog costs ~40 µs a segment (2,000 photos: 84 ms against 20 ms).
EXACT_MAX = 2048
EXACT_SHARE = 0.05
OVERFETCH = 1.5  # ask a source for n / share × 1.5 segments: the share is an average, not a promise
GROWTH = 4  # then 4x as many each round

_KINDS = {"photo": MediaKind.IMAGE, "photos": MediaKind.IMAGE, "image": MediaKind.IMAGE, "images": MediaKind.IMAGE,
          "video": MediaKind.VIDEO, "videos": MediaKind.VIDEO}  # fmt: skip


@dataclass(frozen=True)
class SearchFilter:
    """Which files a search may return; every condition given must hold (``None``: no condition).

    Attributes:
        kind: Photos (``MediaKind.IMAGE``) or videos only.
        under: A folder: absolute (a path prefix), or relative (whole folder names anywhere in the path, e.g.
            ``holiday/2024``, or ``rootname/rest`` as the web page shows paths).
        after: Taken (EXIF), else modified, at or after this time (seconds since the epoch).
        before: Taken (EXIF), else modified, before this time (seconds since the epoch).
        name_glob: The file name matches this shell pattern (``*cat*``; case ignored).
    """

    kind: MediaKind | None = None
    under: str | None = None
    after: float | None = None
    before: float | None = None
    name_glob: str | None = None

    @classmethod
    def parse(
        cls, kind: str | None = None, under: str | None = None, after: str | None = None, before: str | None = None,
        name: str | None = None,
    ) -> SearchFilter:  # fmt: skip
        """A filter from the words a user typed (CLI options, URL parameters); empty strings mean "no condition".

        ``kind``: ``photo`` or ``video``. ``after`` / ``before``: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or an ISO
        date-time, in local time unless it says its zone; a date covers the whole period (``--after 2024-03``
        from 1 March, ``--before 2024-03`` until the end of March).

        Raises:
            QueryError: one line naming the bad value.
        """
        start = _moment(after, "after", end=False) if after else None
        end = _moment(before, "before", end=True) if before else None
        if start is not None and end is not None and start >= end:
            raise QueryError(f"after {after} is not before before {before}: no date is in that range")
        return cls(_kind(kind) if kind else None, _folder(under) if under else None, start, end, _glob(name))

    @property
    def active(self) -> bool:
        """Some condition is set."""
        return any(value is not None for value in (self.kind, self.under, self.after, self.before, self.name_glob))

    def describe(self) -> str:
        """The conditions in words (``"photos only, under holiday, after 2024-03-01 00:00"``)."""
        words = []
        if self.kind is not None:
            words.append("photos only" if self.kind is MediaKind.IMAGE else "videos only")
        if self.under is not None:
            words.append(f"under {self.under}")
        if self.after is not None:
            words.append(f"after {_shown(self.after)}")
        if self.before is not None:
            words.append(f"before {_shown(self.before)}")
        if self.name_glob is not None:
            words.append(f"named {self.name_glob}")
        return ", ".join(words) or "no filter"

    def segments(self, catalog: Catalog) -> np.ndarray:
        """The segments this filter allows: ``int64[M]`` ids, ascending."""
        from mmir.index.filters import matching_segments

        return matching_segments(catalog, kind=self.kind, under=self.under, after=self.after, before=self.before,
                                 name_glob=self.name_glob)  # fmt: skip


# Per catalog, the allowed segments of the last few filters at a catalog generation: paging and new queries under the
# same filter (the web page keeps it while one types) skip the SQL (34 ms for "photos only" over 10,000 files). Any
# committed change, this process's or another's, bumps the generation, so a stale set is never used.
_ALLOWED: weakref.WeakKeyDictionary[Catalog, dict[tuple[SearchFilter, int], np.ndarray]] = weakref.WeakKeyDictionary()
_ALLOWED_KEPT = 16


def allowed_segments(flt: SearchFilter, catalog: Catalog) -> np.ndarray:
    """:meth:`SearchFilter.segments`, remembered until the catalog changes (read-only ``int64[M]``, ascending)."""
    kept = _ALLOWED.setdefault(catalog, {})
    key = (flt, catalog.generation)
    found = kept.get(key)
    if found is None:
        found = flt.segments(catalog)
        found.setflags(write=False)
        if len(kept) >= _ALLOWED_KEPT:
            kept.pop(next(iter(kept)))
        kept[key] = found
    return found


def _kind(text: str) -> MediaKind:
    kind = _KINDS.get(text.strip().lower())
    if kind is None:
        raise QueryError(f"kind must be photo or video, not {text!r}")
    return kind


def _folder(text: str) -> str:
    if "\x00" in text:
        raise QueryError("under: a folder name cannot hold a NUL character")
    if os.path.isabs(text):
        return os.path.normpath(text)
    parts = [part for part in text.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise QueryError(f"under: {text!r} climbs out with '..'; give a folder inside the collection")
    return "/".join(parts) if parts else "/"


def _glob(text: str | None) -> str | None:
    if not text:
        return None
    if "/" in text or "\x00" in text:
        raise QueryError(f"name: {text!r} is matched against file names only, which hold no '/' (use under)")
    return text


def _moment(text: str, label: str, end: bool) -> float:
    """Seconds since the epoch at which ``text`` starts (``end``: after which it ends, for a date or month)."""
    value = text.strip()
    try:
        parts = [int(part) for part in value.split("-")] if len(value) <= 10 and "T" not in value else []
        if 1 <= len(parts) <= 3 and len(str(parts[0])) == 4:
            year, month, day = (*parts, 1, 1)[:3]
            moment = datetime(year, month, day)
            if end:  # the start of the next year, month or day
                moment = _next(moment, len(parts))
            return moment.timestamp()
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError):
        raise QueryError(
            f"{label}: {text!r} is not a date (use YYYY-MM-DD, YYYY-MM, YYYY or YYYY-MM-DDTHH:MM)"
        ) from None


def _next(moment: datetime, precision: int) -> datetime:
    from datetime import timedelta

    if precision == 1:
        return moment.replace(year=moment.year + 1)
    if precision == 2:
        return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)
    return moment + timedelta(days=1)


def _shown(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")


def restrict(source: Source, allowed: np.ndarray, total: int) -> Source:
    """``source`` ranking only the ``allowed`` segments (``int64[M]`` ascending) of ``total`` in the collection."""
    if isinstance(source, ScoredSource):
        keep = np.isin(source.ids, allowed)
        return ScoredSource(source.ids[keep], source.scores[keep], source.explain, source.positive_only)
    if isinstance(source, VectorSource) and len(allowed) <= min(EXACT_MAX, EXACT_SHARE * total):
        return exact_vectors(source, allowed)
    return FilteredSource(source, allowed, total)


def exact_vectors(source: VectorSource, allowed: np.ndarray) -> ScoredSource:
    """The ``allowed`` segments scored exactly against ``source``'s query (their stored vectors, projected like
    the index; the query's own segments left out)."""
    store: SegmentStore = source.store
    wanted = allowed[~np.isin(allowed, source.exclude)]
    ids, vectors = store.source().fetch(wanted)
    query = store.project(source.vector)[0]
    scores = (np.asarray(vectors, np.float32) @ np.asarray(query, np.float32)).astype(np.float32)
    return ScoredSource(np.asarray(ids, np.int64), scores, source.explain)


class FilteredSource:
    """Any source, keeping only allowed segments: asks it for ``n / share`` segments and more until ``n`` pass.

    Args:
        inner: The query's source.
        allowed: Allowed segment ids ``int64[M]``, ascending.
        total: Segments in the collection (the share allowed sets the first depth).
    """

    def __init__(self, inner: Source, allowed: np.ndarray, total: int) -> None:
        self.inner = inner
        self.allowed = np.asarray(allowed, np.int64)
        self.share = max(len(self.allowed), 1) / max(total, len(self.allowed), 1)
        self.confidence = float(getattr(inner, "confidence", 1.0))  # the pipeline reads a keyword query's
        self._depth = 0  # the deepest depth asked so far: deeper rounds start there

    def top(self, n: int) -> Ranked:
        depth = max(self._depth, math.ceil(n / self.share * OVERFETCH))
        while True:
            checkpoint()
            ranked = self.inner.top(depth)
            keep = np.isin(ranked.ids, self.allowed)
            done = ranked.exhausted or len(ranked.ids) < depth
            if int(keep.sum()) >= n or done:
                self._depth = depth
                ids, scores = ranked.ids[keep], ranked.scores[keep]
                return Ranked(ids[:n], scores[:n], exhausted=done and len(ids) <= n)
            depth *= GROWTH

    def explain(self, ids: Sequence[int], scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        return self.inner.explain(ids, scores)

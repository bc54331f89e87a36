"""Candidate sources: each ranks the collection's segments for one query and yields ``(segment id, score)``.

A source answers :meth:`Source.top` for any depth ``n``: the grouping step (:mod:`mmir.search.grouping`) asks
for more when the segments it got fall into fewer than ``k`` distinct files (a video's shots can fill any
fixed over-fetch window). ``explain`` is asked only for the few segments finally shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from mmir.index.store import SegmentStore


@dataclass(frozen=True)
class Ranked:
    """A source's best segments, best first.

    Attributes:
        ids: ``int64[M]`` segment ids.
        scores: ``float32[M]`` their scores, higher is better, non-increasing.
        exhausted: The source has nothing beyond these (asking for more returns no more).
    """

    ids: np.ndarray
    scores: np.ndarray
    exhausted: bool


class Source(Protocol):
    """Ranks segments for one query."""

    def top(self, n: int) -> Ranked:
        """The ``n`` best segments (fewer when the source holds fewer; then ``exhausted``)."""
        ...

    def explain(self, ids: Sequence[int], scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        """Human-readable reasons for a few segments shown (``segment id → reasons``)."""
        ...


def ranked_from_arrays(ids: np.ndarray, scores: np.ndarray, n: int, positive_only: bool = False) -> Ranked:
    """The ``n`` best of ``ids int64[N]`` by ``scores float32[N]`` (ties: lower id first).

    With ``positive_only`` segments scoring 0 or less are left out (they do not match at all).
    """
    ids, scores = np.asarray(ids, np.int64), np.asarray(scores, np.float32)
    if positive_only:
        keep = scores > 0
        ids, scores = ids[keep], scores[keep]
    if 0 < n < len(scores):
        cut = np.partition(-scores, n - 1)[n - 1]
        part = np.flatnonzero(-scores <= cut)  # every tie at the cut: ties go by id below
    else:
        part = np.arange(len(scores))
    order = part[np.lexsort((ids[part], -scores[part]))][: max(n, 0)]
    return Ranked(ids[order], scores[order], exhausted=len(order) == len(scores))


class VectorSource:
    """Nearest segments of a query vector in the collection's vector index (cosine, ``[-1, 1]``).

    Args:
        store: The collection's store.
        vector: Raw query descriptor ``float32[1, D]`` (projected like the index by the store).
        why: Reason shown for every hit (its score is appended).
        exclude: Segment ids never returned (the query item itself).
    """

    # The index is asked for 2x the depth wanted (the grouping's first depth is already 2k): a crowding video rarely
    # needs a second scan, and a flat index's top-k heap costs more with k (4x: +2 % of a similar query's work).
    PREFETCH = 2

    def __init__(self, store: SegmentStore, vector: np.ndarray, why: str, exclude: Sequence[int] = ()) -> None:
        self.store = store
        self.vector = np.asarray(vector, np.float32).reshape(1, -1)
        self.why = why
        self.exclude = np.sort(np.asarray(exclude, np.int64))  # for a binary search (repeats do no harm)
        self._found: Ranked | None = None  # the deepest answer so far (its depth below)
        self._depth = 0

    def top(self, n: int) -> Ranked:
        if self._found is None or (n > self._depth and not self._found.exhausted):
            self._found, self._depth = self._search(n * self.PREFETCH), n * self.PREFETCH
        found = self._found
        return Ranked(found.ids[:n], found.scores[:n], found.exhausted and n >= len(found.ids))

    def _search(self, depth: int) -> Ranked:
        want = depth + len(self.exclude)
        found, ids = self.store.search(self.vector, want)  # k' = min(want, size) columns, -1 padded when short
        ids, scores = np.asarray(ids[0], np.int64), np.asarray(found[0], np.float32)
        exhausted = len(ids) < want or (len(ids) > 0 and ids[-1] < 0)  # padding comes last
        keep = ids >= 0 if exhausted else None
        if len(self.exclude):  # the query item's own segments (sorted: a binary search, cheaper than np.isin here)
            at = np.minimum(np.searchsorted(self.exclude, ids), len(self.exclude) - 1)
            out = self.exclude[at] != ids
            keep = out if keep is None else keep & out
        return Ranked(ids, scores, exhausted) if keep is None else Ranked(ids[keep], scores[keep], exhausted)

    def explain(self, ids: Sequence[int], scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        return {int(i): (f"{self.why} (cosine {s:.3f})",) for i, s in zip(ids, scores, strict=True)}


class ScoredSource:
    """A source over scores computed once for every segment (``ids int64[N]``, ``scores float32[N]``).

    Args:
        ids: Segment ids.
        scores: Their scores.
        explain: Reasons for a few segments, given their ids and scores.
        positive_only: Leave out segments scoring 0 or less.
    """

    def __init__(
        self, ids: np.ndarray, scores: np.ndarray,
        explain: Callable[[Sequence[int], Sequence[float]], dict[int, tuple[str, ...]]],
        positive_only: bool = False,
    ) -> None:  # fmt: skip
        self.ids, self.scores = ids, scores
        self._explain = explain
        self.positive_only = positive_only

    def top(self, n: int) -> Ranked:
        return ranked_from_arrays(self.ids, self.scores, n, self.positive_only)

    def explain(self, ids: Sequence[int], scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        return self._explain(ids, scores)

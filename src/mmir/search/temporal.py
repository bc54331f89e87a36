"""Temporal queries: a shot matching A followed, in the same video, by a shot matching B within T seconds.

This is the Video Browser Showdown systems' temporal query (vitrivr, VISIONE, SOMHunter). Each sub-query
(keywords or an example image) scores the segments on its own; a pair ``(a, b)`` of segments of one video
qualifies when ``b`` starts after ``a`` starts, at or after the end of ``a`` (minus a small slack for shots that
share a boundary frame), and no later than ``within_s`` seconds after it.

Score scale: a pair scores the geometric mean ``sqrt(score_a * score_b)`` of its sub-scores, each clipped to
[0, 1] first (keyword scores and cosine similarities already lie there), so **temporal scores lie in [0, 1]**
and are higher-is-better. Both halves are necessary: a sum let a confident A buy a pair whose B barely scored
(``"bus" --then "dog"`` ranked a video where no dog follows a bus first at 0.977 = bus 0.96 + "dog" 0.017); the
geometric mean of those is 0.13. A segment takes part in a sub-query only when it scores at least
:data:`MIN_SHARE` of that sub-query's best segment, so a shot in which B's concept has a trace probability (the
softmax gives every concept some) is not B at all. Each video contributes its best pair; videos are ranked by it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mmir.search.cancel import checkpoint
from mmir.types import DEFAULT_K, MediaRef, Segment

SLACK_S = 0.05
"""Seconds by which B may start before A ends (boundary frames are shared by neighbouring shots' times)."""

MIN_SHARE = 0.25
"""A segment matches a sub-query when it scores at least this share of the sub-query's best segment score."""


@dataclass(frozen=True)
class TemporalHit:
    """One video's best ``A then B`` pair.

    Attributes:
        media: The video.
        first: The segment matching A.
        second: The segment matching B (later, within the window).
        score: :func:`pair_score` of the two sub-scores, in [0, 1].
        why: Human-readable reasons.
    """

    media: MediaRef
    first: Segment
    second: Segment
    score: float
    why: tuple[str, ...]


def pair_score(score_a: float, score_b: float) -> float:
    """The score of an ``A then B`` pair: geometric mean of the sub-scores clipped to [0, 1] (so in [0, 1])."""
    return math.sqrt(min(max(score_a, 0.0), 1.0) * min(max(score_b, 0.0), 1.0))


def candidates(ids: np.ndarray, scores: np.ndarray, limit: int, min_share: float = MIN_SHARE) -> dict[int, float]:
    """The ``limit`` best segments that match a sub-query: ``{segment id: score}``.

    Args:
        ids: ``int64[M]`` segment ids.
        scores: ``float32[M]`` their sub-query scores (higher is better).
        limit: Most segments kept.
        min_share: A segment is kept only with a positive score of at least ``min_share`` times the best one.
    """
    order = np.argsort(-scores, kind="stable")[:limit]
    if not len(order):
        return {}
    floor = max(float(scores[order[0]]) * min_share, 0.0)
    return {int(ids[i]): float(scores[i]) for i in order if scores[i] > 0 and scores[i] >= floor}


def follows(seg_a: Segment, seg_b: Segment, within_s: float) -> bool:
    """Whether ``seg_b`` starts after ``seg_a`` (not before its end, minus :data:`SLACK_S`) within ``within_s``."""
    gap = seg_b.start_s - seg_a.end_s
    return seg_b.id != seg_a.id and seg_b.start_s > seg_a.start_s and -SLACK_S <= gap <= within_s


def then_within(
    first: Mapping[int, float],
    second: Mapping[int, float],
    rows: Mapping[int, tuple[MediaRef, Segment]],
    within_s: float,
    k: int = DEFAULT_K,
) -> list[TemporalHit]:
    """Best pairs ``A then B within within_s`` per video, best videos first (scores in [0, 1]).

    Args:
        first: ``{segment id: score}`` for A.
        second: ``{segment id: score}`` for B.
        rows: Media and segment of every id in ``first`` and ``second`` (unknown ids are ignored).
        within_s: Largest gap in seconds between the end of A's segment and the start of B's.
        k: Videos returned.
    """
    by_media: dict[int, list[tuple[Segment, float]]] = defaultdict(list)
    for sid, score in second.items():
        if sid in rows:
            media, segment = rows[sid]
            by_media[media.id].append((segment, score))
    best: dict[int, TemporalHit] = {}
    for sid, score_a in first.items():
        checkpoint()
        if sid not in rows:
            continue
        media, seg_a = rows[sid]
        for seg_b, score_b in by_media.get(media.id, ()):
            if not follows(seg_a, seg_b, within_s):
                continue
            total = pair_score(score_a, score_b)
            if media.id not in best or total > best[media.id].score:
                gap = max(seg_b.start_s - seg_a.end_s, 0.0)
                why = (
                    f"A {score_a:.3f} at {seg_a.start_s:.1f}-{seg_a.end_s:.1f} s",
                    f"then B {score_b:.3f} at {seg_b.start_s:.1f}-{seg_b.end_s:.1f} s ({gap:.1f} s later)",
                )
                best[media.id] = TemporalHit(media, seg_a, seg_b, total, why)
    return sorted(best.values(), key=lambda hit: -hit.score)[:k]

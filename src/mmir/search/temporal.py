"""Temporal queries: a shot matching A followed, in the same video, by a shot matching B within T seconds.

This is the Video Browser Showdown systems' temporal query (vitrivr, VISIONE, SOMHunter). Each sub-query
(keywords or an example image) scores the segments on its own; a pair ``(a, b)`` of segments of one video
qualifies when ``b`` starts at or after the end of ``a`` (minus a small slack for shots that share a boundary
frame) and no later than ``within_s`` seconds after it. The pair scores ``score_a + score_b`` — the sum keeps
both halves necessary (a zero for B cannot be compensated by a product's tiny value) and stays on the scale of
the sub-scores, higher-is-better. Each video contributes its best pair; videos are ranked by it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mmir.types import MediaRef, Segment

SLACK_S = 0.05
"""Seconds by which B may start before A ends (boundary frames are shared by neighbouring shots' times)."""


@dataclass(frozen=True)
class TemporalHit:
    """One video's best ``A then B`` pair.

    Attributes:
        media: The video.
        first: The segment matching A.
        second: The segment matching B (later, within the window).
        score: ``score_a + score_b``.
        why: Human-readable reasons.
    """

    media: MediaRef
    first: Segment
    second: Segment
    score: float
    why: tuple[str, ...]


def candidates(ids: np.ndarray, scores: np.ndarray, limit: int) -> dict[int, float]:
    """The ``limit`` best positive-scoring segments: ``{segment id: score}``."""
    order = np.argsort(-scores, kind="stable")[:limit]
    return {int(ids[i]): float(scores[i]) for i in order if scores[i] > 0}


def then_within(
    first: Mapping[int, float],
    second: Mapping[int, float],
    rows: Mapping[int, tuple[MediaRef, Segment]],
    within_s: float,
    k: int = 10,
) -> list[TemporalHit]:
    """Best pairs ``A then B within within_s`` per video, best videos first.

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
        if sid not in rows:
            continue
        media, seg_a = rows[sid]
        for seg_b, score_b in by_media.get(media.id, ()):
            gap = seg_b.start_s - seg_a.end_s
            if seg_b.id == seg_a.id or seg_b.start_s <= seg_a.start_s or not -SLACK_S <= gap <= within_s:
                continue
            total = score_a + score_b
            if media.id not in best or total > best[media.id].score:
                why = (
                    f"A {score_a:.3f} at {seg_a.start_s:.1f}-{seg_a.end_s:.1f} s",
                    f"then B {score_b:.3f} at {seg_b.start_s:.1f}-{seg_b.end_s:.1f} s ({max(gap, 0.0):.1f} s later)",
                )
                best[media.id] = TemporalHit(media, seg_a, seg_b, total, why)
    return sorted(best.values(), key=lambda hit: -hit.score)[:k]

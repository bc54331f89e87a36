"""Segment-level results → media-level results."""

from __future__ import annotations

from collections.abc import Iterable

from mmir.types import Hit


def best_per_media(hits: Iterable[Hit], k: int) -> list[Hit]:
    """Keep each file's best-scoring segment, best files first, at most ``k`` of them."""
    best: dict[int, Hit] = {}
    for hit in hits:
        current = best.get(hit.media.id)
        if current is None or hit.score > current.score:
            best[hit.media.id] = hit
    return sorted(best.values(), key=lambda hit: -hit.score)[:k]

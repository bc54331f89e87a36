"""A running top list: the best rows of a stream of blocks, in memory bounded by the list's size."""

from __future__ import annotations

import numpy as np


class RunningTop:
    """The ``size`` best ``(score, id)`` seen so far, ties to the lower id, with a payload row per id."""

    def __init__(self, size: int, payload_width: int) -> None:
        self.size = size
        self.ids = np.zeros(0, np.int64)
        self.scores = np.zeros(0, np.float32)
        self.payload = np.zeros((0, payload_width), np.float32)

    def offer(self, ids: np.ndarray, scores: np.ndarray, payload: np.ndarray | None = None) -> None:
        """Merge a block's ``ids int64[B]``, ``scores float32[B]`` and ``payload float32[B, P]`` (default: none)."""
        if payload is None:
            payload = np.zeros((len(ids), self.payload.shape[1]), np.float32)
        if 0 < self.size < len(scores):  # pre-select within the block (every tie at the cut kept: ties go by id)
            cut = np.partition(scores, len(scores) - self.size)[len(scores) - self.size]
            keep = np.flatnonzero(scores >= cut)
            ids, scores, payload = ids[keep], scores[keep], payload[keep]
        all_ids = np.concatenate([self.ids, ids])
        all_scores = np.concatenate([self.scores, scores])
        order = np.lexsort((all_ids, -all_scores))[: self.size]
        self.ids, self.scores = all_ids[order], all_scores[order]
        self.payload = np.concatenate([self.payload, payload])[order]

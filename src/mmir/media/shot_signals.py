"""Per-frame signals the fast shot detector reads: frame differences, their local level, mixes and dark runs.

Pure NumPy on the small ``uint8[N, h, w, 3]`` RGB frames of :class:`~mmir.media.video.VideoReader`; spans are
``(first, last)`` frame indices, inclusive. :class:`mmir.media.shots.FastDetector` turns them into transitions.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def colour_histograms(frames: np.ndarray, bins: int = 4) -> np.ndarray:
    """Joint RGB histograms ``float32[N, bins**3]`` of each frame, each row summing to 1."""
    n = len(frames)
    quantised = (frames.astype(np.int32) * bins) >> 8
    codes = ((quantised[..., 0] * bins + quantised[..., 1]) * bins + quantised[..., 2]).reshape(n, -1)
    offsets = (np.arange(n, dtype=np.int64) * bins**3)[:, None]
    counts = np.bincount((codes + offsets).ravel(), minlength=n * bins**3).reshape(n, bins**3)
    return (counts / max(codes.shape[1], 1)).astype(np.float32)


def cut_scores(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(score float32[N], grey float32[N, h*w])``: how much frame ``i`` differs from frame ``i - 1`` (0 at 0).

    The score in [0, 1] averages the colour-histogram distance (robust to motion) and four times the mean grey
    difference capped at 1 (catches cuts between shots of one palette); ``grey`` is in [0, 1].
    """
    grey = frames.astype(np.float32).mean(axis=3).reshape(len(frames), -1) / 255.0
    score = np.zeros(len(frames), np.float32)
    if len(frames) > 1:
        hist = colour_histograms(frames)
        d_hist = 0.5 * np.abs(np.diff(hist, axis=0)).sum(axis=1)
        d_pix = np.abs(np.diff(grey, axis=0)).mean(axis=1)
        score[1:] = 0.5 * (d_hist + np.minimum(4.0 * d_pix, 1.0))
    return score, grey


def local_level(score: np.ndarray, radius: int) -> np.ndarray:
    """``float32[N]``: median of the ``2 * radius`` scores around each frame, the frame itself left out.

    Frame 0's score (always 0) is left out too; near the ends the window holds fewer scores (at least one).
    """
    n = len(score)
    padded = np.full(n + 2 * radius, np.nan, np.float32)
    padded[radius : radius + n] = score
    padded[radius] = np.nan  # frame 0 has no predecessor
    windows = sliding_window_view(padded, 2 * radius + 1)
    around = np.delete(windows, radius, axis=1)
    with np.errstate(all="ignore"):
        level = np.nanmedian(np.where(np.isnan(around).all(axis=1, keepdims=True), 0.0, around), axis=1)
    return np.nan_to_num(level).astype(np.float32)


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` index of each run of ``True`` in a boolean vector."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def mixed_span(grey: np.ndarray, a: int, b: int, low: float = 0.1, high: float = 0.9,
               fit: float = 0.8) -> tuple[int, int] | None:  # fmt: skip
    """The frames between ``a`` and ``b`` that are a mix of the two (a dissolve's mixed frames), or ``None``.

    Each frame is projected on the line from frame ``a`` to frame ``b``: its mixing weight ``alpha`` is 0 at
    ``a``'s picture and 1 at ``b``'s. The mix spans the first frame past ``low`` to the last one short of
    ``high``; frames before and after (the still unmixed ends of the two shots) are left out.

    Args:
        grey: ``float32[N, P]`` grey frames.
        a: Index of a frame of the old shot.
        b: Index of a frame of the new shot (``b > a + 1``).
        low: Weight above which a frame has begun to mix.
        high: Weight under which it has not finished.
        fit: Largest mean distance of a mixed frame from its mix ``a + alpha * (b - a)``, as a share of the mean
            difference between ``a`` and ``b``; fast motion between two unlike frames is no mix of them.
    """
    direction = grey[b] - grey[a]
    norm = float(direction @ direction)
    if norm <= 0.0 or b <= a + 1:
        return None
    frames = grey[a : b + 1]
    alpha = (frames - grey[a]) @ direction / norm
    mixing = np.flatnonzero((alpha > low) & (alpha < high))
    if len(mixing) == 0:
        return None
    first, last = int(mixing[0]), int(mixing[-1])
    residual = np.abs(frames[first : last + 1] - (grey[a] + alpha[first : last + 1, None] * direction)).mean(axis=1)
    if residual.max() > fit * float(np.abs(direction).mean()) or (np.diff(alpha[first : last + 1]) < -0.05).any():
        return None  # not a mix of the two ends, or the weight goes back: motion, not a dissolve
    return a + first, a + last


def dark_runs(grey: np.ndarray, dark: float = 0.08, flat: float = 0.05) -> list[tuple[int, int]]:
    """Runs of dark, flat frames (black or nearly): mean grey under ``dark`` and spread under ``flat``."""
    return true_runs((grey.mean(axis=1) < dark) & (grey.std(axis=1) < flat))


def brightness_ramp(mean: np.ndarray, start: int, step: int, reach: int, rise: float = 0.03) -> int:
    """How far a fade reaches from the dark frame ``start`` in direction ``step`` (-1 back, +1 on).

    The ramp goes on while each frame is at least ``rise`` (relative) brighter than the one nearer the dark
    frames. A cut out of black has no ramp: the first bright frame is as bright as the next.

    Returns:
        The index of the outermost faded frame (``start`` when there is none). The walk's own last step reaches
        the unfaded frame it was compared against, which belongs to the shot, so it is left out.
    """
    n, end = len(mean), start
    while 0 <= end + step < n and abs(end - start) < reach:
        nxt = end + step
        if mean[nxt] <= mean[end] * (1.0 + rise) + 2e-3:
            break
        end = nxt
    return end - step if end != start else start

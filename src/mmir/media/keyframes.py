"""Keyframes of a shot: the candidate nearest the middle or the mean feature, and blank-frame detection.

Pure functions of candidate features and times (see :mod:`mmir.media.shots` for the shots themselves).
"""

from __future__ import annotations

import enum

import numpy as np


class KeyframeStrategy(str, enum.Enum):
    """How keyframes are chosen among a shot's candidate frames."""

    MIDDLE = "middle"  # the candidate nearest the middle of the shot (or of each part)
    MEAN = "mean"  # the candidate nearest the mean feature of the shot (or of each part), as vitrivr does


def select_keyframes(
    features: np.ndarray, times: np.ndarray, count: int = 1, strategy: KeyframeStrategy = KeyframeStrategy.MEAN
) -> list[int]:
    """Indices of up to ``count`` keyframes among a shot's candidate frames, in time order.

    The shot is cut into ``count`` equal parts in time; each part contributes the candidate nearest its middle
    (``MIDDLE``) or nearest its mean feature (``MEAN``, representative when the camera moves).

    Args:
        features: ``float32[n, F]`` one feature row per candidate (e.g. descriptors or tiny images).
        times: ``float64[n]`` candidate times, ascending.
        count: Keyframes wanted (1–3 in practice); fewer if there are fewer candidates.
        strategy: How each part's keyframe is chosen.
    """
    n = len(times)
    if n == 0:
        return []
    count = max(1, min(count, n))
    edges = np.linspace(float(times[0]), float(times[-1]) + 1e-9, count + 1)
    chosen: list[int] = []
    for k in range(count):
        members = np.flatnonzero((times >= edges[k]) & (times < edges[k + 1]))
        if len(members) == 0:
            continue
        if strategy is KeyframeStrategy.MIDDLE:
            middle = 0.5 * (edges[k] + edges[k + 1])
            pick = members[int(np.argmin(np.abs(times[members] - middle)))]
        else:
            part = features[members].astype(np.float32)
            centre = part.mean(axis=0)
            pick = members[int(np.argmin(((part - centre) ** 2).sum(axis=1)))]
        chosen.append(int(pick))
    return sorted(set(chosen))


def is_uniform(image: np.ndarray, max_std: float = 8.0) -> bool:
    """Whether a frame is blank: black, white or one flat colour (luma standard deviation ≤ ``max_std``).

    Such keyframes say nothing about their video; near-duplicate detection down-weights them so that two
    videos that both open on black are not called duplicates.

    Args:
        image: ``uint8[H, W, 3]`` RGB.
        max_std: Largest standard deviation of the grey level (0–255) of a uniform frame.
    """
    grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return float(grey.std()) <= max_std

"""Fusing descriptor channels: early fusion (weighted concatenation) and late fusion (score combination).

- **Early fusion** concatenates the channels' unit vectors, each scaled by ``√(w_c / Σw)``: the fused vector has
  unit length and its inner product with another fused vector is ``Σ_c (w_c / Σw) · cos_c``, the weighted mean
  of the channels' cosine similarities. One vector, one index.
- **Late fusion** searches each channel on its own and combines the score lists: every channel's scores over
  the collection are z-normalised per query (mean 0, standard deviation 1), so a channel whose cosines all sit
  near 0.9 (colour) does not drown one whose cosines spread over [0, 1] (CNN); then the weighted mean is taken.

The two differ only in that per-query normalisation. Default weights (:data:`DEFAULT_WEIGHTS`): CNN 1, colour
0.5, every other engineered channel 0.25; the CNN descriptor is the strongest alone on our benchmarks
(``benchmarks/descriptors.py``), the engineered ones add what it ignores (exact colours, texture statistics).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mmir.errors import QueryError

DEFAULT_WEIGHTS: dict[str, float] = {"cnn": 1.0, "colour": 0.5, "lbp": 0.25, "hog": 0.25, "bovw": 0.25}


def parse_weights(text: str) -> dict[str, float]:
    """``"cnn=1,colour=0.5"`` → ``{"cnn": 1.0, "colour": 0.5}``.

    Raises:
        QueryError: for a malformed entry or a negative weight.
    """
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError as exc:
            raise QueryError(f"fusion weight {part!r} is not NAME=NUMBER") from exc
        if weight < 0:
            raise QueryError(f"fusion weight {part!r} is negative")
        weights[name.strip()] = weight
    return weights


def _normalised_weights(names: list[str], weights: Mapping[str, float]) -> dict[str, float]:
    """The weights of ``names`` (missing → :data:`DEFAULT_WEIGHTS`, else 1) divided by their sum."""
    chosen = {name: float(weights.get(name, DEFAULT_WEIGHTS.get(name, 1.0))) for name in names}
    total = sum(chosen.values())
    if total <= 0:
        raise QueryError(f"fusion weights of {names} sum to zero")
    return {name: w / total for name, w in chosen.items()}


def early_fusion(channels: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted concatenation of per-channel unit rows: ``float32[N, ΣK_c]`` of unit length.

    Args:
        channels: ``{name: float32[N, K_c]}`` (rows are L2-normalised here).
        weights: Per-channel weight; see :func:`_normalised_weights`.
    """
    names = list(channels)
    share = _normalised_weights(names, weights)
    parts = []
    for name in names:
        x = np.atleast_2d(np.asarray(channels[name], np.float32))
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        parts.append(x * np.float32(np.sqrt(share[name])))
    return np.concatenate(parts, axis=1)


def early_fusion_scores(scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Early fusion from per-channel cosines: ``Σ_c (w_c / Σw) · cos_c``, ``float32[...]``.

    The inner product of two :func:`early_fusion` vectors, computed from each channel's own index (so the fused
    vectors never need an index of their own, and the weights can change per query).

    Args:
        scores: ``{name: float32[...]}`` cosine similarities of the same items in every channel.
        weights: Per-channel weight; see :func:`_normalised_weights`.
    """
    share = _normalised_weights(list(scores), weights)
    return np.sum([share[name] * np.asarray(s, np.float32) for name, s in scores.items()], axis=0).astype(np.float32)


def zscore(scores: np.ndarray) -> np.ndarray:
    """``float32[N]`` scores shifted to mean 0 and scaled to standard deviation 1 (constant scores → 0)."""
    s = np.asarray(scores, np.float64)
    spread = s.std()
    return ((s - s.mean()) / spread if spread > 1e-12 else np.zeros_like(s)).astype(np.float32)


def late_fusion(scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted mean of per-channel z-normalised scores: ``float32[N]`` (higher is better).

    Args:
        scores: ``{name: float32[N]}`` one query's scores of the same ``N`` items in every channel.
        weights: Per-channel weight; see :func:`_normalised_weights`.
    """
    names = list(scores)
    share = _normalised_weights(names, weights)
    return np.sum([share[name] * zscore(scores[name]) for name in names], axis=0).astype(np.float32)

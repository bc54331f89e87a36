"""Fusing descriptor channels: early fusion (weighted concatenation) and late fusion (score combination).

- **Early fusion** concatenates the channels' unit vectors, each scaled by ``√(w_c / Σw)``: the fused vector has
  unit length and its inner product with another fused vector is ``Σ_c (w_c / Σw) · cos_c``, the weighted mean
  of the channels' cosine similarities; search computes exactly that from each channel's own index
  (:func:`early_fusion_scores`), so the weights can change per query.
- **Late fusion** searches each channel on its own and combines the score lists: every channel's scores over
  the collection are z-normalised per query (mean 0, standard deviation 1), so a channel whose cosines all sit
  near 0.9 (colour) does not drown one whose cosines spread over [0, 1] (CNN); then the weighted mean is taken.

The two differ only in that per-query normalisation. Default weights (:data:`DEFAULT_WEIGHTS` for late,
:data:`DEFAULT_EARLY_WEIGHTS` for early fusion) were CHOSEN ON VALIDATION QUERIES by ``benchmarks/descriptors.py``
(seed 0): CNN 1, each engineered channel from {0, 1/8, 1/4, 1/2, 1} by coordinate ascent on the mean of three
validation figures (near-duplicate R@1 on our edits of COCO-mini photos, category mAP on CIFAR-10 and on
Fashion-MNIST); the test halves of those queries report the figures. Colour and the bag of words got weight 0
in late fusion (they cost category mAP more than they add to near-duplicates); texture (LBP) and HOG add a little
to Fashion-MNIST. A channel of weight 0 is not searched (:func:`weighted_channels`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mmir.errors import QueryError

DEFAULT_WEIGHTS: dict[str, float] = {"cnn": 1.0, "colour": 0.0, "lbp": 0.25, "hog": 0.125, "bovw": 0.0}
"""Late fusion's default weights (validated, see above)."""
DEFAULT_EARLY_WEIGHTS: dict[str, float] = {"cnn": 1.0, "colour": 0.125, "lbp": 1.0, "hog": 0.25, "bovw": 0.0}
"""Early fusion's default weights (validated, see above)."""


def parse_weights(text: str) -> dict[str, float]:
    """``"cnn=1,colour=0.5"`` → ``{"cnn": 1.0, "colour": 0.5}``.

    Raises:
        QueryError: for a malformed entry, a negative weight or an unknown channel name (a misspelling would
            otherwise be silently ignored).
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
        if name.strip() not in DEFAULT_WEIGHTS:
            raise QueryError(f"fusion weight {part!r}: unknown channel {name.strip()!r}; "
                             f"choose from {', '.join(DEFAULT_WEIGHTS)}")  # fmt: skip
        weights[name.strip()] = weight
    return weights


def _normalised_weights(
    names: list[str], weights: Mapping[str, float], defaults: Mapping[str, float] = DEFAULT_WEIGHTS
) -> dict[str, float]:
    """The weights of ``names`` (see :func:`_chosen_weights`) divided by their sum."""
    chosen = _chosen_weights(names, weights, defaults)
    total = sum(chosen.values())
    if total <= 0:
        raise QueryError(f"fusion weights of {names} sum to zero")
    return {name: w / total for name, w in chosen.items()}


def weighted_channels(names: list[str], weights: Mapping[str, float], early: bool = False) -> list[str]:
    """The channels of ``names`` whose weight (given, else the default of that fusion, else 1) is above 0."""
    chosen = _chosen_weights(names, weights, DEFAULT_EARLY_WEIGHTS if early else DEFAULT_WEIGHTS)
    return [name for name, weight in chosen.items() if weight > 0]


def _chosen_weights(names: list[str], weights: Mapping[str, float], defaults: Mapping[str, float]) -> dict[str, float]:
    """The weight of each of ``names``: given in ``weights``, else in ``defaults``, else 1."""
    return {name: float(weights.get(name, defaults.get(name, 1.0))) for name in names}


def early_fusion(channels: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted concatenation of per-channel unit rows: ``float32[N, ΣK_c]`` of unit length.

    Args:
        channels: ``{name: float32[N, K_c]}`` (rows are L2-normalised here).
        weights: Per-channel weight; see :func:`_normalised_weights`.
    """
    names = list(channels)
    share = _normalised_weights(names, weights, DEFAULT_EARLY_WEIGHTS)
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
    share = _normalised_weights(list(scores), weights, DEFAULT_EARLY_WEIGHTS)
    return np.sum([share[name] * np.asarray(s, np.float32) for name, s in scores.items()], axis=0).astype(np.float32)


def zscore(scores: np.ndarray) -> np.ndarray:
    """Scores ``float32[..., N]`` shifted to mean 0 and scaled to standard deviation 1 along the last axis (one
    query's scores of ``N`` items per row; constant scores → 0)."""
    s = np.asarray(scores, np.float64)
    spread = s.std(axis=-1, keepdims=True)
    centred = s - s.mean(axis=-1, keepdims=True)
    return np.where(spread > 1e-12, centred / np.maximum(spread, 1e-12), 0.0).astype(np.float32)


def late_fusion(scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted mean of per-channel z-normalised scores: ``float32[..., N]`` (higher is better).

    Args:
        scores: ``{name: float32[..., N]}`` the scores of the same ``N`` items in every channel, one query per
            row (each row is z-normalised on its own).
        weights: Per-channel weight; see :func:`_normalised_weights`.
    """
    names = list(scores)
    share = _normalised_weights(names, weights)
    return np.sum([share[name] * zscore(scores[name]) for name in names], axis=0).astype(np.float32)

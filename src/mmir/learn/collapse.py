"""Detecting a collapsed embedding, the classic failure of triplet training (too-large learning rate or
too-hard negatives): every item mapped to one point, or the loss stuck at the margin."""

from __future__ import annotations

import numpy as np
import torch

from mmir.errors import MmirError


class CollapseError(MmirError):
    """Training collapsed: every item is mapped to (almost) the same embedding."""


def embedding_variance(embeddings: np.ndarray | torch.Tensor) -> float:
    """Total variance (trace of the covariance) of ``[N, D]`` embeddings; 0 for a collapsed embedding."""
    values = torch.as_tensor(embeddings, dtype=torch.float32)
    if values.shape[0] < 2:
        return 0.0
    return float(values.var(dim=0).sum())


def detect_collapse(
    embeddings: np.ndarray | torch.Tensor,
    recent_losses: list[float],
    margin: float,
    collapse_variance: float = 1e-3,
) -> str | None:
    """Why training looks collapsed, or ``None`` if it does not.

    Two symptoms: the embeddings' total variance has fallen towards 0 (L2-normalised random vectors have total
    variance ≈ 1), or the triplet loss sits at the margin, which is its value when anchor, positive and
    negative coincide (``d(a,p) = d(a,n)``).

    Args:
        embeddings: ``float[N, D]`` L2-normalised embeddings of a sample of the data.
        recent_losses: Mean loss of the last epochs (at least two are needed for the margin test).
        margin: The loss margin.
        collapse_variance: Total variance below which the embedding counts as collapsed.
    """
    threshold = collapse_variance
    variance = embedding_variance(embeddings)
    if variance < threshold:
        return (
            f"embedding collapsed: total variance {variance:.2e} < {threshold:.0e} (all items map to one point); "
            "lower the learning rate, use --miner semihard instead of hard, or a smaller margin"
        )
    tail = recent_losses[-2:]
    if len(tail) == 2 and margin > 0 and all(abs(value - margin) < 0.01 * margin for value in tail):
        return (
            f"loss stuck at the margin ({tail[-1]:.4f} ≈ {margin}): positives and negatives are not being separated; "
            "lower the learning rate or use --miner semihard"
        )
    return None

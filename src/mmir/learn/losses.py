"""The training losses: softmax cross-entropy, sigmoid binary cross-entropy and mean squared error."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from mmir.learn.recipe import ClassificationLoss, RecipeError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def as_dense_targets(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices ``int64[B]`` → one-hot ``float32[B, K]``; dense ``float32[B, K]`` pass through."""
    if targets.dtype == torch.int64:
        return F.one_hot(targets, num_classes).to(torch.float32)
    return targets.to(torch.float32)


def make_loss(kind: ClassificationLoss, *, multi_label: bool, label_smoothing: float = 0.0) -> LossFn:
    """The loss ``(logits float32[B, K], targets) → scalar mean over the batch``.

    Targets: class indices ``int64[B]`` for exclusive classes, or multi-hot ``float32[B, K]`` for multi-label.

    - ``CROSS_ENTROPY``: ``-log softmax(z)_y`` (exclusive classes only), with optional label smoothing.
    - ``BCE``: ``-[t log σ(z) + (1-t) log(1-σ(z))]`` averaged over classes and batch.
    - ``MSE``: ``(z - t)²`` averaged over classes and batch, ``t`` one-/multi-hot (the logits regress it).
    """
    kind = ClassificationLoss(kind)
    if kind is ClassificationLoss.CROSS_ENTROPY:
        if multi_label:
            raise RecipeError("softmax cross-entropy assumes exclusive classes; use --loss bce for multi-label data")
        return lambda z, t: F.cross_entropy(z, t, label_smoothing=label_smoothing)
    if kind is ClassificationLoss.BCE:
        return lambda z, t: F.binary_cross_entropy_with_logits(z, as_dense_targets(t, z.shape[1]))
    return lambda z, t: F.mse_loss(z, as_dense_targets(t, z.shape[1]))

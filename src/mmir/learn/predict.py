"""Running a trained classifier over in-memory images, and validation metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mmir.evaluate.classification import mean_average_precision, topk_error
from mmir.learn.datasets import LabelledImages
from mmir.learn.losses import LossFn


class Normaliser:
    """``uint8[B, C, H, W]`` → ``float32[B, C, H, W]`` standardised with per-channel training statistics."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return (images.to(torch.float32) / 255.0 - self.mean) / self.std


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, norm: Normaliser, batch_size: int = 256) -> torch.Tensor:
    """Logits ``float32[N, K]`` of ``model`` (put in eval mode) on ``uint8[N, C, H, W]`` images."""
    model.eval()
    chunks = [
        model(norm(images[i : i + batch_size]).contiguous(memory_format=torch.channels_last))
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(chunks) if chunks else torch.zeros((0, 0))


def evaluate_split(
    model: nn.Module, data: LabelledImages, norm: Normaliser, loss_fn: LossFn, batch_size: int = 256
) -> dict[str, float]:
    """Validation loss plus top-1/top-5 error (exclusive classes) or mAP (multi-label).

    Every figure is ``nan`` when the split is empty or the model has diverged (a non-finite logit): such an epoch
    has no error to rank, and :func:`mmir.learn.trainer.train_classifier` never keeps it as the best one.
    """
    if len(data) == 0:
        return {"val_loss": math.nan, "val_error": math.nan}
    logits = predict_logits(model, data.images, norm, batch_size)
    if not bool(torch.isfinite(logits).all()):
        undefined = ("val_map",) if data.multi_label else ("val_top5_error",)
        return {"val_loss": math.nan, "val_error": math.nan, **{key: math.nan for key in undefined}}
    row = {"val_loss": float(loss_fn(logits, data.targets))}
    scores = logits.numpy()
    if data.multi_label:
        mean_ap, _ = mean_average_precision(scores, data.targets.numpy())
        row.update(val_map=mean_ap, val_error=1.0 - mean_ap)
    else:
        labels = data.targets.numpy()
        row.update(val_error=topk_error(scores, labels, 1), val_top5_error=topk_error(scores, labels, 5))
    return row


def scores_from_logits(logits: torch.Tensor, multi_label: bool) -> np.ndarray:
    """Probabilities ``float32[N, K]``: softmax for exclusive classes, sigmoid for multi-label."""
    probs = torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=1)
    return probs.numpy().astype(np.float32)

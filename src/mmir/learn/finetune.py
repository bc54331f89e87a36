"""Metric learning of the backbone's last blocks (the second mode of ``mmir train metric``).

The frozen trunk runs once over the training images and its activations are kept in memory; only the tail
(the last MBConv blocks, the head convolution and a learnable GeM) is trained on them, with the same losses,
miners and P×K sampler as the projection head (:func:`mmir.learn.metric.train_embedding`). Running the trunk
once makes this affordable on a CPU; the price is that image augmentation cannot be used. The result is by default
averaged, weight by weight, with the pretrained tail (WiSE-FT, Wortsman et al. 2022): fine-tuning on a few groups
improves those groups but loses generality, and the weight-space average keeps most of the gain while doing
better on images unlike the training ones (see ``benchmarks/retrieval_fashion_mnist.py``, unseen classes). Memory: one
activation per image, e.g. 112×14×14 floats (88 KB) when the last 5 blocks of Lite0 are trained at 224 px.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mmir.learn.metric import EpochStats, MetricConfig, TrainHistory, train_embedding
from mmir.models.efficientnet import split_efficientnet
from mmir.models.finetuned import EfficientNetTail, EfficientNetTrunk


@dataclass
class FineTuned:
    """A fine-tuning run's result: the frozen trunk, the trained tail and the training history."""

    trunk: EfficientNetTrunk
    tail: EfficientNetTail
    history: TrainHistory


def trunk_activations(
    trunk: EfficientNetTrunk, batches: Iterable[torch.Tensor], total: int | None = None, progress: bool = True
) -> torch.Tensor:
    """Run the frozen trunk over preprocessed batches ``float32[B, 3, H, W]``; returns ``float32[N, C, h, w]``."""
    parts = []
    with torch.no_grad():  # not inference_mode: training later indexes these tensors under autograd
        for batch in tqdm(batches, total=total, desc="trunk", unit="batch", leave=False, disable=not progress):
            parts.append(trunk(batch))
    if not parts:
        raise ValueError("no images to fine-tune on")
    return torch.cat(parts)


def interpolate_weights(pretrained: nn.Module, finetuned: nn.Module, alpha: float) -> None:
    """Set ``finetuned``'s floating-point weights to ``alpha·finetuned + (1 - alpha)·pretrained`` (in place).

    Raises:
        ValueError: if ``alpha`` is outside ``[0, 1]`` or the two modules differ in structure.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"the interpolation weight must be in [0, 1], got {alpha}")
    start, end = pretrained.state_dict(), finetuned.state_dict()
    if start.keys() != end.keys():
        raise ValueError("cannot interpolate between modules of different structure")
    mixed = {
        key: torch.lerp(start[key], value, alpha) if value.is_floating_point() else value for key, value in end.items()
    }
    finetuned.load_state_dict(mixed)


def finetune_tail(
    base: str,
    batches: Iterable[torch.Tensor],
    labels: np.ndarray,
    config: MetricConfig,
    train_blocks: int = 2,
    alpha: float = 0.5,
    total_batches: int | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> FineTuned:
    """Fine-tune the last ``train_blocks`` blocks of the bundled ``base`` so that same-label images embed close.

    Args:
        base: ``efficientnet-lite0`` or ``efficientnet-lite2``.
        batches: Preprocessed images ``float32[B, 3, H, W]``, in the order of ``labels``.
        labels: ``int[N]`` group of each image.
        config: Loss, miner, sampler and optimiser (a small learning rate suits pretrained layers, e.g. 1e-4).
        train_blocks: How many MBConv blocks, counted from the end, are trained (the head convolution and the
            GeM exponent always are).
        alpha: Weight of the fine-tuned tail in the final weight-space average with the pretrained one
            (1 = fine-tuned only, 0 = pretrained only).
        total_batches: Length of ``batches`` for the progress bar.
        progress: Show progress bars.
        on_epoch: Called with each epoch's figures.

    Raises:
        CollapseError: if the embedding collapses.
        ModelError: if ``train_blocks`` does not fit the network.
    """
    torch.manual_seed(config.seed)
    trunk, tail, _ = split_efficientnet(base, train_blocks)
    pretrained = copy.deepcopy(tail)
    activations = trunk_activations(trunk, batches, total_batches, progress)
    if len(activations) != len(labels):
        raise ValueError(f"{len(activations)} images but {len(labels)} labels")
    history = train_embedding(tail, activations, labels, config, progress=progress, on_epoch=on_epoch)
    interpolate_weights(pretrained, tail, alpha)
    return FineTuned(trunk, tail.eval(), history)

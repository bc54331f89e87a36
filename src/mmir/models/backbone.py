"""A backbone: a CNN split into a feature extractor and a classifier, with its weights described as data.

The split follows timm's ``forward_features`` / ``forward_head``: ``features`` maps ``[B, 3, H, W]`` to the last
feature map ``[B, D, h, w]``; ``classifier`` maps that map to ``[B, C]`` class logits (the concept branch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mmir.models.weights import Preprocessing

TailSplit = Callable[[int], tuple[nn.Module, nn.Module, nn.Module]]


class Lambda(nn.Module):
    """Wraps a function of a tensor (e.g. a bound ``forward_features``) as a module, keeping ``owner``'s weights."""

    def __init__(self, owner: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.owner = owner
        self._fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(x)


@dataclass(frozen=True, eq=False)
class Backbone:
    """A loaded CNN and everything needed to use it.

    Attributes:
        name: Name shown to users (``efficientnet-lite0``, ``torchvision:resnet50``).
        features: ``[B, 3, H, W] -> [B, D, h, w]``.
        classifier: ``[B, D, h, w] -> [B, C]`` logits, or ``None`` for a descriptor-only network.
        concept_names: The ``C`` class names (ImageNet synset ids for ImageNet heads).
        preprocessing: Input preprocessing the weights were trained with.
        dim: ``D``.
        weights_id: Name plus a hash of the weights file (part of every fingerprint).
        multilabel: Concept probabilities by sigmoid instead of softmax.
        split_tail: For networks whose last blocks can be fine-tuned: ``start block -> (trunk, rest, tail)`` where
            ``rest(trunk(x)) == features(x)`` and ``tail`` is a trainable copy of ``rest`` with GeM pooling.
    """

    name: str
    features: nn.Module
    classifier: nn.Module | None
    concept_names: tuple[str, ...]
    preprocessing: Preprocessing
    dim: int
    weights_id: str
    multilabel: bool = False
    split_tail: TailSplit | None = None

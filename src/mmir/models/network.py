"""The composed encoder network: one ``nn.Module`` from an image batch to descriptors and concept logits.

Built by :mod:`mmir.models.factory` from an :class:`~mmir.models.spec.EncoderSpec` and a loaded
:class:`~mmir.models.backbone.Backbone`; the same module runs eagerly in PyTorch and is exported to ONNX.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmir.models.backbone import Backbone
from mmir.models.pooling import multiscale_pool, pool
from mmir.models.spec import EncoderSpec


class EncoderNet(nn.Module):
    """``float32[B, 3, H, W] -> (descriptors float32[B, E] L2-normalised, concepts float32[B, C])``.

    Pipeline: backbone features → pooling (single or multi-scale) → optional projection head → L2 normalisation;
    with a fine-tuned tail, the descriptor branch runs the tail on the shared trunk output while the concept
    branch keeps the original layers. Concepts are softmax (or sigmoid for multi-label) of the classifier.

    Args:
        backbone: The loaded backbone.
        spec: The encoder's spec (pooling, scales, head kind).
        projection: The loaded projection head, when the spec names one.
        tail: ``(trunk, rest, tail)`` from :attr:`Backbone.split_tail` with the fine-tuned weights loaded into
            ``tail``, when the spec names a fine-tuned tail.
    """

    def __init__(
        self,
        backbone: Backbone,
        spec: EncoderSpec,
        projection: nn.Module | None = None,
        tail: tuple[nn.Module, nn.Module, nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.multilabel = backbone.multilabel
        self.features = backbone.features
        self.classifier = backbone.classifier
        self.projection = projection
        self.trunk: nn.Module | None = tail[0] if tail is not None else None
        self.rest: nn.Module | None = tail[1] if tail is not None else None
        self.tail: nn.Module | None = tail[2] if tail is not None else None
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, 3, H, W] -> ([B, E], [B, C])``; ``C = 0`` for a backbone without classifier."""
        if self.tail is not None:
            assert self.trunk is not None and self.rest is not None
            shared = self.trunk(x)
            fmap = self.rest(shared)
            descriptors = self.tail(shared)
        else:
            fmap = self.features(x)
            descriptors = self._pooled(x, fmap)
        if self.projection is not None:
            descriptors = self.projection(F.normalize(descriptors, dim=-1))
        descriptors = F.normalize(descriptors, dim=-1)
        if self.classifier is None:
            return descriptors, torch.zeros((x.shape[0], 0), dtype=x.dtype)
        logits = self.classifier(fmap)
        concepts = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=-1)
        return descriptors, concepts

    def _pooled(self, x: torch.Tensor, fmap: torch.Tensor) -> torch.Tensor:
        scales = self.spec.scales
        descriptors = F.normalize(pool(fmap, self.spec.pooling), dim=-1)
        others = tuple(scale for scale in scales if scale != 1.0)
        if not others:
            return descriptors
        # multiscale_pool averages the other scales; weigh that mean by their count, then add scale 1.
        rest = multiscale_pool(self.features, x, self.spec.pooling, others)
        return descriptors * float(1.0 in scales) + rest * len(others)


class DescriptorsOnly(nn.Module):
    """``EncoderNet`` without its concept output, for exporting a descriptor-only network (ONNX has no use for
    an empty ``[B, 0]`` output)."""

    def __init__(self, net: EncoderNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W] -> [B, E]``."""
        return self.net(x)[0]

"""Encoders turn images into an L2-normalised descriptor and concept probabilities in one pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from mmir.models.pooling import Pooling, multiscale_pool, pool

if TYPE_CHECKING:
    import torch
    from PIL import Image


@dataclass(frozen=True)
class Encoded:
    """The output of an encoder for a batch of ``B`` images.

    Attributes:
        descriptors: ``float32[B, D]``, L2-normalised rows.
        concepts: ``float32[B, C]`` concept presence probabilities.
    """

    descriptors: np.ndarray
    concepts: np.ndarray


@runtime_checkable
class Encoder(Protocol):
    """What the indexing pipeline and the search engine need from a model."""

    name: str
    dim: int
    concept_names: tuple[str, ...]
    fingerprint: str
    transform: Callable[..., torch.Tensor]
    input_side: int

    def encode(self, images: Sequence[Image.Image]) -> Encoded:
        """Encode RGB PIL images (any size) into descriptors and concept probabilities."""
        ...

    def encode_tensor(self, batch: torch.Tensor) -> Encoded:
        """Encode an already preprocessed batch ``float32[B, 3, H, W]``."""
        ...


FeatureFn = Callable[["torch.Tensor"], "torch.Tensor"]


class BackboneEncoder:
    """An :class:`Encoder` over a CNN split into a feature extractor and a classifier head.

    Args:
        name: Model name shown to users.
        features: ``[B, 3, H, W] -> [B, D, h, w]`` last convolutional feature map.
        head: ``[B, D, h, w] -> [B, C]`` class logits, or ``None`` for a descriptor-only model.
        concept_names: The ``C`` concept names (e.g. ImageNet synset ids).
        transform: PIL image -> ``[3, H, W]`` tensor.
        fingerprint: Identifies the weights (name + hash); indexes refuse another fingerprint.
        dim: ``D``.
        input_side: Shorter image side the transform resizes to (lets decoders skip detail).
        pooling: How the feature map becomes the descriptor.
        multilabel: Concept probabilities by sigmoid (multi-label) instead of softmax.
        scales: Input scales whose pooled, L2-normalised descriptors are averaged (multi-scale extraction);
            concepts always come from scale 1.
    """

    def __init__(
        self,
        *,
        name: str,
        features: FeatureFn,
        head: FeatureFn | None,
        concept_names: Sequence[str],
        transform: Callable[..., torch.Tensor],
        fingerprint: str,
        dim: int,
        input_side: int = 224,
        pooling: Pooling = Pooling.GEM,
        multilabel: bool = False,
        scales: tuple[float, ...] = (1.0,),
    ) -> None:
        self.name = name
        self.dim = dim
        self.input_side = input_side
        self.concept_names = tuple(concept_names)
        self.transform = transform
        self.pooling = pooling
        self.scales = tuple(scales)
        multi = "" if self.scales == (1.0,) else "@" + ",".join(f"{scale:.3g}" for scale in self.scales)
        self.fingerprint = f"{fingerprint}/{pooling.value}{multi}"
        self._features = features
        self._head = head
        self._multilabel = multilabel

    def encode(self, images: Sequence[Image.Image]) -> Encoded:
        """Encode RGB PIL images; returns ``Encoded`` with ``B = len(images)`` rows."""
        import torch

        if not images:
            return Encoded(np.zeros((0, self.dim), np.float32), np.zeros((0, len(self.concept_names)), np.float32))
        batch = torch.stack([self.transform(image) for image in images])
        return self.encode_tensor(batch)

    def encode_tensor(self, batch: torch.Tensor) -> Encoded:
        """Encode a preprocessed ``float32[B, 3, H, W]`` batch."""
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            fmap = self._features(batch)
            descriptors = F.normalize(pool(fmap, self.pooling), dim=-1)
            others = tuple(scale for scale in self.scales if scale != 1.0)
            if others:
                # multiscale_pool averages the other scales; weigh that mean by their count, then add scale 1.
                rest = multiscale_pool(self._features, batch, self.pooling, others)
                descriptors = F.normalize(descriptors * (1.0 in self.scales) + rest * len(others), dim=-1)
            if self._head is None:
                concepts = torch.zeros((batch.shape[0], 0))
            else:
                logits = self._head(fmap)
                concepts = torch.sigmoid(logits) if self._multilabel else torch.softmax(logits, dim=-1)
        return Encoded(descriptors.float().numpy(), concepts.float().numpy())

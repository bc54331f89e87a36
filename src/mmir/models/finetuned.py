"""EfficientNet-Lite with its last blocks fine-tuned for retrieval (metric learning), as an :class:`Encoder`.

The network is split at an MBConv block: the *trunk* (stem and the first blocks) stays frozen at the bundled
ImageNet weights; the *tail* (the last ``train_blocks`` blocks, the 1×1 head convolution and a learnable GeM
pooling) is trained by :func:`mmir.learn.finetune.finetune_tail`. Descriptors come from the fine-tuned tail; the
concept probabilities still come from the original tail and ImageNet classifier, so keyword search is unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmir.errors import ModelError
from mmir.models.encoder import Encoded
from mmir.models.pooling import GeM
from mmir.models.weights import read_state_npz, save_state_npz

if TYPE_CHECKING:
    from PIL import Image


class EfficientNetTrunk(nn.Module):
    """Stem and blocks ``[0, start)`` of an EfficientNet-Lite: ``[B, 3, H, W] -> [B, C, h, w]`` (frozen)."""

    def __init__(self, net: Any, start: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(net._blocks[:start])
        self.total_blocks = len(net._blocks)
        self.drop_connect_rate = float(net._global_params.drop_connect_rate or 0.0)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for index, block in enumerate(self.blocks):
            x = block(x, drop_connect_rate=self.drop_connect_rate * index / self.total_blocks)
        return x


class EfficientNetTail(nn.Module):
    """Blocks ``[start, end)``, the head convolution and GeM pooling: ``[B, C, h, w] -> [B, 1280]`` (not normalised).

    Batch-norm layers stay in eval mode even while training (their running statistics are kept, as in
    retrieval fine-tuning with small P×K batches); drop-connect follows the module's training mode.
    """

    def __init__(self, net: Any, start: int, p: float = 3.0) -> None:
        super().__init__()
        self.start = start
        self.total_blocks = len(net._blocks)
        self.drop_connect_rate = float(net._global_params.drop_connect_rate or 0.0)
        self.blocks = nn.ModuleList(copy.deepcopy(list(net._blocks[start:])))
        self.head = copy.deepcopy(nn.Sequential(net._conv_head, net._bn1, net._swish))
        self.pool = GeM(p)
        self.dim = int(net._conv_head.out_channels)

    def train(self, mode: bool = True) -> EfficientNetTail:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` trunk output -> ``[B, 1280, h', w']`` last feature map."""
        for offset, block in enumerate(self.blocks):
            rate = self.drop_connect_rate * (self.start + offset) / self.total_blocks if self.training else None
            x = block(x, drop_connect_rate=rate)
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.feature_map(x))


def split_efficientnet(name: str, train_blocks: int) -> tuple[EfficientNetTrunk, EfficientNetTail, Any]:
    """Load the bundled ``name`` and split it so that the last ``train_blocks`` MBConv blocks form the tail.

    Returns:
        ``(trunk, tail, net)``; the tail holds copies of the original layers, ``net`` keeps the originals
        (for the ImageNet concepts).

    Raises:
        ModelError: if ``train_blocks`` is out of range.
    """
    from mmir.models.efficientnet import load_efficientnet_lite

    net: Any = load_efficientnet_lite(name)
    if not 0 <= train_blocks <= len(net._blocks):
        raise ModelError(f"--train-blocks must be between 0 and {len(net._blocks)} for {name}, not {train_blocks}")
    start = len(net._blocks) - train_blocks
    return EfficientNetTrunk(net, start), EfficientNetTail(net, start), net


class FineTunedEncoder:
    """An :class:`~mmir.models.encoder.Encoder`: frozen trunk, fine-tuned tail for descriptors, original concepts.

    Args:
        name: Model name shown to users.
        trunk: The frozen first part.
        tail: The fine-tuned last blocks (with their GeM pooling).
        concepts: ``[B, C, h, w] trunk output -> [B, 1000]`` ImageNet logits through the original layers.
        concept_names: The ImageNet synset ids.
        transform: The base model's preprocessing.
        input_side: Shorter side the transform resizes to.
        fingerprint: Base fingerprint plus the tail's hash.
    """

    def __init__(
        self,
        *,
        name: str,
        trunk: EfficientNetTrunk,
        tail: EfficientNetTail,
        concepts: Callable[[torch.Tensor], torch.Tensor],
        concept_names: Sequence[str],
        transform: Callable[..., torch.Tensor],
        input_side: int,
        fingerprint: str,
    ) -> None:
        self.name = name
        self.trunk, self.tail = trunk.eval(), tail.eval()
        self._concepts = concepts
        self.concept_names = tuple(concept_names)
        self.transform = transform
        self.input_side = input_side
        self.fingerprint = fingerprint
        self.dim = tail.dim

    def encode(self, images: Sequence[Image.Image]) -> Encoded:
        """Encode RGB PIL images; ``descriptors float32[B, 1280]`` (L2-normalised), ``concepts float32[B, 1000]``."""
        if not images:
            return Encoded(np.zeros((0, self.dim), np.float32), np.zeros((0, len(self.concept_names)), np.float32))
        return self.encode_tensor(torch.stack([self.transform(image) for image in images]))

    def encode_tensor(self, batch: torch.Tensor) -> Encoded:
        """Encode a preprocessed ``float32[B, 3, H, W]`` batch."""
        with torch.inference_mode():
            shared = self.trunk(batch)
            descriptors = F.normalize(self.tail(shared), dim=-1)
            concepts = torch.softmax(self._concepts(shared), dim=-1)
        return Encoded(descriptors.float().numpy(), concepts.float().numpy())


def save_tail(tail: EfficientNetTail, path: Path) -> None:
    """Write the tail's weights as a plain ``.npz`` (no pickle), with its split point."""
    save_state_npz(tail, path, "_start", [tail.start])


def load_finetuned(base: str, tail_file: Path, fingerprint: str, name: str) -> FineTunedEncoder:
    """Rebuild a :class:`FineTunedEncoder` from the bundled ``base`` and a tail written by :func:`save_tail`.

    Raises:
        ModelError: if the file is unreadable or does not fit ``base``.
    """
    from mmir.models.efficientnet import WEIGHTS, load_efficientnet_lite
    from mmir.models.imagenet import imagenet_synsets

    if base not in WEIGHTS:
        raise ModelError(f"{tail_file}: fine-tuned tails exist only for {sorted(WEIGHTS)}, not {base!r}")
    try:
        (start,), state = read_state_npz(tail_file, "_start")
    except (OSError, KeyError, ValueError, IndexError) as exc:
        raise ModelError(f"{tail_file}: not a fine-tuned tail file ({exc})") from exc
    net: Any = load_efficientnet_lite(base)
    if not 0 <= start <= len(net._blocks):
        raise ModelError(f"{tail_file}: split point {start} does not fit {base} ({len(net._blocks)} blocks)")
    trunk, tail = EfficientNetTrunk(net, start), EfficientNetTail(net, start)
    try:
        tail.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{tail_file}: weights do not fit {base} split at block {start} ({exc})") from exc
    original = EfficientNetTail(net, start).eval()

    def concepts(shared: torch.Tensor) -> torch.Tensor:
        return net._fc(original.feature_map(shared).mean(dim=(-2, -1)))

    entry = WEIGHTS[base]
    return FineTunedEncoder(
        name=name,
        trunk=trunk,
        tail=tail,
        concepts=concepts,
        concept_names=imagenet_synsets(),
        transform=entry.preprocessing.transform(),
        input_side=entry.preprocessing.resize,
        fingerprint=fingerprint,
    )

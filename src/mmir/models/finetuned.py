"""EfficientNet-Lite split at an MBConv block, so that its last blocks can be fine-tuned for retrieval.

The network is split at an MBConv block: the *trunk* (stem and the first blocks) stays frozen at the bundled
ImageNet weights; the *tail* (the last ``train_blocks`` blocks, the 1×1 head convolution and a learnable GeM
pooling) is trained by :func:`mmir.learn.finetune.finetune_tail`. Descriptors come from the fine-tuned tail; the
concept probabilities still come from the original tail and ImageNet classifier, so keyword search is unchanged.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmir.errors import ModelError
from mmir.models.backbone import Lambda
from mmir.models.pooling import GeM
from mmir.models.tensors import is_legacy_npz, load_safetensors, read_state_npz, save_safetensors


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


def split_loaded(net: Any, name: str, start: int) -> tuple[nn.Module, nn.Module, EfficientNetTail]:
    """Split a loaded network at block ``start``: ``(trunk, rest, tail)``.

    ``rest(trunk(x))`` is the original last feature map (for the concept branch); ``tail`` is a trainable copy of
    the same layers with GeM pooling (for the descriptor branch).

    Raises:
        ModelError: if ``start`` does not fit the network.
    """
    if not 0 <= start <= len(net._blocks):
        raise ModelError(f"split point {start} does not fit {name} ({len(net._blocks)} blocks)")
    original = EfficientNetTail(net, start).eval()
    return EfficientNetTrunk(net, start), Lambda(original, original.feature_map), EfficientNetTail(net, start)


def save_tail(tail: EfficientNetTail, path: Path) -> None:
    """Write the tail's weights as safetensors, with its split point in the metadata."""
    save_safetensors(tail, path, {"start": str(tail.start)})


def read_tail(path: Path) -> tuple[int, dict[str, torch.Tensor]]:
    """``(split point, state dict)`` of a tail written by :func:`save_tail` or by mmir 0.1 (``.npz``).

    Raises:
        ModelError: if the file is unreadable.
    """
    try:
        if is_legacy_npz(Path(path)):
            (start,), state = read_state_npz(path, "_start")
            return start, state
        state, meta = load_safetensors(path)
        return int(meta["start"]), state
    except (OSError, KeyError, ValueError, IndexError) as exc:
        raise ModelError(f"{path}: not a fine-tuned tail file ({exc})") from exc


def load_tail(net: Any, name: str, path: Path) -> EfficientNetTail:
    """The fine-tuned tail in ``path`` over the loaded network ``net`` (bundled ``name``).

    Raises:
        ModelError: if the file is unreadable or does not fit ``name``.
    """
    start, state = read_tail(path)
    if not 0 <= start <= len(net._blocks):
        raise ModelError(f"{path}: split point {start} does not fit {name} ({len(net._blocks)} blocks)")
    tail = EfficientNetTail(net, start)
    try:
        tail.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit {name} split at block {start} ({exc})") from exc
    return tail.eval()

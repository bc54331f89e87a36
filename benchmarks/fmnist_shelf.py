"""Off-the-shelf EfficientNet-Lite0 on Fashion-MNIST, for ``retrieval_fashion_mnist.py``.

The bundled Lite0 is split where mmir's fine-tuning splits it (:func:`mmir.models.efficientnet.split_efficientnet`):
the frozen trunk runs once over the images (its activations can be cached on disk), the original tail gives the
off-the-shelf GeM descriptor, and a copy of the tail is fine-tuned by metric learning on the fit classes only.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mmir.learn.finetune import trunk_activations
from mmir.models.efficientnet import split_efficientnet
from mmir.models.finetuned import EfficientNetTail


def upscaled_batches(images: np.ndarray, size: int, batch: int = 256) -> Iterator[torch.Tensor]:
    """``uint8[N, 28, 28]`` -> batches ``float32[B, 3, size, size]`` with the Lite weights' normalisation."""
    for start in range(0, len(images), batch):
        x = torch.from_numpy(images[start : start + batch]).float().div(255.0).unsqueeze(1)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        yield (x.expand(-1, 3, -1, -1) - 0.5) / 0.5


class ShelfLite0:
    """Lite0 split before its last ``train_blocks`` blocks, at ``size`` px, with an optional activation cache."""

    def __init__(self, train_blocks: int, size: int, cache: Path | None) -> None:
        self.trunk, self.tail, _ = split_efficientnet("efficientnet-lite0", train_blocks)
        self.train_blocks, self.size, self.cache = train_blocks, size, cache

    def activations(self, tag: str, images: np.ndarray, index: np.ndarray) -> torch.Tensor:
        """Trunk activations ``float32[len(index), C, h, w]`` of ``images[index]`` (cached if a folder is set)."""
        path = None
        if self.cache is not None:
            digest = hashlib.sha1(np.asarray(index, np.int64).tobytes()).hexdigest()[:12]
            path = self.cache / f"lite0-trunk{self.train_blocks}-{self.size}px-{tag}-{digest}.npy"
            if path.exists():
                return torch.from_numpy(np.load(path)).float()
        batches = upscaled_batches(images[index], self.size)
        total = -(-len(index) // 256)
        # Rounded to float16 (halves the cache) whether cached or not, so that every run sees the same numbers.
        values = trunk_activations(self.trunk, batches, total=total, progress=sys.stderr.isatty()).half()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, values.numpy())
        return values.float()

    @staticmethod
    def descriptors(tail: EfficientNetTail, activations: torch.Tensor, batch: int = 512) -> np.ndarray:
        """L2-normalised GeM descriptors ``float32[N, 1280]`` of trunk activations through ``tail``."""
        tail.eval()
        parts = []
        with torch.inference_mode():
            for start in tqdm(range(0, len(activations), batch), leave=False, disable=not sys.stderr.isatty()):
                parts.append(F.normalize(tail(activations[start : start + batch]), dim=-1))
        return torch.cat(parts).numpy()

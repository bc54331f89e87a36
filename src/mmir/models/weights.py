"""Weights as data: where a weights file comes from, its preprocessing and published metrics."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mmir.errors import ModelError


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the network's input tensor.

    Attributes:
        resize: Shorter side after resizing, in pixels.
        crop: Side of the centre crop fed to the network.
        mean: Per-channel mean subtracted after scaling to [0, 1].
        std: Per-channel standard deviation divided by.
        interpolation: ``"bicubic"`` or ``"bilinear"``.
    """

    resize: int
    crop: int
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bicubic"

    def transform(self) -> Callable[..., Any]:
        """A torchvision transform: PIL RGB image -> float tensor ``[3, crop, crop]``."""
        from torchvision import transforms as T

        mode = T.InterpolationMode.BICUBIC if self.interpolation == "bicubic" else T.InterpolationMode.BILINEAR
        return T.Compose(
            [
                T.Resize(self.resize, interpolation=mode),
                T.CenterCrop(self.crop),
                T.ToTensor(),
                T.Normalize(self.mean, self.std),
            ]
        )


@dataclass(frozen=True)
class WeightsEntry:
    """A weights file and everything needed to use it.

    Attributes:
        name: Registry name of the model these weights belong to.
        locate: Returns the local path of the weights file (offline).
        preprocessing: Input preprocessing the weights were trained with.
        concept_set: Name of the output class vocabulary (e.g. ``"imagenet-1k"``).
        source: Where the file comes from (package name or URL), for the record.
        metrics: Published metrics, e.g. ``{"imagenet-1k top-1": 75.1}``.
    """

    name: str
    locate: Callable[[], Path]
    preprocessing: Preprocessing
    concept_set: str = "imagenet-1k"
    source: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def path(self) -> Path:
        """The weights file; raises :class:`ModelError` when it is missing."""
        path = self.locate()
        if not path.is_file():
            raise ModelError(f"weights file for {self.name} not found at {path} (source: {self.source})")
        return path


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a weights file, cached per (path, size, mtime)."""
    stat = path.stat()
    return _sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_state_npz(module: Any, path: Path, meta_key: str, meta: list[int]) -> None:
    """Write ``module``'s state dict and a small integer header ``meta`` as a plain ``.npz`` (no pickle)."""
    import numpy as np

    arrays = {name: value.detach().cpu().numpy() for name, value in module.state_dict().items()}
    arrays[meta_key] = np.array(meta, np.int64)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def read_state_npz(path: Path, meta_key: str) -> tuple[list[int], dict[str, Any]]:
    """The header and the state dict (torch tensors) written by :func:`save_state_npz`.

    Raises:
        OSError, KeyError, ValueError, IndexError: if the file is missing, truncated or of another kind; callers
            turn these into an error naming the file.
    """
    import numpy as np
    import torch

    with np.load(path, allow_pickle=False) as data:
        meta = [int(v) for v in data[meta_key]]
        state = {key: torch.from_numpy(data[key]) for key in data.files if key != meta_key}
    return meta, state

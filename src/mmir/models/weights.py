"""Weights as data: where a weights file comes from, its preprocessing and published metrics."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import ModelError

if TYPE_CHECKING:
    from PIL import Image


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

    def __call__(self, image: Image.Image) -> np.ndarray:
        """Preprocess a PIL image into ``float32[3, crop, crop]`` with PIL and NumPy only (no torch import).

        Matches :meth:`transform` (torchvision on PIL images): the shorter side is resized to ``resize`` with
        antialiasing, the centre ``crop`` is cut with the same rounding, then scaled to [0, 1] and normalised.
        """
        from PIL import Image as PILImage

        rgb = image if image.mode == "RGB" else image.convert("RGB")
        width, height = rgb.size
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.resize * long / short)
        size = (self.resize, new_long) if width <= height else (new_long, self.resize)
        method = PILImage.Resampling.BICUBIC if self.interpolation == "bicubic" else PILImage.Resampling.BILINEAR
        resized = rgb.resize(size, method) if size != rgb.size else rgb
        top = round((resized.height - self.crop) / 2.0)
        left = round((resized.width - self.crop) / 2.0)
        if top < 0 or left < 0:  # an image thinner than the crop (only with crop > resize): pad like torchvision
            return self(_pad_to(resized, self.crop))
        # Crop as uint8 first, then one fused scale-and-shift per channel: x·(1/(255·std)) − mean/std.
        pixels = np.asarray(resized)[top : top + self.crop, left : left + self.crop].transpose(2, 0, 1)
        scale = (1.0 / (255.0 * np.asarray(self.std, np.float32))).reshape(3, 1, 1)
        shift = (np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32)).reshape(3, 1, 1)
        return np.ascontiguousarray(pixels * scale - shift, dtype=np.float32)

    def transform(self) -> Callable[..., Any]:
        """A torchvision transform: PIL RGB image -> float tensor ``[3, crop, crop]`` (for training code)."""
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


def _pad_to(image: Image.Image, side: int) -> Image.Image:
    """``image`` centred on a black canvas at least ``side`` pixels each way."""
    from PIL import Image as PILImage

    canvas = PILImage.new("RGB", (max(side, image.width), max(side, image.height)))
    canvas.paste(image, ((canvas.width - image.width) // 2, (canvas.height - image.height) // 2))
    return canvas


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

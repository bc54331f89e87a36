"""IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmir.errors import MmirError

# IDX type codes → numpy dtypes (big-endian where it matters), from the format's definition.
_DTYPES: dict[int, Any] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


class IdxError(MmirError):
    """An IDX file is missing, truncated or malformed."""


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into an array of its stored shape and type.

    Raises:
        IdxError: naming the file, if it is missing, has a bad header or is truncated.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise IdxError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise IdxError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IdxError(f"{path}: IDX data holds {len(raw) - header} bytes, header promises {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


@dataclass(frozen=True)
class IdxDataset:
    """Images ``uint8[N, H, W]`` with labels ``int64[N]``."""

    images: np.ndarray
    labels: np.ndarray


def load_idx_pair(images_path: Path, labels_path: Path) -> IdxDataset:
    """Read an images file and its labels file, checking that their lengths agree."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise IdxError(f"{images_path}: expected images [N, H, W] and labels [N], got {images.shape}, {labels.shape}")
    if len(images) != len(labels):
        raise IdxError(f"{images_path}: {len(images)} images but {labels_path} has {len(labels)} labels")
    return IdxDataset(images=images, labels=labels.astype(np.int64))


def load_fashion_mnist(split: str = "train", root: Path = FASHION_MNIST_DIR) -> IdxDataset:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (``split``: train or test)."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images = root / f"{prefix}-images-idx3-ubyte.gz"
    if not images.exists():
        raise IdxError(f"{images}: missing; install it with: apt-get install dataset-fashion-mnist")
    return load_idx_pair(images, root / f"{prefix}-labels-idx1-ubyte.gz")

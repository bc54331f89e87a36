"""Labelled image data held in memory: image folders, multi-label CSV files and IDX files.

Everything becomes :class:`LabelledImages` (``uint8[N, C, H, W]`` plus targets), which suits the small inputs
these recipes train on and lets a 2-core machine skip per-epoch decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmir.learn.idx import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, IdxError, load_idx_pair
from mmir.learn.labels_csv import DataError, read_label_csv
from mmir.media.scan import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class LabelledImages:
    """Images with their labels.

    Attributes:
        images: ``uint8[N, C, H, W]``.
        targets: Class indices ``int64[N]`` (exclusive classes) or multi-hot ``float32[N, K]`` (multi-label).
        class_names: The ``K`` class names, in index order.
        source: Where the data came from (for messages).
    """

    images: torch.Tensor
    targets: torch.Tensor
    class_names: tuple[str, ...]
    source: str

    @property
    def multi_label(self) -> bool:
        """Whether targets are multi-hot rather than class indices."""
        return self.targets.ndim == 2

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: torch.Tensor) -> LabelledImages:
        """The examples at ``index`` (``int64[M]``)."""
        return LabelledImages(self.images[index], self.targets[index], self.class_names, self.source)


def _load_image(path: Path, size: int, channels: int) -> np.ndarray:
    from PIL import Image

    from mmir.media import MediaError, load_image

    try:  # media/ owns raw files: size and pixel limits, EXIF orientation, errors that name the file
        rgb = load_image(path, min_side=size)
    except MediaError as exc:
        raise DataError(f"{path}: cannot read image ({exc.reason})") from exc
    img = rgb.convert("L") if channels == 1 else rgb
    arr = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def _stack(paths: Sequence[Path], size: int, channels: int) -> torch.Tensor:
    from tqdm import tqdm

    arrays = [_load_image(p, size, channels) for p in tqdm(paths, desc="decoding", unit="img", leave=False)]
    return torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros((0, channels, size, size), dtype=torch.uint8)


def _check_known(found: Sequence[str], known: Sequence[str] | None, where: str) -> None:
    if known is not None:
        unknown = sorted(set(found) - set(known))
        if unknown:
            raise DataError(f"{where}: unknown label(s) {unknown}; the model knows {list(known)}")


def load_image_folder(
    root: Path, *, size: int = 32, channels: int = 3, class_names: Sequence[str] | None = None
) -> LabelledImages:
    """``root/<class>/<image>`` folders → exclusive-class data, classes in sorted order (or ``class_names``).

    Raises:
        DataError: if ``root`` is missing, has no class folders, a class folder has no images, a
            folder names a class outside ``class_names``, or an image cannot be decoded.
    """
    pairs = image_folder_files(root)
    found = sorted({name for _, name in pairs})
    _check_known(found, class_names, str(root))
    names = tuple(class_names) if class_names is not None else tuple(found)
    paths = [path for path, _ in pairs]
    labels = [names.index(name) for _, name in pairs]
    return LabelledImages(_stack(paths, size, channels), torch.tensor(labels, dtype=torch.int64), names, str(root))


def image_folder_files(root: Path) -> list[tuple[Path, str]]:
    """``(image file, class name)`` of every image under ``root/<class>/`` (any depth), both in sorted order.

    The one reader of class-per-folder data (``mmir train classify`` and ``mmir train metric`` use it); image
    files are those :data:`mmir.media.IMAGE_EXTENSIONS` names; hidden folders are skipped.

    Raises:
        DataError: if ``root`` is missing, has no class folders, or a class folder has no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no class folders (expected one sub-folder of images per class)")
    pairs: list[tuple[Path, str]] = []
    for folder in folders:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not files:
            raise DataError(f"{folder}: class {folder.name!r} has no images")
        pairs += [(path, folder.name) for path in files]
    return pairs


def load_label_csv_images(
    csv_path: Path, *, size: int = 32, channels: int = 3, class_names: Sequence[str] | None = None
) -> LabelledImages:
    """A multi-label CSV (``path,label1;label2``) → multi-hot data, classes sorted (or ``class_names``)."""
    rows = read_label_csv(csv_path)
    for row in rows:
        _check_known(sorted(row.labels), class_names, f"{csv_path}:{row.line}")
    names = tuple(class_names) if class_names is not None else tuple(sorted(set().union(*(r.labels for r in rows))))
    targets = torch.zeros((len(rows), len(names)), dtype=torch.float32)
    for i, row in enumerate(rows):
        targets[i, [names.index(label) for label in row.labels]] = 1.0
    images = _stack([r.path for r in rows], size, channels)
    return LabelledImages(images, targets, names, str(csv_path))


def _idx_files(path: Path, split: str) -> tuple[Path, Path]:
    if path.is_file():
        images = path
    else:
        prefix = {"train": "train", "test": "t10k"}.get(split, split)
        candidates = sorted(path.glob(f"{prefix}-images-idx3-ubyte*")) or sorted(path.glob("*images-idx3-ubyte*"))
        if len(candidates) != 1:
            raise DataError(f"{path}: expected one '{prefix}-images-idx3-ubyte[.gz]' file, found {len(candidates)}")
        images = candidates[0]
    labels = images.with_name(images.name.replace("images-idx3", "labels-idx1"))
    if not labels.exists():
        raise IdxError(f"{labels}: labels file missing (expected beside {images.name})")
    return images, labels


def load_idx_images(path: Path, *, split: str = "train", class_names: Sequence[str] | None = None) -> LabelledImages:
    """IDX images and labels (MNIST / Fashion-MNIST format) → exclusive-class data ``uint8[N, 1, 28, 28]``.

    Args:
        path: A folder holding ``train-…``/``t10k-…`` pairs, or an ``*images-idx3-ubyte[.gz]`` file.
        split: ``train`` or ``test`` (which pair to pick from a folder).
        class_names: Names for label values; Fashion-MNIST's for that dataset, else ``"0"``, ``"1"``, …
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: IDX data not found")
    data = load_idx_pair(*_idx_files(path, split))
    if class_names is None:
        is_fashion = path.resolve() in (FASHION_MNIST_DIR, *FASHION_MNIST_DIR.glob("*")) or "fashion" in str(path)
        count = int(data.labels.max()) + 1 if len(data.labels) else 0
        class_names = FASHION_MNIST_CLASSES if is_fashion else tuple(str(i) for i in range(count))
    if len(data.labels) and (data.labels.min() < 0 or data.labels.max() >= len(class_names)):
        raise DataError(f"{path}: label {int(data.labels.max())} outside the {len(class_names)} known classes")
    images = torch.from_numpy(np.ascontiguousarray(data.images))[:, None]
    return LabelledImages(images, torch.from_numpy(data.labels), tuple(class_names), str(path))


def load_labelled_images(
    path: Path,
    *,
    split: str = "train",
    size: int = 32,
    channels: int = 3,
    class_names: Sequence[str] | None = None,
) -> LabelledImages:
    """Pick the reader by what ``path`` is: a ``.csv`` file, IDX files, or a folder of class folders."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return load_label_csv_images(path, size=size, channels=channels, class_names=class_names)
    if (path.is_file() and "idx3-ubyte" in path.name) or (path.is_dir() and any(path.glob("*-idx3-ubyte*"))):
        return load_idx_images(path, split=split, class_names=class_names)
    return load_image_folder(path, size=size, channels=channels, class_names=class_names)


def split_indices(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded split of ``range(n)`` into (train ``int64[n-m]``, val ``int64[m]``), m = ⌊n·fraction⌋."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    m = int(n * fraction)
    return perm[m:].sort().values, perm[:m].sort().values


def channel_stats(images: torch.Tensor, chunk: int = 8192) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of ``uint8[N, C, H, W]`` on the [0, 1] scale."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        squares += (x * x).sum(dim=(0, 2, 3))
    count = max(images.numel() // max(images.shape[1], 1), 1)
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())

"""Seeded subsets of CIFAR-10 and Fashion-MNIST, and their CNN descriptors computed once and cached.

Shared by ``benchmarks/noisy_labels.py`` and ``benchmarks/descriptors.py`` so both measure the same images.
CIFAR-10 comes from ``../shared/data/cifar10-jpg.tar`` (extracted once under ``/tmp``), Fashion-MNIST from the IDX
files of Debian's ``dataset-fashion-mnist`` through :mod:`mmir.learn.idx`. Descriptors are the product encoder's
(``mmir.models``), computed from PIL images exactly as indexing does, and cached under ``/tmp`` keyed by the
encoder's fingerprint and the subset.
"""

from __future__ import annotations

import hashlib
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mmir.learn.idx import FASHION_MNIST_CLASSES, load_fashion_mnist

CIFAR_TAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpg.tar"
CACHE = Path("/tmp/mmir-bench-cache")
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class Subset:
    """Images of one split of one data set with integer labels.

    Attributes:
        name: e.g. ``"cifar10-train"``.
        images: ``N`` RGB PIL images.
        labels: ``int64[N]`` class numbers into ``classes``.
        classes: Class names.
    """

    name: str
    images: list[Image.Image]
    labels: np.ndarray
    classes: tuple[str, ...]


def _balanced(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Sorted indices of ``count`` examples, the same number per class (seeded)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per = count // len(classes)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per, replace=False) for c in classes]))


def cifar10(split: str, count: int, seed: int = 0) -> Subset:
    """A class-balanced subset of CIFAR-10 ``split`` (train or test) as 32×32 RGB images."""
    root = CACHE / "cifar10"
    if not (root / "labels.tsv").exists():
        if not CIFAR_TAR.exists():
            raise SystemExit(f"{CIFAR_TAR}: missing (see ../shared/README.md)")
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(CIFAR_TAR) as tar:
            tar.extractall(root, filter="data")
    paths = sorted((root / split).glob("*/*.jpg"))
    labels = np.array([CIFAR_CLASSES.index(p.parent.name) for p in paths], dtype=np.int64)
    chosen = _balanced(labels, count, seed)
    images = []
    for i in chosen:
        with Image.open(paths[i]) as image:
            images.append(image.convert("RGB"))
    return Subset(f"cifar10-{split}", images, labels[chosen], CIFAR_CLASSES)


def fashion_mnist(split: str, count: int, seed: int = 0) -> Subset:
    """A class-balanced subset of Fashion-MNIST ``split`` as 28×28 grey images converted to RGB."""
    data = load_fashion_mnist(split)
    chosen = _balanced(data.labels, count, seed)
    images = [Image.fromarray(data.images[i]).convert("RGB") for i in chosen]
    return Subset(f"fmnist-{split}", images, data.labels[chosen], FASHION_MNIST_CLASSES)


def cnn_descriptors(subset: Subset, model: str = "efficientnet-lite0", batch: int = 64) -> tuple[np.ndarray, float]:
    """The product encoder's descriptors ``float32[N, D]`` of ``subset`` and seconds per image (cached).

    The cache key holds the encoder fingerprint and a hash of the labels, so another subset or model never
    reads a stale file. Seconds per image are those of the run that filled the cache.
    """
    from mmir.models import load_encoder

    encoder = load_encoder(model)
    key = hashlib.sha1(f"{encoder.fingerprint}|{subset.name}|{subset.labels.tobytes().hex()}".encode()).hexdigest()
    path = CACHE / f"cnn-{subset.name}-{key[:12]}.npz"
    if path.exists():
        with np.load(path) as cached:
            return cached["descriptors"], float(cached["seconds_per_image"])
    started = time.perf_counter()
    rows = [encoder.encode(subset.images[i : i + batch]).descriptors for i in range(0, len(subset.images), batch)]
    seconds = (time.perf_counter() - started) / max(1, len(subset.images))
    descriptors = np.concatenate(rows).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, descriptors=descriptors, seconds_per_image=seconds)
    return descriptors, seconds


def load_all(train: int, test: int, seed: int = 0) -> dict[str, tuple[Subset, Subset]]:
    """``{"cifar10": (train, test), "fmnist": (train, test)}`` subsets."""
    return {
        "cifar10": (cifar10("train", train, seed), cifar10("test", test, seed)),
        "fmnist": (fashion_mnist("train", train, seed), fashion_mnist("test", test, seed)),
    }


if __name__ == "__main__":  # fill the cache ahead of the benchmarks
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=2000)
    args = parser.parse_args()
    for name, parts in load_all(args.train, args.test).items():
        for subset in parts:
            descriptors, spi = cnn_descriptors(subset)
            print(f"{name} {subset.name}: {descriptors.shape} in {spi * 1000:.1f} ms/img", flush=True)

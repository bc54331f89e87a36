"""Label-noise simulators: corrupt a known fraction of class labels, symmetrically or class-dependently.

Used to measure noise-robust training against clean labels (``benchmarks/noisy_labels.py``). ``rate`` is
always the expected fraction of labels that end up WRONG (a flipped label never lands on its own class), so
"40 % noise" means four labels in ten name another class.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from mmir.errors import MmirError


class NoiseKind(StrEnum):
    """How wrong labels are drawn.

    SYMMETRIC: a corrupted label becomes any other class, uniformly.
    PAIR: class-dependent "pair flipping" (Han et al. 2018, co-teaching): class ``c`` becomes ``pairs[c]``
    (default ``(c + 1) mod K``), the way one class is systematically mistaken for a similar one.
    """

    SYMMETRIC = "symmetric"
    PAIR = "pair"


@dataclass(frozen=True)
class NoisyLabels:
    """Corrupted labels and which of them were changed.

    Attributes:
        labels: ``int64[N]`` the noisy labels.
        flipped: ``bool[N]``, true where ``labels`` differs from the clean label.
    """

    labels: np.ndarray
    flipped: np.ndarray

    @property
    def actual_rate(self) -> float:
        """The realised fraction of wrong labels."""
        return float(self.flipped.mean()) if len(self.flipped) else 0.0


def corrupt_labels(
    labels: np.ndarray,
    rate: float,
    classes: int,
    kind: NoiseKind = NoiseKind.SYMMETRIC,
    *,
    seed: int = 0,
    pairs: np.ndarray | None = None,
) -> NoisyLabels:
    """Flip each label with probability ``rate`` to another class.

    Args:
        labels: ``int64[N]`` clean labels in ``[0, classes)``.
        rate: Probability in ``[0, 1]`` that a label is replaced by a wrong one.
        classes: Number of classes ``K`` (at least 2).
        kind: Symmetric or pair (class-dependent) noise.
        seed: Seeds the corruption.
        pairs: For :attr:`NoiseKind.PAIR`, ``int[K]`` the class each class is mistaken for (never itself).

    Returns:
        The noisy labels and the mask of flipped ones.

    Raises:
        MmirError: for a rate outside ``[0, 1]``, fewer than 2 classes, labels out of range or a bad ``pairs``.
    """
    y = np.asarray(labels, dtype=np.int64)
    if not 0.0 <= rate <= 1.0:
        raise MmirError(f"noise rate must be in [0, 1], got {rate}")
    if classes < 2:
        raise MmirError(f"label noise needs at least 2 classes, got {classes}")
    if len(y) and (y.min() < 0 or y.max() >= classes):
        raise MmirError(f"labels must lie in [0, {classes}), got [{y.min()}, {y.max()}]")
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < rate
    noisy = y.copy()
    if kind is NoiseKind.SYMMETRIC:
        # An offset in [1, K) added modulo K picks every other class with equal chance and never the true one.
        noisy[flip] = (y[flip] + rng.integers(1, classes, size=int(flip.sum()))) % classes
    else:
        target = np.asarray(pairs if pairs is not None else (np.arange(classes) + 1) % classes, dtype=np.int64)
        if target.shape != (classes,) or np.any(target == np.arange(classes)) or target.min() < 0:
            raise MmirError(f"pairs must map each of the {classes} classes to another class, got {target.tolist()}")
        noisy[flip] = target[y[flip]]
    return NoisyLabels(labels=noisy, flipped=noisy != y)


def transition_matrix(clean: np.ndarray, noisy: np.ndarray, classes: int) -> np.ndarray:
    """Empirical ``float64[K, K]`` matrix ``T[i, j] = P(noisy = j | clean = i)`` (rows of absent classes are 0)."""
    counts = np.zeros((classes, classes), dtype=np.float64)
    np.add.at(counts, (np.asarray(clean, np.int64), np.asarray(noisy, np.int64)), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)

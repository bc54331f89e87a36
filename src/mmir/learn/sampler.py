"""A P × K batch sampler for metric learning: each batch holds ``P`` classes with ``K`` items each.

Mining needs positives and negatives inside every batch; a plain shuffle of many classes gives batches with
few or no positive pairs, which is why the P × K scheme (Hermans et al. 2017) is the standard.

Why not pytorch-metric-learning's ``MPerClassSampler`` (same P × K draw; checked in version 2.9): it draws from
the library's module-global NumPy generator (``common_functions.NUMPY_RANDOM``, i.e. ``np.random``), so a sampler
cannot be seeded on its own — the same ``--seed`` gives other batches whenever anything else in the process drew
from ``np.random`` first, and seeding it means reseeding (or swapping) a global for everyone; and it keeps
labels with a single item, whose "K items" are one item repeated, a positive pair of an item with itself
(distance 0) that teaches nothing. Filtering those labels and chunking its flat index stream into batches
would leave the seeding problem, for a draw that is a dozen lines here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from mmir.errors import MmirError


class PKSampler(Sampler[list[int]]):
    """Yields batches of dataset indices, ``P`` distinct labels × ``K`` items per label.

    Labels with fewer than ``K`` items are drawn with replacement (so a singleton class cannot form a positive
    pair with itself only if it has one item; such labels are left out, since they give no positive).

    Args:
        labels: ``int[N]`` label of every dataset item.
        p: Labels per batch (capped at the number of usable labels).
        k: Items per label per batch.
        batches: Batches per epoch; default ``N // (p · k)``.
        seed: Seed of the sampler; each epoch draws a fresh permutation from the same generator.

    Raises:
        MmirError: if fewer than two labels have at least two items.
    """

    def __init__(self, labels: np.ndarray, p: int, k: int, batches: int | None = None, seed: int = 0) -> None:
        labels = np.asarray(labels)
        if p < 2 or k < 2:
            raise MmirError(f"a P×K batch needs P ≥ 2 and K ≥ 2 (got P={p}, K={k})")
        by_label: dict[int, np.ndarray] = {}
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            if len(members) >= 2:
                by_label[int(label)] = members
        if len(by_label) < 2:
            raise MmirError("metric learning needs at least two groups with two or more items each")
        self.by_label = by_label
        self.p = min(p, len(by_label))
        self.k = k
        self.batches = batches if batches is not None else max(1, len(labels) // (self.p * k))
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[int]]:
        keys = np.array(sorted(self.by_label))
        for _ in range(self.batches):
            chosen = self._rng.choice(keys, size=self.p, replace=False)
            batch: list[int] = []
            for label in chosen:
                members = self.by_label[int(label)]
                replace = len(members) < self.k
                batch.extend(self._rng.choice(members, size=self.k, replace=replace).tolist())
            yield batch

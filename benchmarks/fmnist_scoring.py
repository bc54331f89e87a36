"""Scoring for ``retrieval_fashion_mnist.py``: every row on one database, chosen on validation queries.

A :class:`Board` scores each descriptor twice against the same database — with held-out validation queries
(training images no model saw) and with the test queries — and picks the row to report by validation mAP only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from mmir.evaluate.retrieval import class_retrieval_map


@dataclass(frozen=True)
class Split:
    """One protocol: test queries (test-set indices), validation queries and database (training-set indices)."""

    q_index: np.ndarray
    val_index: np.ndarray
    db_index: np.ndarray


def pick_queries(labels: np.ndarray, classes: range, count: int, seed: int) -> np.ndarray:
    """A seeded draw of ``count`` test indices whose label is in ``classes``."""
    pool = np.flatnonzero(np.isin(labels, list(classes)))
    return np.sort(np.random.default_rng(seed).choice(pool, size=min(count, len(pool)), replace=False))


class Kind(StrEnum):
    """What a row is, for the selection in the summary."""

    PIXELS = "raw pixels"
    SHELF = "off-the-shelf"
    LEARNED = "mmir train metric"  # the product's paths: a head on frozen descriptors, or fine-tuned last blocks
    SCRATCH = "from-scratch CNN"  # trained inside this benchmark only: `mmir train metric` cannot train it
    CONTROL = "untrained control"
    POSTERIOR = "class posterior"  # a proxy loss's posterior: printed, but not a descriptor to choose


@dataclass(frozen=True)
class Vectors:
    """One descriptor's vectors: test queries ``[Q, D]``, validation queries ``[V, D]``, database ``[N, D]``."""

    test: np.ndarray
    val: np.ndarray
    db: np.ndarray

    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> Vectors:
        """The same transform (a PCA, a head) applied to all three."""
        return Vectors(fn(self.test), fn(self.val), fn(self.db))


@dataclass(frozen=True)
class Row:
    """One printed row: its mAP with the validation queries and with the test queries, on the same database."""

    name: str
    kind: Kind
    val_map: float
    test_map: float


class Board:
    """Scores every row of one protocol against one database and keeps them for the summary."""

    def __init__(self, split: Split, train_labels: np.ndarray, test_labels: np.ndarray) -> None:
        self.test_labels = test_labels[split.q_index]
        self.val_labels = train_labels[split.val_index]
        self.db_labels = train_labels[split.db_index]
        self.rows: list[Row] = []

    def score(self, name: str, kind: Kind, vectors: Vectors, seconds: float) -> None:
        start = time.perf_counter()
        val = class_retrieval_map(vectors.val, self.val_labels, vectors.db, self.db_labels)
        test = class_retrieval_map(vectors.test, self.test_labels, vectors.db, self.db_labels)
        self.rows.append(Row(name, kind, val, test))
        elapsed = seconds + time.perf_counter() - start
        # Figures first, so that they line up whatever the length of the name.
        print(f"  val {val:.4f}  test {test:.4f}  ({elapsed:7.1f} s)  {name}", flush=True)

    def chosen(self, kind: Kind) -> Row | None:
        """The row of ``kind`` with the best validation mAP (the first of equals), or ``None``."""
        rows = [row for row in self.rows if row.kind is kind]
        return max(rows, key=lambda row: row.val_map) if rows else None

    def summarise(self, protocol: str) -> None:
        """Print the rows chosen on the validation queries, their test mAP, and the protocol's goal."""
        print("  chosen on the VALIDATION queries (the test mAP below is read off the chosen row only):")
        chosen = {kind: self.chosen(kind) for kind in (Kind.PIXELS, Kind.SHELF, Kind.LEARNED, Kind.SCRATCH)}
        for kind, row in chosen.items():
            if row is not None:
                print(f"    {kind.value:<18} val {row.val_map:.4f} → test {row.test_map:.4f}   {row.name}")
        learned, shelf = chosen[Kind.LEARNED], chosen[Kind.SHELF]
        if learned is None:
            return
        if protocol == "seen":
            verdict = "met" if learned.test_map >= 0.90 else "NOT met"
            print(f"  goal test mAP ≥ 0.90 with `mmir train metric`: {verdict} ({learned.test_map:.4f})")
        elif shelf is not None:
            verdict = "beats" if learned.test_map > shelf.test_map else "does NOT beat"
            print(
                f"  goal: the chosen `mmir train metric` row ({learned.test_map:.4f}) {verdict} the chosen "
                f"off-the-shelf row ({shelf.test_map:.4f}) on the test queries"
            )

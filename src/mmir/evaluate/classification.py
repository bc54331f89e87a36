"""Classification metrics: top-k error (the ILSVRC measure), confusion matrix, per-class accuracy and mAP.

Per-class AP is :func:`mmir.evaluate.retrieval.average_precision_from_scores` (one AP, one convention: ``nan``
for a class with no positive example).

Pure functions on numpy arrays; no files, no plotting (see :mod:`mmir.learn.plots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmir.evaluate.retrieval import average_precision_from_scores


def topk_error(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of examples whose true class is not among the ``k`` highest scores.

    Args:
        scores: ``float[N, K]`` class scores (logits or probabilities).
        labels: ``int[N]`` true class indices.
        k: How many guesses count; ``k ≥ K`` gives 0 error.

    Returns:
        The error in ``[0, 1]``; ``nan`` when there are no examples.

    Raises:
        ValueError: if any score is NaN (a diverged model has no rank to measure).

    Ties count against the true class: it is a hit only when fewer than ``k`` *other* classes score at least as
    high. So constant scores give a top-1 error of 1, never 0 — a model that outputs nothing useful cannot look
    perfect (with "strictly higher" ranking it would, and a diverged training run could be kept as the best).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return float("nan")
    if np.isnan(scores).any():
        rows = np.flatnonzero(np.isnan(scores).any(axis=1))
        raise ValueError(f"top-k error: NaN scores in {len(rows)} of {len(scores)} examples (first: row {rows[0]})")
    true = scores[np.arange(len(labels)), labels]
    # Classes scoring >= the true class, minus the true class itself.
    rank = (scores >= true[:, None]).sum(axis=1) - 1
    return float(np.mean(rank >= k))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """``int64[K, K]`` counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return matrix


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """``float64[K]``: the diagonal over the row sums (``nan`` for a class with no examples)."""
    totals = confusion.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / totals, np.nan)


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """mAP over classes for multi-label data: ``scores`` ``float[N, K]``, ``targets`` ``{0,1}[N, K]``.

    Returns:
        Mean AP over classes with a positive, and ``float64[K]`` per-class AP (``nan`` if none).
    """
    per_class = np.array(
        [average_precision_from_scores(scores[:, j], targets[:, j] > 0.5) for j in range(scores.shape[1])]
    )
    valid = per_class[~np.isnan(per_class)]
    return (float(valid.mean()) if len(valid) else float("nan")), per_class


def format_confusion(confusion: np.ndarray, class_names: Sequence[str], width: int = 12) -> str:
    """The confusion matrix as aligned text: rows true, columns predicted (names cut to ``width``)."""
    names = [n[:width] for n in class_names]
    cell = max(5, len(str(int(confusion.max(initial=0)))) + 1)
    lines = [" " * (width + 1) + "".join(f"{i:>{cell}}" for i in range(len(names))) + "   ← predicted"]
    for i, (name, row) in enumerate(zip(names, confusion, strict=True)):
        lines.append(f"{name:>{width}} " + "".join(f"{int(v):>{cell}}" for v in row) + f"   {i}")
    return "\n".join(lines)


@dataclass(frozen=True)
class ClassificationReport:
    """What ``mmir eval classify`` prints for exclusive classes."""

    class_names: tuple[str, ...]
    top1_error: float
    top5_error: float
    per_class_accuracy: np.ndarray  # float64[K]
    confusion: np.ndarray  # int64[K, K]

    def format(self) -> str:
        """Human-readable text: errors, per-class accuracy and the confusion matrix."""
        lines = [
            f"examples: {int(self.confusion.sum())}",
            f"top-1 error: {100 * self.top1_error:.2f} %   (accuracy {100 * (1 - self.top1_error):.2f} %)",
            f"top-5 error: {100 * self.top5_error:.2f} %",
            "per-class accuracy:",
        ]
        lines += [
            f"  {name:<24} {100 * acc:6.2f} %"
            for name, acc in zip(self.class_names, self.per_class_accuracy, strict=False)
        ]
        lines += ["confusion matrix:", format_confusion(self.confusion, self.class_names)]
        return "\n".join(lines)


def classification_report(scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> ClassificationReport:
    """Top-1/5 error, per-class accuracy, confusion of ``scores`` ``float[N, K]`` vs ``labels`` ``int[N]``."""
    confusion = confusion_matrix(labels, np.argmax(scores, axis=1), len(class_names))
    return ClassificationReport(
        class_names=tuple(class_names),
        top1_error=topk_error(scores, labels, 1),
        top5_error=topk_error(scores, labels, 5),
        per_class_accuracy=per_class_accuracy(confusion),
        confusion=confusion,
    )

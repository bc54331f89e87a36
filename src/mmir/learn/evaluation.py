"""Evaluating a trained classifier checkpoint on test data (what ``mmir eval classify`` runs)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmir.evaluate.classification import ClassificationReport, classification_report, mean_average_precision
from mmir.learn.checkpoint import CheckpointError, load_classifier
from mmir.learn.datasets import load_labelled_images
from mmir.learn.labels_csv import DataError
from mmir.learn.plots import plot_confusion
from mmir.learn.predict import Normaliser, predict_logits


@dataclass(frozen=True)
class MultiLabelReport:
    """mAP and per-class AP for multi-label test data."""

    class_names: tuple[str, ...]
    mean_ap: float
    per_class_ap: np.ndarray  # float64[K], nan where a class has no positives

    def format(self) -> str:
        """Human-readable text."""
        lines = [f"mAP: {100 * self.mean_ap:.2f} %", "per-class AP:"]
        for name, ap in zip(self.class_names, self.per_class_ap, strict=True):
            lines.append(f"  {name:<24} " + ("   (no positives)" if math.isnan(ap) else f"{100 * ap:6.2f} %"))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Plain values (``None`` for undefined AP)."""
        pairs = zip(self.class_names, self.per_class_ap, strict=True)
        aps = {n: (None if math.isnan(a) else float(a)) for n, a in pairs}
        return {"mAP": self.mean_ap, "per_class_ap": aps}


@dataclass(frozen=True)
class SingleLabelReport:
    """A :class:`ClassificationReport` with JSON output."""

    report: ClassificationReport

    def format(self) -> str:
        """Human-readable text."""
        return self.report.format()

    def to_json(self) -> dict[str, Any]:
        """Plain values."""
        r = self.report
        return {
            "top1_error": r.top1_error,
            "top5_error": r.top5_error,
            "per_class_accuracy": {n: float(a) for n, a in zip(r.class_names, r.per_class_accuracy, strict=True)},
            "confusion": r.confusion.tolist(),
        }


def evaluate_checkpoint(
    checkpoint: Path, data: Path, *, confusion_png: Path | None = None
) -> SingleLabelReport | MultiLabelReport:
    """Run the checkpoint's model over ``data`` (read with the model's classes, size and channels) and score it.

    Raises:
        DataError: if the data holds labels the model does not know, or its kind (multi-label or not) differs.
        CheckpointError: if the model's scores are not finite (a diverged run has no error rate to report).
    """
    model, meta = load_classifier(checkpoint)
    test = load_labelled_images(
        data, split="test", size=meta.image_size, channels=meta.in_channels, class_names=meta.class_names
    )
    if test.multi_label != meta.multi_label:
        kind = "multi-label" if meta.multi_label else "single-label"
        raise DataError(f"{data}: the model in {checkpoint} is {kind}, the data is not")
    if len(test) == 0:
        raise DataError(f"{data}: no test examples")
    logits = predict_logits(model, test.images, Normaliser(meta.mean, meta.std)).numpy()
    if not np.isfinite(logits).all():
        raise CheckpointError(f"{checkpoint}: the model gives NaN or infinite scores (did its training diverge?)")
    if test.multi_label:
        mean_ap, per_class = mean_average_precision(logits, test.targets.numpy())
        return MultiLabelReport(meta.class_names, mean_ap, per_class)
    report = classification_report(logits, test.targets.numpy(), meta.class_names)
    if confusion_png is not None:
        plot_confusion(report.confusion, meta.class_names, confusion_png)
    return SingleLabelReport(report)

"""Classification metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmir.evaluate.classification import (
    average_precision,
    classification_report,
    confusion_matrix,
    format_confusion,
    mean_average_precision,
    per_class_accuracy,
    topk_error,
)

SCORES = np.array(
    [
        [0.1, 0.5, 0.2, 0.15, 0.05, 0.0],  # true 1: rank 0
        [0.3, 0.1, 0.2, 0.25, 0.1, 0.05],  # true 2: 0 and 3 above it → rank 2
        [0.6, 0.1, 0.05, 0.05, 0.1, 0.1],  # true 5: 0, 1, 4 above (0.1 ties with 5 don't count) → rank 1
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],  # true 0: 5 above → rank 5
    ]
)
LABELS = np.array([1, 2, 5, 0])


def test_topk_error_by_rank() -> None:
    # Ranks 0, 2, 1, 5: top-1 hits only the first; top-2 the first and third; top-3 three of four; top-5 too.
    assert topk_error(SCORES, LABELS, 1) == pytest.approx(3 / 4)
    assert topk_error(SCORES, LABELS, 2) == pytest.approx(2 / 4)
    assert topk_error(SCORES, LABELS, 3) == pytest.approx(1 / 4)
    assert topk_error(SCORES, LABELS, 5) == pytest.approx(1 / 4)
    assert topk_error(SCORES, LABELS, 6) == 0.0


def test_confusion_and_per_class_accuracy() -> None:
    cm = confusion_matrix(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 1, 0]), 4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0], expected[0, 1], expected[1, 1], expected[2, 0] = 2, 1, 2, 1
    np.testing.assert_array_equal(cm, expected)
    acc = per_class_accuracy(cm)
    assert acc[0] == pytest.approx(2 / 3) and acc[1] == 1.0 and acc[2] == 0.0 and math.isnan(acc[3])


def test_average_precision_by_hand() -> None:
    # Ranking: rel, non, rel, non, rel → precisions at hits 1/1, 2/3, 3/5 → AP = (1 + 2/3 + 3/5) / 3.
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    relevant = np.array([True, False, True, False, True])
    assert average_precision(scores, relevant) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # Shuffled input order must not matter.
    perm = np.array([4, 2, 0, 3, 1])
    assert average_precision(scores[perm], relevant[perm]) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert math.isnan(average_precision(scores, np.zeros(5, dtype=bool)))


def test_mean_average_precision_skips_classes_without_positives() -> None:
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.4], [0.6, 0.3, 0.3]])
    targets = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0]])
    # Class 0: ranking 0.9 (rel), 0.6, 0.2 → AP 1. Class 1: ranking 0.8, 0.3 (rel), 0.1 → AP 1/2. Class 2: none.
    mean_ap, per_class = mean_average_precision(scores, targets)
    assert per_class[0] == pytest.approx(1.0) and per_class[1] == pytest.approx(0.5) and math.isnan(per_class[2])
    assert mean_ap == pytest.approx(0.75)


def test_report_text_mentions_everything() -> None:
    report = classification_report(SCORES, LABELS, [f"c{i}" for i in range(6)])
    text = report.format()
    assert "top-1 error: 75.00 %" in text and "top-5 error: 25.00 %" in text
    assert "c5" in text and "confusion matrix" in text
    assert format_confusion(report.confusion, report.class_names).count("\n") == 6

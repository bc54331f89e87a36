"""Classification metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmir.evaluate.classification import (
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
        [0.6, 0.1, 0.05, 0.05, 0.1, 0.1],  # true 5: 0 above, 1 and 4 tie with it (ties count against) → rank 3
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],  # true 0: 5 above → rank 5
    ]
)
LABELS = np.array([1, 2, 5, 0])


def test_topk_error_by_rank() -> None:
    # Ranks 0, 2, 3, 5 (a hit at k when rank < k): top-1/2 hit only the first; top-3 the first two; top-4/5 three.
    assert topk_error(SCORES, LABELS, 1) == pytest.approx(3 / 4)
    assert topk_error(SCORES, LABELS, 2) == pytest.approx(3 / 4)
    assert topk_error(SCORES, LABELS, 3) == pytest.approx(2 / 4)
    assert topk_error(SCORES, LABELS, 4) == pytest.approx(1 / 4)
    assert topk_error(SCORES, LABELS, 5) == pytest.approx(1 / 4)
    assert topk_error(SCORES, LABELS, 6) == 0.0


def test_constant_scores_are_all_wrong_not_all_right() -> None:
    # Every class ties with the true one: K - 1 = 3 classes score at least as high, so rank 3 for every example.
    # (Counting only strictly higher classes gave rank 0 and a perfect 0.0 error for a useless model.)
    scores = np.zeros((5, 4))
    labels = np.array([0, 1, 2, 3, 0])
    assert topk_error(scores, labels, 1) == 1.0
    assert topk_error(scores, labels, 3) == 1.0
    assert topk_error(scores, labels, 4) == 0.0


def test_a_tie_with_the_top_class_is_a_miss_at_top_1() -> None:
    # Example 0: true class 1 ties with class 0 at 0.4 → rank 1 → miss at k=1, hit at k=2.
    # Example 1: true class 2 is alone on top → rank 0 → hit.
    scores = np.array([[0.4, 0.4, 0.2], [0.1, 0.2, 0.7]])
    labels = np.array([1, 2])
    assert topk_error(scores, labels, 1) == pytest.approx(1 / 2)
    assert topk_error(scores, labels, 2) == 0.0


def test_nan_scores_are_an_error() -> None:
    scores = np.array([[0.1, 0.9], [np.nan, np.nan]])
    with pytest.raises(ValueError, match="NaN scores in 1 of 2 examples"):
        topk_error(scores, np.array([1, 0]), 1)
    with pytest.raises(ValueError, match="NaN"):
        classification_report(scores, np.array([1, 0]), ["a", "b"])


def test_empty_input_has_no_error_rate() -> None:
    assert math.isnan(topk_error(np.zeros((0, 3)), np.zeros(0, dtype=np.int64), 1))


def test_confusion_and_per_class_accuracy() -> None:
    cm = confusion_matrix(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 1, 0]), 4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0], expected[0, 1], expected[1, 1], expected[2, 0] = 2, 1, 2, 1
    np.testing.assert_array_equal(cm, expected)
    acc = per_class_accuracy(cm)
    assert acc[0] == pytest.approx(2 / 3) and acc[1] == 1.0 and acc[2] == 0.0 and math.isnan(acc[3])


def test_mean_average_precision_skips_classes_without_positives() -> None:
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.4], [0.6, 0.3, 0.3]])
    targets = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0]])
    # Class 0: ranking 0.9 (rel), 0.6, 0.2 → AP 1. Class 1: ranking 0.8, 0.3 (rel), 0.1 → AP 1/2. Class 2: none.
    mean_ap, per_class = mean_average_precision(scores, targets)
    assert per_class[0] == pytest.approx(1.0) and per_class[1] == pytest.approx(0.5) and math.isnan(per_class[2])
    assert mean_ap == pytest.approx(0.75)


def test_mean_average_precision_of_no_positives_at_all_is_nan() -> None:
    mean_ap, per_class = mean_average_precision(np.array([[0.2, 0.8]]), np.array([[0, 0]]))
    assert math.isnan(mean_ap) and np.isnan(per_class).all()


def test_report_text_mentions_everything() -> None:
    report = classification_report(SCORES, LABELS, [f"c{i}" for i in range(6)])
    text = report.format()
    assert "top-1 error: 75.00 %" in text and "top-5 error: 25.00 %" in text
    assert "c5" in text and "confusion matrix" in text
    assert format_confusion(report.confusion, report.class_names).count("\n") == 6

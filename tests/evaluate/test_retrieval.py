"""Retrieval metrics against rankings computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmir.evaluate.retrieval import (
    average_precision,
    average_precision_from_scores,
    class_retrieval_map,
    inferred_average_precision,
    mean_average_precision,
    precision_at_k,
    rank_by_score,
    recall_at_k,
)


def test_average_precision_by_hand() -> None:
    # Relevant at ranks 1, 3, 6: AP = (1/1 + 2/3 + 3/6) / 3.
    ranking = [1, 0, 1, 0, 0, 1]
    assert average_precision(ranking) == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)


def test_average_precision_counts_unretrieved_relevant_items() -> None:
    # Two of four relevant items retrieved (ranks 2 and 4): AP = (1/2 + 2/4) / 4.
    assert average_precision([0, 1, 0, 1], n_relevant=4) == pytest.approx((0.5 + 0.5) / 4)


def test_average_precision_from_scores_ignores_input_order() -> None:
    # Ranking: rel, non, rel, non, rel → precisions at hits 1/1, 2/3, 3/5 → AP = (1 + 2/3 + 3/5) / 3.
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    relevant = np.array([True, False, True, False, True])
    assert average_precision_from_scores(scores, relevant) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    perm = np.array([4, 2, 0, 3, 1])
    assert average_precision_from_scores(scores[perm], relevant[perm]) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_no_relevant_items_give_undefined_ap_and_zero_precision_recall() -> None:
    # One convention for AP without a relevant item: nan (undefined), in this module and in classification's mAP.
    assert math.isnan(average_precision([0, 0, 0]))
    assert math.isnan(average_precision([]))
    assert math.isnan(average_precision_from_scores(np.array([0.3, 0.1]), np.zeros(2, dtype=bool)))
    # Relevant items exist but none was retrieved: a defined AP of 0.
    assert average_precision([0, 0, 0], n_relevant=2) == 0.0
    assert recall_at_k([0, 0], 1) == 0.0
    assert precision_at_k([0, 0], 2) == 0.0
    assert inferred_average_precision([0, -1, -2]) == 0.0


def test_n_relevant_smaller_than_retrieved_is_an_error() -> None:
    with pytest.raises(ValueError, match="smaller"):
        average_precision([1, 1], n_relevant=1)


def test_ties_are_broken_by_position() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.5])
    assert rank_by_score(scores).tolist() == [1, 0, 2, 3]
    # Relevant items 1 (rank 1) and 3 (rank 4 after the tie 0, 2, 3): AP = (1/1 + 2/4) / 2.
    relevant = np.array([False, True, False, True])
    assert average_precision_from_scores(scores, relevant) == pytest.approx((1 + 0.5) / 2)


def test_precision_and_recall_at_k_with_k_beyond_the_list() -> None:
    ranking = [1, 0, 1]
    assert precision_at_k(ranking, 1) == 1.0
    assert precision_at_k(ranking, 2) == 0.5
    # k > n: the missing ranks count as misses (trec_eval's convention).
    assert precision_at_k(ranking, 10) == pytest.approx(2 / 10)
    assert recall_at_k(ranking, 2, n_relevant=4) == pytest.approx(1 / 4)
    assert recall_at_k(ranking, 10) == 1.0
    with pytest.raises(ValueError):
        precision_at_k(ranking, 0)


def test_mean_average_precision_skips_queries_without_relevant_items() -> None:
    rankings = [[1, 0], [0, 1], [0, 0]]
    assert mean_average_precision(rankings) == pytest.approx((1.0 + 0.5) / 2)
    assert mean_average_precision(rankings, skip_empty=False) == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert math.isnan(mean_average_precision([]))


def test_infap_equals_ap_with_complete_judgements() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        judged = (rng.random(30) < 0.3).astype(np.int64)
        assert inferred_average_precision(judged) == pytest.approx(average_precision(judged.astype(bool)), abs=1e-4)


def test_infap_by_hand_with_unsampled_documents() -> None:
    # Ranks: 1 relevant, 2 unsampled pool doc, 3 non-relevant, 4 relevant, 5 outside the pool.
    judged = [1, -1, 0, 1, -2]
    eps = 1e-5
    # Rank 4: 3 pooled docs above, 1 relevant and 1 non-relevant judged among them.
    expected_rank4 = 1 / 4 + 3 / 4 * (3 / 3) * (1 + eps) / (2 + 2 * eps)
    assert inferred_average_precision(judged) == pytest.approx((1.0 + expected_rank4) / 2)


def test_class_retrieval_map_matches_per_query_ap() -> None:
    rng = np.random.default_rng(1)
    db = rng.standard_normal((50, 4)).astype(np.float32)
    q = rng.standard_normal((7, 4)).astype(np.float32)
    db_labels, q_labels = rng.integers(0, 3, 50), rng.integers(0, 3, 7)
    expected = np.mean(
        [average_precision_from_scores(db @ v, db_labels == c) for v, c in zip(q, q_labels, strict=True)]
    )
    assert class_retrieval_map(q, q_labels, db, db_labels, chunk=3) == pytest.approx(expected)


def test_class_retrieval_map_skips_queries_whose_class_is_absent() -> None:
    # Query 0 (class 0): db ranked [item 0 (class 0), item 1 (class 1)] → AP 1. Query 1 (class 7) has no
    # relevant item: undefined, left out of the mean (not counted as 0, which would give 0.5).
    db = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    q = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert class_retrieval_map(q, np.array([0, 7]), db, np.array([0, 1])) == pytest.approx(1.0)
    assert math.isnan(class_retrieval_map(q[1:], np.array([7]), db, np.array([0, 1])))

"""Retrieval metrics against rankings computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mmir.evaluate.retrieval import (
    average_precision,
    average_precision_from_scores,
    class_retrieval_map,
    inferred_average_precision,
    knn_recall,
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


def test_no_relevant_items_give_zero_everywhere() -> None:
    assert average_precision([0, 0, 0]) == 0.0
    assert average_precision([]) == 0.0
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
    assert mean_average_precision([]) == 0.0


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


def test_knn_recall() -> None:
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    approx = np.array([[3, 2, 9], [4, 5, 6]])
    assert knn_recall(approx, exact) == pytest.approx((2 + 3) / 6)
    assert knn_recall(np.array([[-1, -1, -1], [4, 5, 6]]), exact) == pytest.approx(3 / 6)


def test_approximate_search_recall_against_exact() -> None:
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4000, 32)).astype(np.float32)
    queries = rng.standard_normal((100, 32)).astype(np.float32)
    exact = faiss.IndexFlatL2(32)
    exact.add(base)
    _, truth = exact.search(queries, 10)
    quantizer = faiss.IndexFlatL2(32)
    ivf = faiss.IndexIVFFlat(quantizer, 32, 32)
    ivf.train(base)
    ivf.add(base)
    ivf.nprobe = 1
    _, rough = ivf.search(queries, 10)
    ivf.nprobe = 32  # every list probed: exact
    _, full = ivf.search(queries, 10)
    hnsw = faiss.IndexHNSWFlat(32, 16)
    hnsw.hnsw.efSearch = 128
    hnsw.add(base)
    _, graph = hnsw.search(queries, 10)
    assert knn_recall(full, truth) == pytest.approx(1.0)
    assert knn_recall(rough, truth) < knn_recall(full, truth)
    assert knn_recall(graph, truth) > 0.9


def test_class_retrieval_map_matches_per_query_ap() -> None:
    rng = np.random.default_rng(1)
    db = rng.standard_normal((50, 4)).astype(np.float32)
    q = rng.standard_normal((7, 4)).astype(np.float32)
    db_labels, q_labels = rng.integers(0, 3, 50), rng.integers(0, 3, 7)
    expected = np.mean(
        [average_precision_from_scores(db @ v, db_labels == c) for v, c in zip(q, q_labels, strict=True)]
    )
    assert class_retrieval_map(q, q_labels, db, db_labels, chunk=3) == pytest.approx(expected)

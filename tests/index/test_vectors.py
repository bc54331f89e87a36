from __future__ import annotations

import numpy as np
import pytest

from mmir.index.vectors import FaissIndex, Metric


def _data(n: int = 2000, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(10**9, size=n, replace=False).astype(np.int64)
    return ids, vectors


def test_exact_search_matches_numpy_and_returns_catalog_ids() -> None:
    ids, vectors = _data()
    index = FaissIndex(32)
    index.add(ids, vectors)
    queries = vectors[:5] + 0.01
    scores, found = index.search(queries, 7)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :7]
    assert np.array_equal(found, ids[expected])
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_l2_scores_are_negated_distances_higher_is_better() -> None:
    ids, vectors = _data(100)
    index = FaissIndex(32, Metric.L2)
    index.add(ids, vectors)
    scores, found = index.search(vectors[:1], 3)
    assert found[0, 0] == ids[0]
    assert scores[0, 0] == pytest.approx(0.0, abs=1e-5)
    assert scores[0, 1] < 0


def test_remove_and_save_load_round_trip(tmp_path) -> None:
    ids, vectors = _data(50)
    index = FaissIndex(32)
    index.add(ids, vectors)
    index.remove(ids[:10])
    assert len(index) == 40
    index.save(tmp_path / "v.faiss")
    loaded = FaissIndex.load(tmp_path / "v.faiss", Metric.INNER_PRODUCT)
    _, found = loaded.search(vectors[10:11], 1)
    assert found[0, 0] == ids[10]
    assert set(loaded.ids()) == set(ids[10:])
    _, found = loaded.search(vectors[:1], 1)
    assert found[0, 0] != ids[0]


def test_search_on_empty_index_returns_nothing() -> None:
    scores, found = FaissIndex(8).search(np.zeros((1, 8), np.float32), 5)
    assert scores.shape == (1, 0) and found.shape == (1, 0)

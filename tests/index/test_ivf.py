"""The IVF index: candidates from compressed (optionally PCA-reduced) codes, re-ranked exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.index.conftest import clustered

from mmir.errors import CollectionError
from mmir.index.builder import StreamingTopK, recall_at
from mmir.index.ivf import IvfIndex, rerank, uncentred_pca
from mmir.index.tuning import IndexKind, IndexPlan
from mmir.index.vectors import FaissIndex, Metric


def _lookup(ids: np.ndarray, vectors: np.ndarray):  # type: ignore[no-untyped-def]
    table = dict(zip(ids.tolist(), vectors, strict=True))

    def fetch(wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        known = np.asarray([i for i in wanted.tolist() if i in table], np.int64)
        return known, np.stack([table[i] for i in known.tolist()]) if len(known) else np.zeros((0, vectors.shape[1]))

    return fetch


def _ivf(vectors: np.ndarray, ids: np.ndarray, reduced: int, nprobe: int = 8) -> IvfIndex:
    plan = IndexPlan(IndexKind.IVF, nlist=32, reduced_dim=reduced, nprobe=nprobe, candidates=100)
    index = IvfIndex.train(plan, vectors, Metric.INNER_PRODUCT, _lookup(ids, vectors))
    index.add(ids, vectors)
    return index


@pytest.mark.parametrize("reduced", [0, 24])
def test_reranked_ivf_matches_exact_scores_and_recall(reduced: int) -> None:
    data = clustered(3000, seed=1, dim=96)
    vectors, queries = data[:2900], data[2900:]
    ids = np.arange(2900, dtype=np.int64) * 3 + 11  # catalog ids, not positions
    exact = FaissIndex(96)
    exact.add(ids, vectors)
    truth_scores, truth = exact.search(queries, 10)
    scores, found = _ivf(vectors, ids, reduced).search(queries, 10)
    assert recall_at(truth, found) >= 0.95
    agree = found == truth  # where the same id is found, its score is the exact one (not the 8-bit code's)
    np.testing.assert_allclose(scores[agree], truth_scores[agree], rtol=1e-5, atol=1e-6)


def test_uncentred_pca_is_an_orthonormal_projection_keeping_inner_products() -> None:
    data = clustered(2000, seed=2, dim=64)
    basis = uncentred_pca(data, 64)
    np.testing.assert_allclose(basis @ basis.T, np.eye(64), atol=1e-4)
    projected = data @ basis.T
    np.testing.assert_allclose(projected[:50] @ projected[:50].T, data[:50] @ data[:50].T, atol=1e-4)


def test_memory_mapped_index_is_read_only_and_searches_like_the_saved_one(tmp_path: Path) -> None:
    data = clustered(1500, seed=3, dim=32)
    ids = np.arange(1500, dtype=np.int64)
    index = _ivf(data, ids, 0)
    index.save(tmp_path / "v.faiss")
    mapped = IvfIndex.load(tmp_path / "v.faiss", Metric.INNER_PRODUCT, index.plan, index.fetch, mmap=True)
    assert mapped.mapped and len(mapped) == 1500
    assert np.array_equal(mapped.search(data[:20], 5)[1], index.search(data[:20], 5)[1])
    with pytest.raises(CollectionError, match="read-only"):
        mapped.remove(ids[:1])


def test_removed_ids_are_never_returned() -> None:
    data = clustered(1500, seed=4, dim=32)
    ids = np.arange(1500, dtype=np.int64) + 100
    index = _ivf(data, ids, 0, nprobe=32)
    index.remove(ids[:500])
    assert len(index) == 1000
    _, found = index.search(data[:500], 10)
    assert found.min() >= 600


def test_rerank_pads_when_candidates_run_out_and_drops_unknown_ids() -> None:
    vectors = np.eye(4, dtype=np.float32)
    ids = np.array([10, 11, 12, 13], np.int64)
    candidates = np.array([[11, 99, 10, -1]], np.int64)  # 99 was deleted from the catalog
    scores, found = rerank(vectors[1:2], candidates, 3, _lookup(ids, vectors), Metric.INNER_PRODUCT)
    assert found.tolist() == [[11, 10, -1]]
    assert scores[0, 0] == pytest.approx(1.0) and scores[0, 2] == -np.inf


def test_streaming_top_k_matches_a_full_sort_and_skips_the_query_itself() -> None:
    data = clustered(500, seed=5, dim=16)
    ids = np.arange(500, dtype=np.int64)
    topk = StreamingTopK(data[:7], ids[:7], 5, Metric.L2)
    for start in range(0, 500, 64):
        topk.update(ids[start : start + 64], data[start : start + 64])
    distances = ((data[:7, None, :] - data[None, :, :]) ** 2).sum(axis=2)
    distances[np.arange(7), np.arange(7)] = np.inf
    assert np.array_equal(topk.ids, np.argsort(distances, axis=1, kind="stable")[:, :5])

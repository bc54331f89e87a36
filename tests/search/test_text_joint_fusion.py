"""Rank fusion of a joint model's text tower with the concept route: hand-computed expectations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mmir.search.joint_fusion import RRF_K, average_ranks, joint_similarities, rank_fusion


def test_average_ranks_share_ties() -> None:
    np.testing.assert_allclose(average_ranks(np.array([0.5, 0.9, 0.5, 0.1, 0.5])), [3.0, 1.0, 3.0, 5.0, 3.0])
    np.testing.assert_allclose(average_ranks(np.array([0.0, 0.0])), [1.5, 1.5])


def test_rank_fusion_by_hand() -> None:
    joint = np.array([0.30, 0.10, 0.20])  # ranks 1, 3, 2
    concept = np.array([0.0, 0.9, 0.5])  # ranks 3, 1, 2
    k = RRF_K
    expected = np.array([1 / (k + 1) + 1 / (k + 3), 1 / (k + 3) + 1 / (k + 1), 2 / (k + 2)]) * (k + 1) / 2
    np.testing.assert_allclose(rank_fusion(joint, concept), expected, rtol=1e-6)
    # First in both routes scores exactly 1; the tower alone keeps its own order.
    assert rank_fusion(np.array([0.3, 0.1]), np.array([0.9, 0.2]))[0] == pytest.approx(1.0)
    alone = rank_fusion(np.array([0.1, 0.3, 0.2]), None)
    assert list(np.argsort(-alone)) == [1, 2, 0] and alone.max() == pytest.approx(1.0)


class _Catalog:
    """Descriptors handed out in batches in another order than the ids asked for, one id unknown."""

    def __init__(self, ids: np.ndarray, descriptors: np.ndarray) -> None:
        self.ids, self.descriptors = ids, descriptors

    def iter_descriptors(self, batch: int):
        for start in range(0, len(self.ids), 2):
            yield self.ids[start : start + 2], self.descriptors[start : start + 2]


def test_joint_similarities_align_with_the_ids_asked_for() -> None:
    rng = np.random.default_rng(0)
    stored_ids = np.array([7, 3, 11, 5, 2], np.int64)
    descriptors = rng.normal(size=(5, 4)).astype(np.float32)
    query = rng.normal(size=4).astype(np.float32)
    asked = np.array([2, 5, 99, 7, 11, 3], np.int64)
    got = joint_similarities(_Catalog(stored_ids, descriptors), asked, query)  # type: ignore[arg-type]
    by_id = dict(zip(stored_ids.tolist(), descriptors @ query, strict=True))
    expected = [by_id.get(i, -1.0) for i in asked.tolist()]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_search_joint_on_an_empty_collection_asks_the_catalog_nothing() -> None:
    """No blocks means no segments: no COUNT(*) scan, no FTS query, no text-tower pass."""
    from mmir.concepts.mapping import QueryMapping, QueryMode
    from mmir.search.joint_fusion import joint_source

    class _Untouchable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"touched {name}")

    untouchable: Any = _Untouchable()
    mapping = QueryMapping("a dog", QueryMode.AND, ())
    source = joint_source(mapping, iter(()), 0, untouchable, untouchable, untouchable, untouchable)
    assert len(source.top(5).ids) == 0 and source.top(5).exhausted

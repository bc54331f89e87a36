"""Near-duplicate groups: FAISS range search + SciPy connected components against a brute-force computation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mmir.errors import MmirError
from mmir.search.duplicates import groups_from_pairs, near_duplicate_groups, similar_pairs


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_groups_by_hand() -> None:
    base = _unit(np.eye(4, 8) + 0.0)
    vectors = np.concatenate([base, _unit(base[:2] + 0.05)])  # rows 4, 5 are near copies of rows 0, 1
    ids = np.array([10, 11, 12, 13, 14, 15])
    assert near_duplicate_groups(ids, vectors, threshold=0.95) == [[10, 14], [11, 15]]
    assert near_duplicate_groups(ids, vectors, threshold=0.9999) == []
    # At -1 everything is linked into one group.
    assert near_duplicate_groups(ids, vectors, threshold=-1.0) == [sorted(ids.tolist())]


def test_chains_join_into_one_group() -> None:
    angles = np.array([0.0, 0.1, 0.2, 1.5])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    # cos(0.1) ≈ 0.995 links neighbours; cos(0.2) ≈ 0.980 does not link the ends directly.
    assert near_duplicate_groups(np.arange(4), vectors, threshold=0.99) == [[0, 1, 2]]


def test_range_search_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    vectors = _unit(rng.standard_normal((200, 6)))
    threshold = 0.8
    first, second, sims = similar_pairs(vectors, threshold)
    found = set(zip(first.tolist(), second.tolist(), strict=True))
    gram = vectors @ vectors.T
    expected = {(i, j) for i, j in itertools.combinations(range(200), 2) if gram[i, j] >= threshold}
    assert found == expected
    np.testing.assert_allclose(sims, gram[first, second], rtol=1e-5)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(MmirError, match="ids"):
        near_duplicate_groups(np.arange(3), np.zeros((2, 4), np.float32), 0.9)
    with pytest.raises(MmirError, match="threshold"):
        near_duplicate_groups(np.arange(2), np.zeros((2, 4), np.float32), 1.5)
    assert near_duplicate_groups(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), 0.9) == []


def test_groups_from_pairs_match_a_plain_graph_walk() -> None:
    rng = np.random.default_rng(3)
    ids = np.arange(100, 160)
    first, second = rng.integers(0, 60, 40), rng.integers(0, 60, 40)  # repeats and self-links included
    neighbours: dict[int, set[int]] = {}
    for a, b in zip(first.tolist(), second.tolist(), strict=True):
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    seen: set[int] = set()
    expected = []
    for start in sorted(neighbours):
        if start in seen:
            continue
        component, todo = {start}, [start]
        while todo:
            for other in neighbours[todo.pop()] - component:
                component.add(other)
                todo.append(other)
        seen |= component
        if len(component) > 1:
            expected.append(sorted(int(ids[row]) for row in component))
    expected.sort(key=lambda group: (-len(group), group[0]))
    assert groups_from_pairs(ids, first, second) == expected

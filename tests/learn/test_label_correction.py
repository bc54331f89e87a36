"""Label correction before the final robust heads: relabels, what it must leave alone, multi-label, config."""

from __future__ import annotations

import numpy as np
import pytest

from mmir.errors import MmirError
from mmir.learn.label_correction import CorrectionConfig, correct_labels, neighbour_graph, spread_labels
from mmir.learn.noise import corrupt_labels
from mmir.learn.robust_heads import RobustConfig, train_robust_heads


def _blobs(n_per: int, classes: int, dim: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``float32[n_per * classes, dim]`` points around random class centres, and their ``int[N]`` classes."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    labels = np.repeat(np.arange(classes), n_per)
    return (centres[labels] + spread * rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def _corrected(noisy: np.ndarray, relabelled: tuple) -> np.ndarray:
    """The labels the final heads saw: ``noisy`` with the relabels applied (names are ``c<k>``)."""
    fixed = noisy.copy()
    for relabel in relabelled:
        assert relabel.given == f"c{noisy[relabel.index]}"
        fixed[relabel.index] = int(relabel.corrected[1:])
    return fixed


def test_correction_fixes_flipped_labels_on_a_separable_set() -> None:
    x, clean = _blobs(50, 4, 32, spread=0.8)
    noisy = corrupt_labels(clean, 0.3, 4, seed=1)
    labels = [frozenset({f"c{k}"}) for k in noisy.labels]
    # Ratio 2: on 200 examples the out-of-fold heads are still soft (top probability ~0.7 on average).
    result = train_robust_heads(x, labels, RobustConfig(epochs=30, correction=CorrectionConfig(ratio=2.0)))
    fixed = _corrected(noisy.labels, result.relabelled)
    before, after = (noisy.labels == clean).mean(), (fixed == clean).mean()
    assert before < 0.75 and after > 0.95, (before, after)
    # Most relabels go to the true class, and the evidence is reported strongest first.
    assert np.mean([clean[r.index] == int(r.corrected[1:]) for r in result.relabelled]) > 0.95
    evidence = [r.evidence for r in result.relabelled]
    assert evidence == sorted(evidence, reverse=True)
    # Off by default: the same call without a correction relabels nothing.
    assert train_robust_heads(x, labels, RobustConfig(epochs=30)).relabelled == ()


def test_right_and_confident_labels_are_left_alone() -> None:
    x, clean = _blobs(40, 3, 16, spread=0.5, seed=2)
    labels = [frozenset({f"c{k}"}) for k in clean]
    result = train_robust_heads(x, labels, RobustConfig(epochs=30, correction=CorrectionConfig(ratio=2.0)))
    assert result.relabelled == ()


def test_ratio_rule_by_hand_and_the_two_example_floor() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    given = np.eye(3, dtype=bool)[[0, 0, 0, 0, 2]]  # row 2: evidence 8× for b; row 1: 2×; row 3: b below a
    no_graph = CorrectionConfig(ratio=4.0, neighbours=0)
    x = np.eye(5, 4, dtype=np.float32)
    fixed, relabels = correct_labels(x, probs, given, ("a", "b", "c"), no_graph)
    assert [(r.index, r.given, r.corrected) for r in relabels] == [(2, "a", "b")]
    assert fixed.argmax(1).tolist() == [0, 0, 1, 0, 2]
    fixed, relabels = correct_labels(x, probs, given, ("a", "b", "c"), CorrectionConfig(ratio=1.5, neighbours=0))
    assert [r.index for r in relabels] == [2, 1]  # strongest evidence first
    # Rows 0 and 2 both look like "b"; moving row 0 would leave "c" with one example, so only row 2 (a: 3 → 2) moves.
    floor = np.array([[0.05, 0.9, 0.05], [0.1, 0.1, 0.8], [0.05, 0.9, 0.05], [0.8, 0.1, 0.1], [0.8, 0.1, 0.1],
                      [0.1, 0.8, 0.1]])  # fmt: skip
    given = np.eye(3, dtype=bool)[[2, 2, 0, 0, 0, 1]]
    fixed, relabels = correct_labels(np.eye(6, dtype=np.float32), floor, given, ("a", "b", "c"), no_graph)
    assert [(r.index, r.given, r.corrected) for r in relabels] == [(2, "a", "b")]
    assert fixed.sum(0).tolist() == [2, 2, 2]


def test_neighbour_graph_in_blocks_matches_brute_force_and_spreading_keeps_rows_normalised() -> None:
    x, labels = _blobs(10, 3, 8, spread=0.3, seed=3)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)
    expected = np.sort(np.argsort(-similarity, axis=1)[:, :4], axis=1)
    assert np.array_equal(np.sort(neighbour_graph(x, 4, block=7), axis=1), expected)
    spread = spread_labels(neighbour_graph(x, 4), np.eye(3, dtype=bool)[labels], 0.8, 5)
    assert spread.shape == (30, 3) and np.allclose(spread.sum(1), 1.0)
    assert (spread.argmax(1) == labels).mean() == 1.0  # tight blobs: spreading agrees with the labels


def test_multi_label_sets_are_trained_as_before() -> None:
    x, clean = _blobs(20, 3, 16, spread=0.6, seed=4)
    labels = [frozenset({f"c{k}", "any"} if i % 3 == 0 else {f"c{k}"}) for i, k in enumerate(clean)]
    plain = train_robust_heads(x, labels, RobustConfig(epochs=10))
    corrected = train_robust_heads(x, labels, RobustConfig(epochs=10, correction=CorrectionConfig()))
    assert not corrected.exclusive and corrected.relabelled == ()
    assert np.array_equal(plain.heads.weight, corrected.heads.weight)
    assert [s.index for s in plain.suspects] == [s.index for s in corrected.suspects]


def test_correction_config_rejects_bad_settings() -> None:
    with pytest.raises(MmirError, match="label-correction"):
        CorrectionConfig(ratio=0.5)
    with pytest.raises(MmirError, match="label-correction"):
        CorrectionConfig(spread=1.0)

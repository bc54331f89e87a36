"""Concept heads on frozen descriptors: they separate what is separable, calibrate, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmir.learn.concept_heads import ConceptError, ConceptHeads, HeadKind, fit_platt, train_concept_heads


def _clusters(noise_seed: int = 0, per: int = 20, dim: int = 32) -> tuple[np.ndarray, list[frozenset[str]], np.ndarray]:
    """Two concepts around fixed random directions (some examples carry both), plus background negatives."""
    a, b = np.random.default_rng(123).normal(size=(2, dim))
    rng = np.random.default_rng(noise_seed)
    rows, labels = [], []
    for i in range(per):
        rows.append(a + 0.6 * rng.normal(size=dim))
        labels.append(frozenset({"beach"}))
        rows.append(b + 0.6 * rng.normal(size=dim))
        labels.append(frozenset({"dog", "beach"}) if i % 4 == 0 else frozenset({"dog"}))
    background = rng.normal(size=(40, dim))
    return np.array(rows, dtype=np.float32), labels, background.astype(np.float32)


@pytest.mark.parametrize("kind", list(HeadKind))
def test_heads_rank_held_out_positives_first(kind: HeadKind) -> None:
    x, labels, negatives = _clusters()
    heads = train_concept_heads(x, labels, negatives=negatives, seed=0, kind=kind)
    assert heads.names == ("beach", "dog") and heads.weight.shape == (2, 32)
    assert heads.held_out_ap["dog"] > 0.9
    fresh, test_labels, test_neg = _clusters(noise_seed=7)  # same concepts, unseen examples
    probs = heads.predict_proba(np.concatenate([fresh, test_neg]))
    assert probs.dtype == np.float32 and probs.shape == (len(fresh) + 40, 2)
    is_dog = np.array(["dog" in s for s in test_labels] + [False] * 40)
    assert probs[is_dog, 1].mean() > 0.7 > 0.3 > probs[~is_dog, 1].mean()
    is_beach = np.array(["beach" in s for s in test_labels] + [False] * 40)
    assert probs[is_beach, 0].mean() > probs[~is_beach, 0].mean() + 0.3


def test_predict_proba_is_the_formula() -> None:
    heads = ConceptHeads(
        names=("a",),
        weight=np.array([[1.0, 0.0]], np.float32),
        bias=np.array([0.5], np.float32),
        platt_a=np.array([2.0], np.float32),
        platt_b=np.array([-1.0], np.float32),
    )
    # x = (3, 4) normalises to (0.6, 0.8): w·x + b = 1.1, then σ(2·1.1 − 1) = σ(1.2).
    assert heads.predict_proba(np.array([[3.0, 4.0]]))[0, 0] == pytest.approx(1 / (1 + np.exp(-1.2)), rel=1e-6)
    with pytest.raises(ConceptError, match=r"descriptors must be \[N, 2\]"):
        heads.predict_proba(np.zeros((1, 3)))


def test_save_load_round_trip(tmp_path: Path) -> None:
    x, labels, negatives = _clusters()
    heads = train_concept_heads(x, labels, negatives=negatives)
    heads.save(tmp_path / "concepts.npz")
    assert (tmp_path / "concepts.json").is_file()
    loaded = ConceptHeads.load(tmp_path / "concepts")
    assert loaded.names == heads.names and loaded.held_out_ap == pytest.approx(heads.held_out_ap)
    np.testing.assert_array_equal(loaded.predict_proba(x), heads.predict_proba(x))
    with pytest.raises(ConceptError, match="cannot read concept heads"):
        ConceptHeads.load(tmp_path / "missing")


def test_platt_fit_recovers_a_known_sigmoid() -> None:
    rng = np.random.default_rng(0)
    s = rng.normal(size=4000)
    y = rng.random(4000) < 1 / (1 + np.exp(-(3 * s - 1)))
    a, b = fit_platt(s, y)
    assert a == pytest.approx(3, rel=0.15) and b == pytest.approx(-1, abs=0.2)


def test_platt_fit_on_wide_scores_stays_finite() -> None:
    # Found when tried: linear-SVM margins in the hundreds made the old hand-written Newton steps diverge
    # (a ≈ 4.6e9, b ≈ -2.1e9 here); sklearn's sigmoid calibration rescales such scores first.
    rng = np.random.default_rng(1)
    s = rng.normal(size=400) * 100
    y = rng.random(400) < 1 / (1 + np.exp(-(3 * s / 100 - 1)))
    a, b = fit_platt(s, y)
    assert a == pytest.approx(0.03, rel=0.2) and b == pytest.approx(-1, abs=0.25)


def test_platt_keeps_the_ranking_when_positives_score_lower() -> None:
    s = np.array([0.1, 0.2, 0.3, 0.4])
    a, _ = fit_platt(s, np.array([True, True, False, False]))
    assert a > 0


def test_too_few_examples_are_named() -> None:
    x = np.eye(4, dtype=np.float32)
    with pytest.raises(ConceptError, match="'lonely' needs at least 2 positive"):
        train_concept_heads(x, [{"lonely"}, {"x"}, {"x"}, set()])
    with pytest.raises(ConceptError, match="do not match 3 label sets"):
        train_concept_heads(x, [{"a"}, {"a"}, set()])
    with pytest.raises(ConceptError, match="no concept names"):
        train_concept_heads(x, [set(), set(), set(), set()])

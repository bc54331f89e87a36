"""Concept scoring against hand-computed values, and a real check on two scikit-image photos."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmir.concepts import ConceptWeight, MatchSource, QueryMapping, QueryMode, TermMapping
from mmir.search.concept_scoring import combine_terms, explain, explain_many, term_scores

# Three items over four concepts (rows sum to 1 like softmax outputs).
PROBS = np.array(
    [
        [0.5, 0.2, 0.3, 0.0],
        [0.1, 0.1, 0.2, 0.6],
        [0.0, 0.0, 0.0, 1.0],
    ],
    dtype=np.float32,
)


def score_concepts(mapping: QueryMapping, probs: np.ndarray) -> np.ndarray:
    """The concept-only score of a mapped query over a full matrix (the formula search streams block by block)."""
    per_term = term_scores(mapping, probs)
    if per_term.shape[1] == 0:
        return np.zeros(per_term.shape[0], dtype=np.float32)
    importance = np.array([t.importance for t in mapping.matched_terms], dtype=np.float64)
    return combine_terms(per_term, importance, mapping.mode)


def _mapping(mode: QueryMode, with_unmatched: bool = False) -> QueryMapping:
    cats = TermMapping("a", MatchSource.LEMMA, (ConceptWeight(0, "c0", 1.0), ConceptWeight(1, "c1", 0.5)))
    other = TermMapping("b", MatchSource.LEMMA, (ConceptWeight(2, "c2", 1.0),))
    terms = (cats, other, TermMapping("zzz", None, ())) if with_unmatched else (cats, other)
    return QueryMapping("a b", mode, terms)


def test_and_is_the_geometric_mean_of_expected_relevances_with_a_floor() -> None:
    # Term a: 1·p0 + 0.5·p1 → [0.6, 0.15, 0]; term b: p2 → [0.3, 0.2, 0]; FLOOR = 0.001 added to each.
    f = 0.001
    expected = np.array([((0.6 + f) * (0.3 + f)) ** 0.5, ((0.15 + f) * (0.2 + f)) ** 0.5, f], dtype=np.float32)
    np.testing.assert_allclose(score_concepts(_mapping(QueryMode.AND), PROBS), expected, rtol=1e-6)


def test_and_weighs_terms_by_importance() -> None:
    a, b = _mapping(QueryMode.AND).terms
    mapping = QueryMapping("a b", QueryMode.AND, (replace(a, importance=3.0), replace(b, importance=1.0)))
    f = 0.001
    expected = np.array([(0.6 + f) ** 0.75 * (0.3 + f) ** 0.25, (0.15 + f) ** 0.75 * (0.2 + f) ** 0.25, f], np.float32)
    np.testing.assert_allclose(score_concepts(mapping, PROBS), expected, rtol=1e-5)


def test_one_term_keeps_its_full_order() -> None:
    # A clipping floor tied every item below it; adding it keeps the order of tiny probabilities.
    (a, _) = _mapping(QueryMode.AND).terms
    probs = np.array([[1e-4, 0, 0, 0], [2e-4, 0, 0, 0], [3e-5, 0, 0, 0]], dtype=np.float32)
    scores = score_concepts(QueryMapping("a", QueryMode.AND, (a,)), probs)
    assert list(np.argsort(-scores)) == [1, 0, 2]


def test_a_term_no_item_shows_lowers_scores_but_keeps_the_ranking() -> None:
    # The old product ranked every item 0 once one term was absent everywhere ("riding" in a caption).
    absent = TermMapping("riding", MatchSource.EMBEDDING, (ConceptWeight(3, "c3", 0.5),), similarity=0.45)
    a, b = _mapping(QueryMode.AND).terms
    probs = PROBS.copy()
    probs[:, 3] = 0.0
    scores = score_concepts(QueryMapping("a b riding", QueryMode.AND, (a, b, absent)), probs)
    assert scores[0] > scores[1] > scores[2] and scores[1] > 0


def test_or_is_the_noisy_or() -> None:
    expected = np.array([1 - 0.4 * 0.7, 1 - 0.85 * 0.8, 0.0], dtype=np.float32)
    np.testing.assert_allclose(score_concepts(_mapping(QueryMode.OR), PROBS), expected, rtol=1e-6)


def test_unmatched_terms_are_ignored() -> None:
    for mode in QueryMode:
        np.testing.assert_array_equal(
            score_concepts(_mapping(mode, with_unmatched=True), PROBS), score_concepts(_mapping(mode), PROBS)
        )
    nothing = QueryMapping("zzz", QueryMode.AND, (TermMapping("zzz", None, ()),))
    scores = score_concepts(nothing, PROBS)
    assert scores.dtype == np.float32 and scores.shape == (3,) and not scores.any()


def test_scores_are_clipped_to_unit_interval() -> None:
    heavy = TermMapping("x", MatchSource.LEMMA, tuple(ConceptWeight(i, f"c{i}", 1.0) for i in range(4)))
    scores = score_concepts(QueryMapping("x", QueryMode.OR, (heavy,)), PROBS * 2)
    assert scores.max() <= 1.0 and scores.min() >= 0.0


def test_explain_lists_the_strongest_contributions() -> None:
    mapping = _mapping(QueryMode.AND)
    assert explain(mapping, PROBS[0]) == ("c0 0.50", "c2 0.30", "c1 0.20")
    assert explain(mapping, PROBS[1], top=1) == ("c2 0.20",)
    assert explain(mapping, PROBS[2]) == ()


def _explain_by_loop(mapping: QueryMapping, row: np.ndarray, top: int = 3) -> tuple[str, ...]:
    """The reference: each (term, concept) pair in turn, a concept keeping its largest (first on ties)."""
    best: dict[int, tuple[float, str]] = {}
    for term in mapping.matched_terms:
        for concept in term.concepts:
            contribution = concept.weight * float(row[concept.index]) if concept.index < len(row) else 0.0
            if contribution > 0 and contribution > best.get(concept.index, (0.0, ""))[0]:
                best[concept.index] = (contribution, concept.name)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:top]
    return tuple(f"{name} {row[index]:.2f}" for index, (_, name) in ranked)


def test_explain_many_matches_the_pair_by_pair_reference_on_ties_and_short_rows() -> None:
    rng = np.random.default_rng(3)
    for trial in range(40):
        terms = tuple(
            TermMapping(f"t{t}", MatchSource.LEMMA, tuple(
                ConceptWeight(int(c), f"c{int(c)}", float(rng.choice([0.5, 1.0, rng.random()])))
                for c in rng.choice(12, size=rng.integers(1, 5), replace=False)))
            for t in range(rng.integers(1, 8))
        )  # fmt: skip
        mapping = QueryMapping("q", QueryMode.AND, terms)
        rows = {i: rng.choice([0.0, 0.25, 0.5, 1.0], size=10 if trial % 5 == 0 else 12).astype(np.float32)
                for i in range(6)}  # fmt: skip
        assert explain_many(mapping, rows) == {i: _explain_by_loop(mapping, row) for i, row in rows.items()}


@pytest.fixture(scope="module")
def photo_probs(lite0) -> dict[str, np.ndarray]:
    """Lite0 concept probabilities ``float32[1000]`` of scikit-image's chelsea (a cat) and coffee (a cup)."""
    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    names = ("chelsea.png", "coffee.png")
    images = [Image.open(data / name).convert("RGB") for name in names]
    concepts = lite0.encode(images).concepts
    return dict(zip(names, concepts, strict=True))


@pytest.mark.parametrize(
    ("query", "better", "worse"), [("cat", "chelsea.png", "coffee.png"), ("cup", "coffee.png", "chelsea.png")]
)
def test_real_photos_rank_as_expected(lite0, photo_probs, query: str, better: str, worse: str) -> None:
    from mmir.concepts import ConceptVocabulary

    vocab = ConceptVocabulary(lite0.concept_names, use_embeddings=False)
    mapping = vocab.map_query(query)
    probs = np.stack([photo_probs[better], photo_probs[worse]])
    scores = score_concepts(mapping, probs)
    # Lite0 sees coffee.png as 95 % "espresso" (a drink, not a cup in WordNet): only the order is asserted.
    assert scores[0] > scores[1]
    assert explain(mapping, probs[0])

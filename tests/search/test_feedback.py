"""Relevance feedback: Rocchio by hand, the classifier on separable clusters, and through a collection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmir.errors import QueryError
from mmir.search.feedback import FeedbackConfig, FeedbackMethod, Marks, feedback_scores, rocchio_vector


def _clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """120 unit vectors in 16-D around six centres; labels ``int[120]``."""
    rng = np.random.default_rng(seed)
    centres = np.eye(16, dtype=np.float32)[:6]
    labels = np.repeat(np.arange(6), 20)
    x = centres[labels] + 0.12 * rng.standard_normal((120, 16)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def test_rocchio_matches_the_formula_by_hand() -> None:
    pos = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    neg = np.array([[0.0, 0.0, 1.0]], np.float32)
    query = np.array([0.0, 3.0, 4.0], np.float32)  # unit: (0, .6, .8)
    config = FeedbackConfig(alpha=1.0, beta=0.5, gamma=0.25)
    expected = np.array([0.25, 0.25 + 0.6, 0.8 - 0.25])
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(rocchio_vector(Marks(pos, neg, query), config), expected, rtol=1e-6)
    np.testing.assert_allclose(rocchio_vector(Marks(pos, neg[:0]), config), [2**-0.5, 2**-0.5, 0], rtol=1e-6)


@pytest.mark.parametrize("method", list(FeedbackMethod))
def test_feedback_ranks_the_marked_category_first(method: FeedbackMethod) -> None:
    x, labels = _clusters()
    marks = Marks(x[[0, 3, 5]], x[[20, 41]])  # relevant: cluster 0; not: one of each other cluster
    scores = feedback_scores(method, marks, x)
    top = np.argsort(-scores)[:20]
    assert (labels[top] == 0).mean() >= 0.9


def test_classifier_uses_pseudo_negatives_when_nothing_is_marked_bad() -> None:
    x, labels = _clusters(1)
    scores = feedback_scores(FeedbackMethod.CLASSIFIER, Marks(x[[21, 22]], x[:0]), x, FeedbackConfig(seed=3))
    assert (labels[np.argsort(-scores)[:15]] == 1).all()


def test_no_positive_is_an_error() -> None:
    with pytest.raises(QueryError, match="relevant"):
        Marks(np.zeros((0, 4), np.float32), np.ones((1, 4), np.float32))


def test_collection_feedback_by_path_and_id(tmp_path: Path, photo_dir: Path, reuse_lite0) -> None:
    from mmir.api import Collection

    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
        horse = coll.store.catalog.lookup(str(photo_dir / "horse.png"))
        assert horse is not None
        hits = coll.feedback([horse.id], [photo_dir / "chelsea.png"], k=6, method="classifier")
        assert hits[0].media.path.endswith("horse.png") and "1 relevant, 1 not" in hits[0].why[0]
        assert not hits[-1].media.path.endswith("horse.png")
        rocchio = coll.feedback([photo_dir / "rocket.jpg"], k=2, method=FeedbackMethod.ROCCHIO)
        assert rocchio[0].media.path.endswith("rocket.jpg")
        with pytest.raises(QueryError, match="not in the collection"):
            coll.feedback([tmp_path / "nowhere.png"])


def test_cli_search_with_feedback_lists(tmp_path: Path, photo_dir: Path, reuse_lite0) -> None:
    import json

    from typer.testing import CliRunner

    from mmir.api import Collection
    from mmir.cli import commands  # noqa: F401  (registers the commands)
    from mmir.cli.groups import app

    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(f"# horses\n{photo_dir / 'horse.png'}\n\n")
    bad.write_text(f"{photo_dir / 'chelsea.png'}\n")
    args = ["search", "-c", str(tmp_path / "coll"), "--feedback", str(good), str(bad), "-k", "6", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert hits[0]["path"].endswith("horse.png") and not hits[-1]["path"].endswith("horse.png")
    missing = CliRunner().invoke(app, [*args[:4], str(tmp_path / "none.txt"), str(bad)])
    assert "cannot read the list" in str(missing.exception)

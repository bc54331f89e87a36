"""Relevance feedback: re-rank from items a user marked relevant or not.

Two methods on descriptors:

- **Rocchio** (Rocchio 1971): move the query vector towards the mean of the relevant items and away from the
  mean of the non-relevant ones, then rank by cosine similarity.
- **Classifier**: a linear classifier (L2-regularised logistic regression) trained on the marked positives
  against the marked negatives plus *pseudo-negatives* (random collection items, which are almost all
  irrelevant for a category query); items are ranked by its decision value, reported as the probability of
  relevance ``sigmoid(decision)`` in ``[0, 1]``. Rocchio's scores are cosines in ``[-1, 1]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.search.cancel import checkpoint
from mmir.search.queries import FeedbackMethod
from mmir.search.sources import Ranked, ranked_from_arrays

if TYPE_CHECKING:
    from mmir.index.store import CatalogVectors, SegmentStore

__all__ = ["FeedbackConfig", "FeedbackMethod", "FeedbackSource", "Marks", "feedback_scores", "to_unit_range"]


@dataclass(frozen=True)
class FeedbackConfig:
    """Knobs of both methods (defaults: the best round-2 rows on ``benchmarks/feedback.py``'s validation queries).

    Attributes:
        alpha: Rocchio weight of the original query vector (ignored when there is none).
        beta: Rocchio weight of the mean relevant vector.
        gamma: Rocchio weight of the mean non-relevant vector.
        pseudo_negatives: Random collection items added as negatives for the classifier.
        c: Inverse regularisation strength of the logistic regression.
        seed: Seed for drawing pseudo-negatives.
    """

    alpha: float = 1.0
    beta: float = 2.0
    gamma: float = 0.5
    pseudo_negatives: int = 200
    c: float = 10.0
    seed: int = 0


@dataclass(frozen=True)
class Marks:
    """What the user marked, as descriptors.

    Attributes:
        positives: ``float32[P, D]`` relevant items (at least one).
        negatives: ``float32[M, D]`` non-relevant items (may be empty, ``M = 0``).
        query: Optional ``float32[D]`` original query vector (query by example), used by Rocchio.
    """

    positives: np.ndarray
    negatives: np.ndarray
    query: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.positives) == 0:
            raise QueryError("relevance feedback needs at least one item marked relevant")


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


def rocchio_vector(marks: Marks, config: FeedbackConfig = FeedbackConfig()) -> np.ndarray:
    """The Rocchio query ``float32[D]`` (unit length): α·q + β·mean(relevant) − γ·mean(non-relevant)."""
    vector = config.beta * marks.positives.mean(axis=0)
    if marks.query is not None:
        vector = vector + config.alpha * _unit(marks.query.reshape(-1))
    if len(marks.negatives):
        vector = vector - config.gamma * marks.negatives.mean(axis=0)
    return _unit(vector)


Scorer = Callable[[np.ndarray], np.ndarray]


def classifier_scores(marks: Marks, candidates: np.ndarray, config: FeedbackConfig = FeedbackConfig()) -> np.ndarray:
    """Decision values ``float32[N]`` of a logistic regression for ``candidates`` ``float32[N, D]``.

    Pseudo-negatives are drawn from ``candidates`` (seeded); the rare relevant item among them costs less
    than having no negatives at all when the user marked only positives.
    """
    rows = pseudo_negative_rows(len(candidates), config)
    return fit_classifier(marks, candidates[rows], config)(candidates)


def pseudo_negative_rows(count: int, config: FeedbackConfig = FeedbackConfig()) -> np.ndarray:
    """Positions ``int64[P]`` among ``count`` candidates drawn (seeded) as pseudo-negatives."""
    size = min(config.pseudo_negatives, count)
    return np.random.default_rng(config.seed).choice(count, size=size, replace=False) if size else np.zeros(0, np.int64)


def fit_classifier(marks: Marks, pseudo: np.ndarray, config: FeedbackConfig = FeedbackConfig()) -> Scorer:
    """The classifier's scoring function ``float32[N, D] → float32[N]``, trained on the marks and ``pseudo``.

    Args:
        marks: The marked items.
        pseudo: ``float32[P, D]`` pseudo-negatives (random collection items).
        config: Regularisation.
    """
    from sklearn.linear_model import LogisticRegression

    pseudo = pseudo[(pseudo @ marks.positives.T).max(axis=1) < 0.9999]  # a marked item is never its own negative
    negatives = np.vstack([marks.negatives.reshape(-1, marks.positives.shape[1]), pseudo])
    if not len(negatives):
        vector = rocchio_vector(marks, config)  # nothing to contrast with: fall back
        return lambda candidates: candidates @ vector
    x = np.vstack([marks.positives, negatives])
    y = np.r_[np.ones(len(marks.positives)), np.zeros(len(negatives))]
    model = LogisticRegression(C=config.c, class_weight="balanced", max_iter=200)
    model.fit(x, y)
    return lambda candidates: model.decision_function(candidates).astype(np.float32)


def feedback_scores(
    method: FeedbackMethod, marks: Marks, candidates: np.ndarray, config: FeedbackConfig = FeedbackConfig()
) -> np.ndarray:
    """Scores ``float32[N]`` (higher is better) of ``candidates`` ``float32[N, D]`` under ``method``."""
    if method is FeedbackMethod.ROCCHIO:
        return (candidates @ rocchio_vector(marks, config)).astype(np.float32)
    return classifier_scores(marks, candidates, config)


def to_unit_range(method: FeedbackMethod, scores: np.ndarray) -> np.ndarray:
    """Feedback scores on their stated range: the classifier's probability of relevance ``sigmoid(decision)``
    in ``[0, 1]``; Rocchio's cosine in ``[-1, 1]`` (``float32[N]``, order unchanged)."""
    if method is FeedbackMethod.ROCCHIO:
        return np.clip(scores, -1.0, 1.0).astype(np.float32)
    return (1.0 / (1.0 + np.exp(-np.clip(np.asarray(scores, np.float64), -60, 60)))).astype(np.float32)


class FeedbackSource:
    """Ranks a collection's segments from marks, exactly: every segment is scored, ``batch`` at a time.

    A candidate source (:mod:`mmir.search.sources`). Descriptors are read from the catalog in id order, ``batch`` at
    a time, projected like the vector index and scored; only the scores are kept (12 bytes a segment, never the
    descriptors), so deeper rounds of grouping do not score again. Pseudo-negatives are drawn by position among
    the segment ids and only those rows are read.

    Args:
        store: The collection's store.
        marks: Projected mark vectors (index space); see :class:`Marks`.
        method: Classifier or Rocchio.
        config: Knobs of both methods.
        batch: Segments scored at a time (``batch × D`` float32 in memory).
    """

    def __init__(
        self, store: SegmentStore, marks: Marks, method: FeedbackMethod,
        config: FeedbackConfig = FeedbackConfig(), batch: int = 8192, why: str = "feedback",
    ) -> None:  # fmt: skip
        self.store, self.method, self.batch, self.why = store, method, batch, why
        self.ids = store.catalog.segment_ids()  # 8 bytes a segment
        self.source = store.source()  # the index vectors, read from the catalog and projected like the index
        self._score = self._scorer(method, marks, self.source, self.ids, config) if len(self.ids) else None
        self._scored: tuple[np.ndarray, np.ndarray] | None = None  # every segment's (ids, raw scores), once computed

    def top(self, n: int) -> Ranked:
        if self._score is None:
            return Ranked(np.zeros(0, np.int64), np.zeros(0, np.float32), exhausted=True)
        if self._scored is None:  # one pass over the descriptors; deeper rounds of grouping reuse the scores
            ids, scores = [], []
            for batch_ids, vectors in self.source.batches(self.batch):
                checkpoint()
                ids.append(np.asarray(batch_ids, np.int64))
                scores.append(np.asarray(self._score(np.ascontiguousarray(vectors, np.float32)), np.float32))
            self._scored = (np.concatenate(ids), np.concatenate(scores)) if ids else (self.ids[:0], np.zeros(0))
        ids_all, raw = self._scored
        found = ranked_from_arrays(ids_all, raw, n)  # ranked by the raw values (the sigmoid may saturate)
        return Ranked(found.ids, to_unit_range(self.method, found.scores), found.exhausted)

    def explain(self, ids: Sequence[int], scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        unit = "P(relevant)" if self.method is FeedbackMethod.CLASSIFIER else "cosine"
        return {int(i): (f"{self.why} ({unit} {s:.3f})",) for i, s in zip(ids, scores, strict=True)}

    @staticmethod
    def _scorer(
        method: FeedbackMethod, marks: Marks, source: CatalogVectors, ids: np.ndarray, config: FeedbackConfig
    ) -> Scorer:
        """The scoring function of ``method``; the classifier's pseudo-negatives are the only rows read here."""
        if method is FeedbackMethod.ROCCHIO:
            vector = rocchio_vector(marks, config)
            return lambda candidates: (candidates @ vector).astype(np.float32)
        _, pseudo = source.fetch(ids[pseudo_negative_rows(len(ids), config)])
        return fit_classifier(marks, np.ascontiguousarray(pseudo, np.float32), config)

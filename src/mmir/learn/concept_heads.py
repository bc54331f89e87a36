"""User concepts learned from a few labelled examples: calibrated linear heads on frozen descriptors.

Transfer learning in its cheapest form: the CNN stays frozen, its stored L2-normalised descriptors are the
features, and each concept gets one linear classifier (logistic regression or a linear SVM) whose scores are
turned into probabilities by Platt scaling fitted on held-out examples. Scoring a whole collection is then one
matrix product over the stored descriptors: no media decoding and no CNN pass.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from mmir.errors import MmirError
from mmir.evaluate.retrieval import average_precision_from_scores


class ConceptError(MmirError):
    """Concept training data is unusable (too few examples, mismatched shapes) or a heads file is bad."""


class HeadKind(StrEnum):
    """The linear classifier fitted per concept."""

    LOGISTIC = "logistic"
    LINEAR_SVM = "linear-svm"


@dataclass(frozen=True)
class ConceptHeads:
    """Linear heads on L2-normalised descriptors, with Platt calibration per concept.

    ``p_k(x) = σ(a_k · (w_k · x + b_k) + c_k)`` with ``x`` re-normalised to unit length.

    Attributes:
        names: The ``K`` concept names.
        weight: ``float32[K, D]``.
        bias: ``float32[K]``.
        platt_a: ``float32[K]`` Platt slope.
        platt_b: ``float32[K]`` Platt offset.
        held_out_ap: AP of each concept on its held-out examples (``nan`` if none were held out).
    """

    names: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray
    platt_a: np.ndarray
    platt_b: np.ndarray
    held_out_ap: dict[str, float] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """Descriptor dimension ``D``."""
        return int(self.weight.shape[1])

    def decision(self, descriptors: np.ndarray) -> np.ndarray:
        """Raw linear scores ``float32[N, K]`` of ``float32[N, D]`` descriptors (uncalibrated)."""
        x = np.asarray(descriptors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ConceptError(f"descriptors must be [N, {self.dim}], got {list(x.shape)}")
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return np.asarray(x @ self.weight.T + self.bias, dtype=np.float32)

    def predict_proba(self, descriptors: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``float32[N, K]`` for ``float32[N, D]`` descriptors (pure numpy)."""
        z = self.platt_a * self.decision(descriptors) + self.platt_b
        return (1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))).astype(np.float32)

    def merged_with(self, new: ConceptHeads) -> ConceptHeads:
        """These heads plus ``new``; a concept that ``new`` names again is replaced by its new head."""
        keep = [i for i, name in enumerate(self.names) if name not in new.names]
        return ConceptHeads(
            names=tuple(self.names[i] for i in keep) + new.names,
            weight=np.vstack([self.weight[keep], new.weight]),
            bias=np.concatenate([self.bias[keep], new.bias]),
            platt_a=np.concatenate([self.platt_a[keep], new.platt_a]),
            platt_b=np.concatenate([self.platt_b[keep], new.platt_b]),
            held_out_ap={**{self.names[i]: self.held_out_ap.get(self.names[i], float("nan")) for i in keep},
                         **new.held_out_ap},
        )  # fmt: skip

    def save(self, path: Path) -> None:
        """Write ``path`` (``.npz`` arrays) and ``path`` with suffix ``.json`` (names, AP); no pickle."""
        path = Path(path)
        np.savez(
            path.with_suffix(".npz"), weight=self.weight, bias=self.bias, platt_a=self.platt_a, platt_b=self.platt_b
        )
        meta = {"names": list(self.names), "held_out_ap": {k: _json_float(v) for k, v in self.held_out_ap.items()}}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ConceptHeads:
        """Read heads written by :meth:`save` (``path`` with either suffix, or none)."""
        path = Path(path)
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            with np.load(path.with_suffix(".npz"), allow_pickle=False) as arrays:
                parts = {k: arrays[k].astype(np.float32) for k in ("weight", "bias", "platt_a", "platt_b")}
        except (OSError, ValueError, KeyError) as exc:
            raise ConceptError(f"{path}: cannot read concept heads ({exc})") from exc
        names = tuple(meta["names"])
        if parts["weight"].shape[0] != len(names):
            raise ConceptError(f"{path}: {len(names)} names but {parts['weight'].shape[0]} weight rows")
        ap = {k: (float("nan") if v is None else float(v)) for k, v in meta.get("held_out_ap", {}).items()}
        return cls(names=names, held_out_ap=ap, **parts)


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def fit_platt(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Platt scaling by scikit-learn: ``(a, b)`` such that ``P(positive | s) = σ(a·s + b)``.

    ``CalibratedClassifierCV(method="sigmoid")`` over a frozen "classifier" whose decision value is the given
    score: our scores are out-of-fold already (each from a head that never saw the example, see
    :func:`train_concept_heads`), so only the calibration step is sklearn's, not its own cross-validation. Its
    sigmoid is linear in ``s`` on the logit scale, so ``b`` and ``a`` are read from its probabilities at
    ``s = 0`` and ``s = 1`` (sklearn keeps them on a private calibrator object).

    Args:
        scores: ``float[M]`` decision values.
        positive: ``bool[M]``.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    s = np.asarray(scores, dtype=np.float64)[:, None]
    y = np.asarray(positive, dtype=bool)
    everything = [(np.arange(len(y)), np.arange(len(y)))]  # one "split": the frozen scorer is never refitted
    frozen = FrozenEstimator(_given_scores_class()().fit(s, y))
    calibrated = CalibratedClassifierCV(frozen, method="sigmoid", cv=everything).fit(s, y)
    p = np.clip(calibrated.predict_proba(np.array([[0.0], [1.0]]))[:, 1], 1e-300, 1 - 1e-16)
    logit = np.log(p) - np.log1p(-p)
    a, b = float(logit[1] - logit[0]), float(logit[0])
    # A slope ≤ 0 (held-out positives scored below negatives) would invert the head's ranking; keep the order
    # and let the probabilities stay nearly flat instead.
    return max(a, 0.1 / max(float(np.std(s)), 1e-12)), b


@functools.cache
def _given_scores_class() -> type:
    """A binary sklearn "classifier" whose decision value is its one input column (scores computed elsewhere).

    Built on first use: sklearn is a training-side import, and this module is also imported to score concepts.
    """
    from sklearn.base import BaseEstimator, ClassifierMixin

    class GivenScores(ClassifierMixin, BaseEstimator):
        def fit(self, x: np.ndarray, y: np.ndarray) -> GivenScores:
            self.classes_ = np.array([False, True])
            return self

        def decision_function(self, x: np.ndarray) -> np.ndarray:
            return np.asarray(x, dtype=np.float64)[:, 0]

        def predict(self, x: np.ndarray) -> np.ndarray:
            return self.decision_function(x) > 0

    return GivenScores


def _fit_linear(x: np.ndarray, y: np.ndarray, kind: HeadKind, seed: int) -> tuple[np.ndarray, float]:
    """One binary linear classifier on ``float32[M, D]`` / ``bool[M]`` → (``w`` ``float32[D]``, ``b``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    # C = 1 ranked held-out COCO photos as well as or better than weaker regularisation; "balanced"
    # weighting stops the many negatives from swamping a handful of positives.
    if kind is HeadKind.LINEAR_SVM:
        model: LogisticRegression | LinearSVC = LinearSVC(C=1.0, class_weight="balanced", random_state=seed)
    else:
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=seed)
    model.fit(x, y)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def _folds(positive: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified fold numbers ``int[M]`` in ``[0, count)``: positives and negatives dealt round-robin."""
    fold = np.zeros(len(positive), dtype=np.int64)
    for group in (np.flatnonzero(positive), np.flatnonzero(~positive)):
        fold[rng.permutation(group)] = np.arange(len(group)) % count
    return fold


def _out_of_fold(x: np.ndarray, positive: np.ndarray, count: int, kind: HeadKind, seed: int) -> np.ndarray:
    """Decision values ``float[M]`` of every example from a head that never saw it (stratified k-fold)."""
    fold = _folds(positive, count, np.random.default_rng(seed))
    scores = np.zeros(len(x), dtype=np.float64)
    for k in range(count):
        held = fold == k
        w, b = _fit_linear(x[~held], positive[~held], kind, seed)
        scores[held] = x[held] @ w + b
    return scores


def train_concept_heads(
    descriptors: np.ndarray,
    labels: Sequence[set[str]] | Sequence[frozenset[str]],
    *,
    negatives: np.ndarray | None = None,
    seed: int = 0,
    validation_fraction: float = 0.3,
    kind: HeadKind = HeadKind.LOGISTIC,
) -> ConceptHeads:
    """Learn one calibrated linear head per concept named in ``labels``.

    For each concept, its positives are the examples carrying it and its negatives are all other examples plus
    ``negatives``. In a seeded stratified k-fold (k ≈ 1 / ``validation_fraction``, so each fold holds out about
    that share), every example is scored by a head that never saw it: these out-of-fold scores give the
    held-out AP and the Platt calibration. The final head is then refitted on all examples.

    Args:
        descriptors: ``float32[N, D]`` frozen descriptors of the labelled examples.
        labels: ``N`` sets of concept names (an empty set is a pure negative).
        negatives: Optional ``float32[M, D]`` extra negatives for every concept (e.g. random collection items).
        seed: Seeds the held-out split and the solvers.
        validation_fraction: Share of each concept's positives and negatives held out per fold.
        kind: Logistic regression or linear SVM.

    Raises:
        ConceptError: if shapes disagree, no concept is named, or a concept has fewer than 2 positives or no
            negatives.
    """
    x = _prepare(descriptors, labels, negatives)
    names = tuple(sorted(set().union(*labels)))
    if not names:
        raise ConceptError("no concept names in the labels")
    # k-fold rather than one split: with a handful of positives, one held-out split is too noisy for AP and Platt.
    folds = max(2, round(1 / validation_fraction)) if validation_fraction > 0 else 2
    rows: list[tuple[np.ndarray, float, float, float]] = []
    held_out_ap: dict[str, float] = {}
    for name in names:
        positive = np.array([name in s for s in labels] + [False] * (len(x) - len(labels)))
        if positive.sum() < 2 or (~positive).sum() < 2:
            raise ConceptError(
                f"concept {name!r} needs at least 2 positive and 2 negative examples, "
                f"got {int(positive.sum())} and {int((~positive).sum())}"
            )
        scores = _out_of_fold(x, positive, min(folds, int(positive.sum())), kind, seed)
        held_out_ap[name] = average_precision_from_scores(scores, positive)
        w_all, b_all = _fit_linear(x, positive, kind, seed)
        # The final head is refitted on all examples; rescale its scores to the spread of the out-of-fold scores
        # so that the Platt fit made on those still applies.
        scale = _spread(scores, x @ w_all + b_all)
        rows.append((w_all * scale, b_all * scale, *fit_platt(scores, positive)))
    return ConceptHeads(
        names=names,
        weight=np.stack([r[0] for r in rows]).astype(np.float32),
        bias=np.array([r[1] for r in rows], dtype=np.float32),
        platt_a=np.array([r[2] for r in rows], dtype=np.float32),
        platt_b=np.array([r[3] for r in rows], dtype=np.float32),
        held_out_ap=held_out_ap,
    )


def _spread(reference: np.ndarray, scores: np.ndarray) -> float:
    """The factor matching the standard deviation of ``scores`` to that of ``reference``."""
    spread = float(np.std(scores))
    return float(np.std(reference)) / spread if spread > 1e-12 else 1.0


def _prepare(
    descriptors: np.ndarray, labels: Sequence[set[str]] | Sequence[frozenset[str]], negatives: np.ndarray | None
) -> np.ndarray:
    """Stack examples and extra negatives into unit-length ``float32[N + M, D]``, checking shapes."""
    x = np.asarray(descriptors, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(labels):
        raise ConceptError(f"descriptors {list(x.shape)} do not match {len(labels)} label sets")
    if negatives is not None and len(negatives):
        neg = np.asarray(negatives, dtype=np.float32)
        if neg.ndim != 2 or neg.shape[1] != x.shape[1]:
            raise ConceptError(f"negatives must be [M, {x.shape[1]}], got {list(neg.shape)}")
        x = np.concatenate([x, neg])
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

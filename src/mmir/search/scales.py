"""One score scale per query kind, and the calibrated "nothing matches well" signal.

Scores are higher-is-better everywhere; each query kind states its range and meaning here (shown by
``mmir concepts``, ``mmir search --help`` and the API docs). Keyword scores are multiplied by the query's
*mapping confidence* (how surely its words map to concepts, :func:`query_confidence`): a constant per query, so
no ranking changes, but a nonsense word whose nearest class is far away ("xqzzyplk" → bubble, similarity 0.39)
no longer scores above the best hit of a real query.

A text query is flagged **weak** ("nothing matches well") when its words map to concepts with a confidence below
:data:`TEXT_WEAK_CONFIDENCE` or its best hit scores below :data:`TEXT_WEAK`. Both were chosen on validation queries
by ``benchmarks/one_search_latency.py`` (COCO-mini category names and captions against made-up words, split in
half; every pair tried is printed there): flag as many made-up words as possible while flagging at most 5 % of the
real validation queries. The best score alone separates badly (a long caption's soft AND scores ~0.01 on its own
photo while a made-up word mapped to a frequent class can reach 0.1); the mapping confidence separates well
(every real query ≥ 0.51, three made-up words in four ≤ 0.21). Chosen: confidence below 0.4, no best-score floor
(any floor that flagged real queries cost more than it caught); test half: 0 of the real queries flagged, 92 % of
the made-up words (the best score alone, at ≤ 5 % real flagged: 42 %).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmir.concepts.mapping import QueryMapping
from mmir.index.visible_text import SOME_WORDS


class Kind(str, enum.Enum):
    """The kinds of score a query can produce (one scale each)."""

    TEXT = "text"
    TEXT_JOINT = "text-joint"
    EXAMPLE = "example"
    CHANNEL = "channel"
    FUSED_LATE = "fused-late"
    FUSED_EARLY = "fused-early"
    FEEDBACK_CLASSIFIER = "feedback-classifier"
    FEEDBACK_ROCCHIO = "feedback-rocchio"
    TEMPORAL = "temporal"
    FIELD = "field"


@dataclass(frozen=True)
class Scale:
    """The range and meaning of one kind's scores."""

    kind: Kind
    low: float
    high: float
    meaning: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.low:g} to {self.high:g}, {self.meaning}"


SCALES: dict[Kind, Scale] = {
    scale.kind: scale
    for scale in (
        Scale(Kind.TEXT, 0.0, 1.0, "chance that the words' concepts are present (per-word concept probabilities "
              "fused with file-text matches; soft AND / noisy-OR), times how surely the words map to concepts"),
        Scale(Kind.TEXT_JOINT, 0.0, 1.0, "reciprocal-rank fusion of the joint model's text-image cosine and the "
              "concept score (1: first in both)"),
        Scale(Kind.EXAMPLE, -1.0, 1.0, "cosine similarity of the CNN descriptors (example image, file or shot)"),
        Scale(Kind.CHANNEL, -1.0, 1.0, "cosine similarity in that descriptor channel"),
        Scale(Kind.FUSED_LATE, 0.0, 1.0, "normal CDF of the weighted mean of per-channel z-scores (0.5: an "
              "average item)"),
        Scale(Kind.FUSED_EARLY, -1.0, 1.0, "weighted mean of per-channel cosines"),
        Scale(Kind.FEEDBACK_CLASSIFIER, 0.0, 1.0, "probability of relevance from a classifier on the marks"),
        Scale(Kind.FEEDBACK_ROCCHIO, -1.0, 1.0, "cosine with the Rocchio query vector"),
        Scale(Kind.TEMPORAL, 0.0, 1.0, "geometric mean of the two shots' scores"),
        Scale(Kind.FIELD, 0.0, 1.0, "--shows/--said: BM25 of the phrase in the visible text (OCR) or speech "
              f"over the best match's (1: the best, only some of the words x{SOME_WORDS:g}, an OCR near-miss x its "
              "closeness)"),
    )
}  # fmt: skip

TEXT_WEAK = 0.0
"""Best keyword score below which a text query "matches nothing well" (chosen on validation queries)."""
TEXT_WEAK_CONFIDENCE = 0.4
"""Mapping confidence below which a text query "matches nothing well" (chosen on validation queries)."""


def describe_scales() -> list[str]:
    """One line per query kind: its score range and meaning."""
    return [str(scale) for scale in SCALES.values()]


def query_confidence(mapping: QueryMapping, active: Sequence[bool], importance: np.ndarray) -> float:
    """How surely a text query's active terms map to concepts, in ``[0, 1]``: their importance-weighted mean
    mapping confidence (:func:`mmir.concepts.term_weights.confidence`; a term found only in file text counts 1).

    Args:
        mapping: The query mapped to concepts.
        active: ``bool[T]`` the terms that take part.
        importance: ``float[T]`` their importances.
    """
    from mmir.concepts.term_weights import confidence

    weights, values = [], []
    for term, on, weight in zip(mapping.terms, active, importance, strict=True):
        if on:
            weights.append(max(float(weight), 1e-6))
            values.append(confidence(term) if term.matched else 1.0)
    if not weights:
        return 0.0
    return float(np.clip(np.average(values, weights=weights), 0.0, 1.0))


def is_weak(kind: Kind, best: float | None, confidence: float = 1.0) -> bool:
    """Whether a query's best score (``None``: no hit) and mapping confidence mean nothing matches well.

    Only keyword queries have validated thresholds; every kind is weak when it found nothing.
    """
    if best is None:
        return True
    if kind is Kind.TEXT:
        return best < TEXT_WEAK or confidence < TEXT_WEAK_CONFIDENCE
    return False

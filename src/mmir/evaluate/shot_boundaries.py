"""Shot-boundary metrics: precision, recall and F1 for cuts (frame tolerance) and gradual transitions (overlap).

Matching follows the TRECVID shot-boundary task in spirit: each true transition is matched to at most one
detection and vice versa. A true cut matches a detection that covers its boundary frame within ``tolerance``
frames; a true gradual transition matches a detection overlapping its frames (widened by ``tolerance``), whatever
kind the detector called it. Unmatched detections count against the precision of the kind they were labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mmir.media.shots import Transition, TransitionKind


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 with the counts behind them."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was detected and nothing was missed."""
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else float(self.false_negatives == 0)

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when there was nothing to find."""
        total = self.true_positives + self.false_negatives
        return self.true_positives / total if total else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: PRF) -> PRF:
        return PRF(
            self.true_positives + other.true_positives,
            self.false_positives + other.false_positives,
            self.false_negatives + other.false_negatives,
        )


@dataclass(frozen=True)
class BoundaryScores:
    """Scores per transition kind."""

    cuts: PRF
    gradual: PRF

    def __add__(self, other: BoundaryScores) -> BoundaryScores:
        return BoundaryScores(self.cuts + other.cuts, self.gradual + other.gradual)


def _matches(truth: Transition, detected: Transition, tolerance: int) -> bool:
    if truth.kind is TransitionKind.CUT:
        return detected.start - tolerance <= truth.end - 1 and truth.end <= detected.end + tolerance
    return detected.start <= truth.end + tolerance and truth.start - tolerance <= detected.end


def score_transitions(
    truth: Sequence[Transition], detected: Sequence[Transition], tolerance: int = 2
) -> BoundaryScores:
    """Match detections to true transitions (greedy, nearest centre first) and count per kind.

    Args:
        truth: True transitions.
        detected: Detected transitions.
        tolerance: Frames of slack (2 for cuts, as in the TransNetV2 and PySceneDetect evaluations).
    """
    used: set[int] = set()
    tp = {TransitionKind.CUT: 0, TransitionKind.GRADUAL: 0}
    fn = dict.fromkeys(tp, 0)
    for true in sorted(truth, key=lambda t: t.start):
        centre = 0.5 * (true.start + true.end)
        options = [
            (abs(0.5 * (d.start + d.end) - centre), i)
            for i, d in enumerate(detected)
            if i not in used and _matches(true, d, tolerance)
        ]
        if options:
            used.add(min(options)[1])
            tp[true.kind] += 1
        else:
            fn[true.kind] += 1
    fp = dict.fromkeys(tp, 0)
    for i, d in enumerate(detected):
        if i not in used:
            fp[d.kind] += 1
    return BoundaryScores(
        cuts=PRF(tp[TransitionKind.CUT], fp[TransitionKind.CUT], fn[TransitionKind.CUT]),
        gradual=PRF(tp[TransitionKind.GRADUAL], fp[TransitionKind.GRADUAL], fn[TransitionKind.GRADUAL]),
    )

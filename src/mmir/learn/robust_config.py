"""Settings and reports of the robust concept heads (:mod:`mmir.learn.robust_heads`) and of their optional
label-correction stage (:mod:`mmir.learn.label_correction`).

Apart so that both modules import them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mmir.errors import MmirError


class RobustLoss(StrEnum):
    """The training loss of the heads: plain cross-entropy or the noise-robust GCE."""

    CROSS_ENTROPY = "ce"
    GCE = "gce"


@dataclass(frozen=True)
class CorrectionConfig:
    """Settings of the relabelling stage (exclusive labels only).

    Attributes:
        ratio: Relabel when the evidence for another label is at least ``ratio`` times that for the given one
            (``≥ 1``; higher relabels fewer, more surely).
        neighbours: ``k`` of the descriptor k-NN graph for label spreading; 0 uses the out-of-fold
            probabilities alone.
        spread: Label-spreading weight ``α`` in ``[0, 1)`` of the neighbours against the example's own label.
        iterations: Label-spreading iterations.
        final_loss: Loss of the final heads fitted on the corrected labels.
    """

    ratio: float = 4.0
    neighbours: int = 10
    spread: float = 0.8
    iterations: int = 10
    final_loss: RobustLoss = RobustLoss.GCE

    def __post_init__(self) -> None:
        if self.ratio < 1.0 or self.neighbours < 0 or not 0.0 <= self.spread < 1.0 or self.iterations < 0:
            raise MmirError(f"bad label-correction settings: {self}")


@dataclass(frozen=True)
class Relabel:
    """One example whose given label the correction stage replaced.

    Attributes:
        index: Row of the example.
        given: The label it came with.
        corrected: The label the final heads were trained with.
        evidence: ``Q`` of the corrected label (mean of out-of-fold probability and spread vote).
    """

    index: int
    given: str
    corrected: str
    evidence: float



@dataclass(frozen=True)
class RobustConfig:
    """Settings of :func:`train_robust_heads`; the same budget for either loss.

    Attributes:
        loss: Cross-entropy (plain) or GCE.
        q: GCE exponent in ``(0, 1]``.
        epochs: Passes over the examples.
        batch_size: Examples per Adam step.
        lr: Adam learning rate.
        weight_decay: L2 penalty on the weights (decoupled, AdamW).
        folds: Folds for the out-of-fold probabilities (calibration and suspects); at least 2.
        seed: Seeds initialisation, batching and folds.
        correction: Relabel confidently wrong labels before the final fit (exclusive labels only; multi-label
            sets are left as given); None = off, the default.
    """

    loss: RobustLoss = RobustLoss.GCE
    q: float = 0.7
    epochs: int = 40
    batch_size: int = 128
    lr: float = 0.01
    weight_decay: float = 1e-4
    folds: int = 3
    seed: int = 0
    correction: CorrectionConfig | None = None

"""The learning-rate schedule, as a multiplier of the base rate evaluated per iteration.

One function serves both training loops (classification in :mod:`mmir.learn.trainer`, metric learning in
:mod:`mmir.learn.metric`). This module imports nothing from mmir, so either can use it without an import cycle.
"""

from __future__ import annotations

import math
from enum import StrEnum


class Schedule(StrEnum):
    """Learning-rate schedules, applied per iteration after the optional linear warm-up."""

    CONSTANT = "constant"
    STEP = "step"
    COSINE = "cosine"


def lr_factor(
    step: int,
    total_steps: int,
    warmup_steps: int = 0,
    schedule: Schedule = Schedule.COSINE,
    *,
    decay_every: int = 0,
    gamma: float = 0.1,
) -> float:
    """The factor applied to the base learning rate at iteration ``step`` (0-based, counted over the whole run).

    Args:
        step: The iteration.
        total_steps: Iterations in the whole run (cosine reaches 0 there).
        warmup_steps: Linear warm-up from ``1/warmup_steps`` to 1 over these first iterations.
        schedule: After warm-up: ``CONSTANT`` (1), ``STEP`` (× ``gamma`` every ``decay_every`` iterations) or
            ``COSINE`` (half a cosine from 1 to 0 over the remaining iterations).
        decay_every: Iterations between two ``STEP`` decays (must be ≥ 1 for ``STEP``).
        gamma: The ``STEP`` decay factor.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule is Schedule.STEP:
        if decay_every < 1:
            raise ValueError(f"a step schedule needs decay_every ≥ 1, got {decay_every}")
        return float(gamma ** (step // decay_every))
    if schedule is Schedule.COSINE:
        progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0

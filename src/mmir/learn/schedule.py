"""Learning-rate schedules as a multiplier of the base rate, evaluated per iteration."""

from __future__ import annotations

import math

from mmir.learn.recipe import Schedule, TrainConfig


def lr_factor(step: int, steps_per_epoch: int, cfg: TrainConfig) -> float:
    """The factor applied to ``cfg.lr`` at iteration ``step`` (0-based, counted over the whole run).

    Warm-up ramps linearly from ~0 to 1 over ``cfg.warmup_epochs``; then ``STEP`` multiplies by ``cfg.gamma``
    every ``cfg.step_size`` epochs and ``COSINE`` decays to 0 over the remaining iterations.
    """
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if cfg.schedule is Schedule.STEP:
        return float(cfg.gamma ** (step // (cfg.step_size * steps_per_epoch)))
    if cfg.schedule is Schedule.COSINE:
        total = max(cfg.epochs * steps_per_epoch - warmup, 1)
        progress = min((step - warmup) / total, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0

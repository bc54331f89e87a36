"""The learning-rate schedule: timm's per-iteration schedulers (linear warm-up, then cosine, step or constant).

One builder serves both training loops (classification in :mod:`mmir.learn.trainer`, metric learning in
:mod:`mmir.learn.metric`). timm's schedulers are stateless in the iteration (``step_update(t)`` sets every
parameter group's rate from its own base rate for iteration ``t``), so a loop may compute ``t`` from the epoch
and batch it is at. Warm-up ramps linearly from 0 (timm's ``warmup_lr_init``): one value for all groups, and only
0 keeps the ratio between groups of different base rates (metric learning's proxies learn 10× faster).
This module imports nothing from mmir, so either loop can use it without an import cycle.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from timm.scheduler.scheduler import Scheduler


class Schedule(StrEnum):
    """Learning-rate schedules, applied per iteration after the optional linear warm-up."""

    CONSTANT = "constant"
    STEP = "step"
    COSINE = "cosine"


def build_scheduler(
    optimiser: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    schedule: Schedule = Schedule.COSINE,
    *,
    decay_every: int = 0,
    gamma: float = 0.1,
) -> Scheduler:
    """A timm scheduler over ``optimiser``'s groups; call ``step_update(t)`` before iteration ``t`` (0-based).

    Rate at iteration ``t``, as a factor of each group's base rate: ``t / warmup_steps`` during the warm-up, then
    ``CONSTANT`` 1, ``STEP`` ``gamma ** (t // decay_every)`` (counted from iteration 0) or ``COSINE`` half a cosine
    from 1 at ``warmup_steps`` to 0 at ``total_steps``.

    Args:
        optimiser: Its groups' current ``lr`` are the base rates (timm keeps them as ``initial_lr``).
        total_steps: Iterations in the whole run.
        warmup_steps: Iterations of linear warm-up.
        schedule: What follows the warm-up.
        decay_every: Iterations between two ``STEP`` decays (must be ≥ 1 for ``STEP``).
        gamma: The ``STEP`` decay factor.

    Raises:
        ValueError: a ``STEP`` schedule without ``decay_every``.
    """
    from timm.scheduler import CosineLRScheduler, StepLRScheduler

    if schedule is Schedule.STEP and decay_every < 1:
        raise ValueError(f"a step schedule needs decay_every ≥ 1, got {decay_every}")
    if schedule is Schedule.COSINE:
        length = max(total_steps - warmup_steps, 2)  # timm warns that a 1-step cosine has no effect
        return CosineLRScheduler(optimiser, t_initial=length, lr_min=0.0, warmup_t=warmup_steps, warmup_lr_init=0.0,
                                 warmup_prefix=True, t_in_epochs=False)  # fmt: skip
    # STEP counts its decays from iteration 0 (not from the end of the warm-up); CONSTANT never decays.
    every, rate = (decay_every, gamma) if schedule is Schedule.STEP else (max(total_steps, 1), 1.0)
    return StepLRScheduler(optimiser, decay_t=every, decay_rate=rate, warmup_t=warmup_steps, warmup_lr_init=0.0,
                           warmup_prefix=False, t_in_epochs=False)  # fmt: skip

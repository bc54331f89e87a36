"""Losses and learning-rate schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from mmir.learn.losses import make_loss
from mmir.learn.recipe import ClassificationLoss, RecipeError, Schedule, TrainConfig
from mmir.learn.schedule import build_scheduler
from mmir.learn.trainer import _scheduler

LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
TARGETS = torch.tensor([0, 2])


def test_cross_entropy_by_hand() -> None:
    row0 = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-1)))
    row1 = -math.log(1 / (2 * math.exp(0.5) + 1))
    loss = make_loss(ClassificationLoss.CROSS_ENTROPY, multi_label=False)(LOGITS, TARGETS)
    assert float(loss) == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_cross_entropy_label_smoothing_by_hand() -> None:
    # Smoothing ε spreads ε/K over all classes: target = (1-ε)·onehot + ε/K.
    eps, z = 0.3, LOGITS[0]
    logp = torch.log_softmax(z, 0).tolist()
    expected = -((1 - eps) * logp[0] + eps / 3 * sum(logp))
    loss = make_loss(ClassificationLoss.CROSS_ENTROPY, multi_label=False, label_smoothing=eps)(z[None], TARGETS[:1])
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_bce_by_hand() -> None:
    def sig(v: float) -> float:
        return 1 / (1 + math.exp(-v))

    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    terms = [
        -(t * math.log(sig(z)) + (1 - t) * math.log(1 - sig(z)))
        for zr, tr in zip(LOGITS.tolist(), targets.tolist(), strict=True)
        for z, t in zip(zr, tr, strict=True)
    ]
    loss = make_loss(ClassificationLoss.BCE, multi_label=True)(LOGITS, targets)
    assert float(loss) == pytest.approx(sum(terms) / 6, rel=1e-6)


def test_mse_regresses_one_hot_targets() -> None:
    # One-hot targets [1,0,0] and [0,0,1]: squared errors (1, 0, 1) and (0.25, 0.25, 1) → mean 3.5 / 6.
    loss = make_loss(ClassificationLoss.MSE, multi_label=False)(LOGITS, TARGETS)
    assert float(loss) == pytest.approx(3.5 / 6)


def test_cross_entropy_refuses_multi_label() -> None:
    with pytest.raises(RecipeError, match="bce"):
        make_loss(ClassificationLoss.CROSS_ENTROPY, multi_label=True)


def _rates(scheduler_of, steps: tuple[int, ...], base: float = 1.0) -> list[list[float]]:
    """Each group's lr at each iteration in ``steps`` (two groups: ``base`` and 10 × ``base``)."""
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{"params": params[:1], "lr": base}, {"params": params[1:], "lr": 10 * base}])
    scheduler = scheduler_of(opt)
    rates = []
    for step in steps:
        scheduler.step_update(step)
        rates.append([group["lr"] for group in opt.param_groups])
    return rates


def test_warmup_then_cosine() -> None:
    # 4 epochs of 10 steps: warm-up 0/10 … 9/10, then cosine over the 30 remaining steps; groups keep their ratio.
    rates = _rates(lambda opt: build_scheduler(opt, 40, 10), (0, 5, 9, 10, 25, 39, 40))
    expected = [0.0, 0.5, 0.9, 1.0, 0.5, 0.5 * (1 + math.cos(math.pi * 29 / 30)), 0.0]
    assert [r[0] for r in rates] == pytest.approx(expected, abs=1e-12)
    assert [r[1] for r in rates] == pytest.approx([10 * e for e in expected], abs=1e-11)
    assert _rates(lambda opt: build_scheduler(opt, 100), (0,)) == [[1.0, 10.0]]  # no warm-up


def test_step_decay_and_constant() -> None:
    rates = _rates(lambda opt: build_scheduler(opt, 150, 0, Schedule.STEP, decay_every=50, gamma=0.1), (0, 49, 50, 100))
    assert [r[0] for r in rates] == pytest.approx([1, 1, 0.1, 0.01])
    assert _rates(lambda opt: build_scheduler(opt, 150, 0, Schedule.CONSTANT), (0, 149)) == [[1, 10], [1, 10]]
    with pytest.raises(ValueError, match="decay_every"):
        _rates(lambda opt: build_scheduler(opt, 10, 0, Schedule.STEP), (0,))


def test_the_trainer_reads_the_recipe_in_epochs() -> None:
    # Warm-up 1 epoch and a step every 2 epochs, at 5 steps per epoch: 0 at step 0, × 0.5 from step 10.
    cfg = TrainConfig(epochs=6, lr=0.1, warmup_epochs=1, schedule=Schedule.STEP, step_size=2, gamma=0.5)
    rates = _rates(lambda opt: _scheduler(opt, cfg, 5), (0, 4, 9, 10, 20), base=0.1)
    assert [r[0] for r in rates] == pytest.approx([0.0, 0.08, 0.1, 0.05, 0.025])


def test_bad_options_are_named() -> None:
    with pytest.raises(RecipeError, match="momentum"):
        TrainConfig(momentum=1.5)
    cfg = TrainConfig.plain_baseline(epochs=1)
    assert cfg.momentum == 0 and not cfg.flip and cfg.schedule is Schedule.CONSTANT
    assert TrainConfig.from_json(cfg.to_json()) == cfg

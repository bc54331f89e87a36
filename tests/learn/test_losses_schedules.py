"""Losses and learning-rate schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from mmir.learn.losses import make_loss
from mmir.learn.recipe import ClassificationLoss, RecipeError, Schedule, TrainConfig
from mmir.learn.schedule import lr_factor
from mmir.learn.trainer import _lr_factor

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


def test_warmup_then_cosine() -> None:
    # 4 epochs of 10 steps: warm-up 1/10 … 10/10, then cosine over the 30 remaining steps.
    assert lr_factor(0, 40, 10) == pytest.approx(0.1)
    assert lr_factor(9, 40, 10) == pytest.approx(1.0)
    assert lr_factor(10, 40, 10) == pytest.approx(1.0)
    assert lr_factor(25, 40, 10) == pytest.approx(0.5)
    assert lr_factor(40, 40, 10) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(0, 100) == pytest.approx(1.0)  # no warm-up


def test_step_decay_and_constant() -> None:
    factors = [lr_factor(s, 150, 0, Schedule.STEP, decay_every=50, gamma=0.1) for s in (0, 49, 50, 100)]
    assert factors == pytest.approx([1, 1, 0.1, 0.01])
    assert lr_factor(149, 150, 0, Schedule.CONSTANT) == 1.0
    with pytest.raises(ValueError, match="decay_every"):
        lr_factor(0, 10, 0, Schedule.STEP)


def test_the_trainer_reads_the_recipe_in_epochs() -> None:
    # Warm-up 1 epoch and a step every 2 epochs, at 5 steps per epoch: 1/5 at step 0, × 0.5 from step 10.
    cfg = TrainConfig(epochs=6, warmup_epochs=1, schedule=Schedule.STEP, step_size=2, gamma=0.5)
    assert [_lr_factor(cfg, s, 5) for s in (0, 4, 9, 10, 20)] == pytest.approx([0.2, 1, 1, 0.5, 0.25])


def test_bad_options_are_named() -> None:
    with pytest.raises(RecipeError, match="momentum"):
        TrainConfig(momentum=1.5)
    cfg = TrainConfig.plain_baseline(epochs=1)
    assert cfg.momentum == 0 and not cfg.flip and cfg.schedule is Schedule.CONSTANT
    assert TrainConfig.from_json(cfg.to_json()) == cfg

"""Proxy losses (normalised softmax, proxy anchor), the optimiser over model + proxies, and the LR schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmir.errors import MmirError
from mmir.evaluate.retrieval import class_retrieval_map
from mmir.learn.metric import (
    MetricConfig,
    MetricLoss,
    OptimizerKind,
    build_criterion,
    make_optimiser,
    train_head,
)

pytest.importorskip("pytorch_metric_learning")


def test_normalized_softmax_matches_plain_computation() -> None:
    torch.manual_seed(0)
    embeddings = F.normalize(torch.randn(9, 6), dim=-1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
    config = MetricConfig(loss=MetricLoss.NORMALIZED_SOFTMAX, temperature=0.1)
    loss_fn, miner = build_criterion(config, num_classes=3, embedding_dim=6)
    assert miner is None
    proxies = F.normalize(loss_fn.W.detach(), dim=0)  # type: ignore[attr-defined]  # [E, C]
    expected = 0.0
    for i in range(9):
        logits = [float(embeddings[i] @ proxies[:, c]) / 0.1 for c in range(3)]
        expected += -logits[int(labels[i])] + math.log(sum(math.exp(v) for v in logits))
    assert float(loss_fn(embeddings, labels).detach()) == pytest.approx(expected / 9, rel=1e-4)


def test_proxy_loss_needs_class_count_and_size() -> None:
    with pytest.raises(MmirError, match="number of classes"):
        build_criterion(MetricConfig(loss=MetricLoss.PROXY_ANCHOR))


def test_optimiser_holds_the_proxies_without_weight_decay() -> None:
    config = MetricConfig(loss=MetricLoss.NORMALIZED_SOFTMAX, lr=0.1, optimizer=OptimizerKind.SGD, proxy_lr_factor=10)
    loss_fn, _ = build_criterion(config, num_classes=4, embedding_dim=8)
    model = torch.nn.Linear(5, 8)
    optimiser = make_optimiser(model, loss_fn, config)
    assert isinstance(optimiser, torch.optim.SGD)
    model_group, proxy_group = optimiser.param_groups
    assert proxy_group["params"][0] is loss_fn.W  # type: ignore[attr-defined]
    assert proxy_group["lr"] == pytest.approx(1.0) and proxy_group["weight_decay"] == 0.0
    assert model_group["lr"] == pytest.approx(0.1) and model_group["weight_decay"] == config.weight_decay


@pytest.mark.parametrize("loss", [MetricLoss.COSFACE, MetricLoss.ARCFACE])
def test_margin_losses_penalise_the_true_class(loss: MetricLoss) -> None:
    # CosFace: s·(cos θ_y − m); ArcFace: s·cos(θ_y + m). Both equal cross-entropy over scaled cosines with the
    # true class's logit lowered by the margin.
    torch.manual_seed(0)
    embeddings = F.normalize(torch.randn(6, 5), dim=-1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    config = MetricConfig(loss=loss, temperature=0.1)  # scale 10
    loss_fn, _ = build_criterion(config, num_classes=3, embedding_dim=5)
    cosines = embeddings @ F.normalize(loss_fn.W.detach(), dim=0)  # type: ignore[attr-defined]  # [B, C]
    true = cosines[torch.arange(6), labels]
    penalised = true - 0.35 if loss is MetricLoss.COSFACE else torch.cos(torch.acos(true.clamp(-1, 1)) + 0.5)
    logits = cosines.clone()
    logits[torch.arange(6), labels] = penalised
    expected = F.cross_entropy(10.0 * logits, labels)
    assert float(loss_fn(embeddings, labels).detach()) == pytest.approx(float(expected), rel=1e-3)


@pytest.mark.parametrize("loss", [MetricLoss.NORMALIZED_SOFTMAX, MetricLoss.PROXY_ANCHOR, MetricLoss.ARCFACE])
def test_proxy_training_improves_retrieval_with_sparse_labels(loss: MetricLoss) -> None:
    # Labels 3, 7, 11, 20 (not 0..C-1): training must map them onto proxies itself.
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 60)
    x = rng.standard_normal((240, 32)).astype(np.float32)
    x[:, :4] += 3.0 * np.eye(4, dtype=np.float32)[groups]
    labels = np.array([3, 7, 11, 20])[groups]
    before = class_retrieval_map(x[:40], labels[:40], x, labels)
    config = MetricConfig(loss=loss, epochs=6, p=4, k=8, lr=5e-2, batches_per_epoch=12, warmup_epochs=0.5)
    head, history = train_head(x, labels, config, out_dim=16, progress=False)
    after = class_retrieval_map(head.project(x[:40]), labels[:40], head.project(x), labels)
    assert history.epochs[-1].loss < history.epochs[0].loss
    assert after > before + 0.1
    assert history.criterion is not None  # the trained proxies come back with the history
    proxies = next(iter(history.criterion.parameters()))
    assert sorted(proxies.shape) == [4, 16]
    assert "criterion" not in history.as_dict()

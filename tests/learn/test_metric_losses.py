"""Triplet and contrastive losses (through pytorch-metric-learning) against plain loops; the P×K sampler."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmir.errors import MmirError
from mmir.learn.metric import MetricConfig, MetricLoss, MinerKind, build_criterion
from mmir.learn.sampler import PKSampler

pytest.importorskip("pytorch_metric_learning")


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    embeddings = F.normalize(torch.randn(12, 5), dim=-1)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    return embeddings, labels


def _distances(x: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x, x)


def _triplets(labels: torch.Tensor):
    n = len(labels)
    for a, p, q in itertools.product(range(n), repeat=3):
        if a != p and labels[a] == labels[p] and labels[a] != labels[q]:
            yield a, p, q


def test_triplet_loss_matches_plain_loop(batch) -> None:
    embeddings, labels = batch
    margin = 0.3
    loss_fn, _ = build_criterion(MetricConfig(loss=MetricLoss.TRIPLET, miner=MinerKind.ALL, margin=margin))
    d = _distances(embeddings)
    values = [max(0.0, float(d[a, p] - d[a, q]) + margin) for a, p, q in _triplets(labels)]
    positive = [v for v in values if v > 0]  # pml averages over the triplets that still violate the margin
    assert float(loss_fn(embeddings, labels)) == pytest.approx(sum(positive) / len(positive), rel=1e-4)


def test_semihard_miner_matches_plain_loop(batch) -> None:
    embeddings, labels = batch
    margin = 0.5
    _, miner = build_criterion(MetricConfig(loss=MetricLoss.TRIPLET, miner=MinerKind.SEMIHARD, margin=margin))
    assert miner is not None
    anchors, positives, negatives = miner(embeddings, labels)
    mined = set(zip(anchors.tolist(), positives.tolist(), negatives.tolist(), strict=True))
    d = _distances(embeddings)
    expected = {(a, p, q) for a, p, q in _triplets(labels) if d[a, p] < d[a, q] < d[a, p] + margin}
    assert mined == expected


def test_contrastive_loss_matches_plain_loop(batch) -> None:
    embeddings, labels = batch
    margin = 1.2
    loss_fn, _ = build_criterion(MetricConfig(loss=MetricLoss.CONTRASTIVE, miner=MinerKind.ALL, margin=margin))
    d = _distances(embeddings)
    pos, neg = [], []
    for i, j in itertools.permutations(range(len(labels)), 2):
        if labels[i] == labels[j]:
            pos.append(float(d[i, j]))
        else:
            neg.append(max(0.0, margin - float(d[i, j])))
    pos = [v for v in pos if v > 0]
    neg = [v for v in neg if v > 0]
    expected = sum(pos) / len(pos) + sum(neg) / len(neg)
    assert float(loss_fn(embeddings, labels)) == pytest.approx(expected, rel=1e-4)


def test_pk_sampler_batches() -> None:
    labels = np.array([0] * 10 + [1] * 3 + [2] * 6 + [3] * 1)
    sampler = PKSampler(labels, p=3, k=4, batches=20, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 20
    for batch in batches:
        assert len(batch) == 12
        batch_labels = labels[batch]
        assert 3 not in batch_labels  # a singleton group has no positive
        values, counts = np.unique(batch_labels, return_counts=True)
        assert len(values) == 3 and set(counts) == {4}
    assert batches != list(sampler)  # a new draw every epoch
    again = PKSampler(labels, p=3, k=4, batches=20, seed=1)
    assert batches == list(again)  # but seeded


def test_pk_sampler_rejects_unusable_groups() -> None:
    with pytest.raises(MmirError, match="two groups"):
        PKSampler(np.array([0, 0, 1]), p=2, k=2)
    with pytest.raises(MmirError, match="P ≥ 2"):
        PKSampler(np.array([0, 0, 1, 1]), p=1, k=2)

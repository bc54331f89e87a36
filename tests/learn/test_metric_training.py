"""Metric training on a tiny separable problem; collapse detection; projection-head files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmir.errors import MmirError
from mmir.evaluate.retrieval import class_retrieval_map
from mmir.learn.metric import (
    CollapseError,
    MetricConfig,
    MetricLoss,
    MinerKind,
    ProjectionHead,
    detect_collapse,
    train_embedding,
    train_head,
)

pytest.importorskip("pytorch_metric_learning")


def _clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # Four groups whose signal hides in 4 of 32 noisy dimensions.
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 60)
    x = rng.standard_normal((240, 32)).astype(np.float32)
    x[:, :4] += 3.0 * np.eye(4, dtype=np.float32)[labels]
    return x, labels


@pytest.mark.parametrize(
    ("loss", "miner"),
    [
        (MetricLoss.TRIPLET, MinerKind.SEMIHARD),
        (MetricLoss.TRIPLET, MinerKind.HARD),
        (MetricLoss.CONTRASTIVE, MinerKind.ALL),
    ],
)
def test_head_training_improves_retrieval(loss: MetricLoss, miner: MinerKind) -> None:
    x, labels = _clusters()
    before = class_retrieval_map(x[:40], labels[:40], x, labels)
    config = MetricConfig(loss=loss, miner=miner, epochs=5, p=4, k=8, lr=1e-2, margin=0.5, batches_per_epoch=12)
    head, history = train_head(x, labels, config, out_dim=16, progress=False)
    after = class_retrieval_map(head.project(x[:40]), labels[:40], head.project(x), labels)
    assert len(history.epochs) == 5
    assert after > before + 0.2


def test_detect_collapse_on_a_collapsed_embedding() -> None:
    collapsed = np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (50, 1))
    assert "collapsed" in (detect_collapse(collapsed, [0.1], margin=0.2) or "")
    spread = torch.nn.functional.normalize(torch.randn(50, 3), dim=-1)
    assert detect_collapse(spread, [0.1, 0.05], margin=0.2) is None
    assert "margin" in (detect_collapse(spread, [0.2, 0.2], margin=0.2) or "")


def test_training_stops_with_a_clear_message_when_it_collapses() -> None:
    x, labels = _clusters()

    class Constant(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = torch.nn.Parameter(torch.ones(8))

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.bias.expand(len(inputs), -1) + 0.0 * inputs[:, :8]

    config = MetricConfig(epochs=3, p=4, k=4, batches_per_epoch=2)
    with pytest.raises(CollapseError, match="collapsed") as info:
        train_embedding(Constant(), torch.as_tensor(x), labels, config, progress=False)
    assert isinstance(info.value, MmirError)


def test_projection_head_file_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    head = ProjectionHead(10, 4, hidden=6)
    head.save(tmp_path / "head.npz")
    loaded = ProjectionHead.load(tmp_path / "head.npz")
    x = np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32)
    np.testing.assert_allclose(loaded.project(x), head.project(x), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(loaded.project(x), axis=1), 1.0, rtol=1e-5)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(MmirError, match="not a projection head"):
        ProjectionHead.load(tmp_path / "bad.npz")


def test_instance_term_adds_nt_xent_over_two_views_and_needs_an_augmentation() -> None:
    import torch.nn.functional as F
    from pytorch_metric_learning import losses

    from mmir.learn.metric import _loss_step, build_criterion, train_embedding

    torch.manual_seed(0)
    model = torch.nn.Linear(6, 4)
    x, labels = torch.randn(8, 6), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    flips = iter([1.0, -1.0] * 2)  # deterministic "augmentation": the two views differ by sign
    config = MetricConfig(loss=MetricLoss.CONTRASTIVE, miner=MinerKind.ALL, instance_weight=0.5)
    loss_fn, miner = build_criterion(config)
    loss, _ = _loss_step(model, loss_fn, miner, config, lambda v: v * next(flips))(x, labels)
    views = F.normalize(model(torch.cat([x, -x])), dim=-1)
    supervised = loss_fn(views, torch.cat([labels, labels]))
    instance = losses.NTXentLoss(temperature=config.instance_temperature)(views, torch.arange(8).repeat(2))
    assert float(loss) == pytest.approx(float(supervised + 0.5 * instance), rel=1e-5)
    assert float(instance) > 0
    with pytest.raises(MmirError, match="needs an augmentation"):
        train_embedding(model, x, labels.numpy(), config, progress=False)

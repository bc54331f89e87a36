"""The training loop: it learns, it resumes to the very same result, and it writes its reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmir.learn.checkpoint import CheckpointError, load_checkpoint, load_classifier
from mmir.learn.datasets import LabelledImages
from mmir.learn.recipe import LossKind, TrainConfig
from mmir.learn.trainer import train_classifier
from mmir.models.convnets import Arch


def _toy(n: int = 48, multi_label: bool = False) -> LabelledImages:
    """Class 0 lights the top half of an 8×8 image, class 1 the bottom half (flip-invariant), plus noise."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 60, (n, 1, 8, 8), generator=gen)
    for i, y in enumerate(labels.tolist()):
        images[i, :, :4] += 150 if y == 0 else 0
        images[i, :, 4:] += 150 if y == 1 else 0
    targets = torch.nn.functional.one_hot(labels, 2).float() if multi_label else labels
    return LabelledImages(images.to(torch.uint8), targets, ("top", "bottom"), "toy")


def _cfg(**overrides: object) -> TrainConfig:
    base: dict[str, object] = dict(
        arch=Arch.VGG_SMALL,
        width=4,
        epochs=3,
        batch_size=8,
        lr=0.05,
        validation_fraction=0.25,
        seed=1,
        crop_padding=1,
        erasing=0.5,
        dropout=0.2,
        warmup_epochs=0.5,
    )
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_training_reduces_loss_and_writes_reports(tmp_path: Path) -> None:
    result = train_classifier(_toy(), _cfg(epochs=5), tmp_path, progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.7 * losses[0]
    for name in ("best.pt", "last.pt", "metrics.json", "curves.png", "config.json"):
        assert (tmp_path / name).is_file(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4, 5]
    assert json.loads((tmp_path / "config.json").read_text())["config"]["arch"] == "vgg-small"
    model, meta = load_classifier(tmp_path / "best.pt")
    assert meta.class_names == ("top", "bottom") and load_checkpoint(tmp_path / "best.pt")["best_epoch"] >= 1
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 2)


def test_resume_after_interruption_equals_uninterrupted(tmp_path: Path) -> None:
    data, cfg = _toy(), _cfg()
    straight = train_classifier(data, cfg, tmp_path / "a", progress=False)
    train_classifier(data, cfg, tmp_path / "b", stop_after=1, progress=False)  # "interrupted" after epoch 1
    resumed = train_classifier(data, cfg, tmp_path / "b", progress=False)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key

    def strip(history: list[dict[str, float]]) -> list[dict[str, float]]:
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert strip(straight.history) == strip(resumed.history)


def test_resume_refuses_another_config(tmp_path: Path) -> None:
    train_classifier(_toy(), _cfg(epochs=1), tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="another config"):
        train_classifier(_toy(), _cfg(epochs=1, lr=0.2), tmp_path, progress=False)


def test_multi_label_training_reports_map(tmp_path: Path) -> None:
    result = train_classifier(_toy(multi_label=True), _cfg(loss=LossKind.BCE, epochs=2), tmp_path, progress=False)
    assert 0.0 <= result.history[-1]["val_map"] <= 1.0


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable mmir checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")

"""The training loop: it learns, it resumes to the very same result, and it writes its reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmir.evaluate.classification import mean_average_precision
from mmir.learn import trainer
from mmir.learn.checkpoint import CheckpointError, load_checkpoint, load_classifier
from mmir.learn.datasets import LabelledImages, split_indices
from mmir.learn.predict import Normaliser, predict_logits
from mmir.learn.recipe import ClassificationLoss, TrainConfig
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
    assert meta.class_names == ("top", "bottom")
    # best.pt is the epoch with the lowest validation error (the first of equals).
    errors = [m["val_error"] for m in metrics]
    assert load_checkpoint(tmp_path / "best.pt")["best_epoch"] == result.best_epoch == errors.index(min(errors)) + 1
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
    with pytest.raises(CheckpointError, match=r"another config \(lr: 0\.05 → 0\.2\)"):  # names what differs
        train_classifier(_toy(), _cfg(epochs=1, lr=0.2), tmp_path, progress=False)


def test_multi_label_training_reports_map(tmp_path: Path) -> None:
    data, cfg = _toy(multi_label=True), _cfg(loss=ClassificationLoss.BCE, epochs=2)
    result = train_classifier(data, cfg, tmp_path, progress=False)
    last = result.history[-1]
    # The logged figure is the mAP of the final model on the held-out split (recomputed here), and the
    # error that picks best.pt is its complement.
    _, val_idx = split_indices(len(data), cfg.validation_fraction, cfg.seed)
    val = data.subset(val_idx)
    logits = predict_logits(result.model, val.images, Normaliser(result.meta.mean, result.meta.std))
    expected, _ = mean_average_precision(logits.numpy(), val.targets.numpy())
    assert last["val_map"] == pytest.approx(expected)
    assert last["val_error"] == pytest.approx(1.0 - expected)
    # The toy is separable (top half vs bottom half lit): well above the ~0.5 of a random ranking.
    assert last["val_map"] > 0.8


def test_a_diverged_epoch_is_never_kept_as_best(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # After epoch 2 the weights become NaN (what a too-high learning rate does). NaN logits used to rank every
    # class first and give a 0.0 validation error, so the diverged epoch was saved as best.pt.
    real_epoch = trainer._train_epoch
    calls = []

    def diverging_epoch(model: torch.nn.Module, *args: object) -> dict[str, float]:
        row = real_epoch(model, *args)  # type: ignore[arg-type]
        calls.append(1)
        if len(calls) >= 2:
            with torch.no_grad():
                for param in model.parameters():
                    param.fill_(float("nan"))
        return row

    monkeypatch.setattr(trainer, "_train_epoch", diverging_epoch)
    result = train_classifier(_toy(), _cfg(epochs=3), tmp_path, progress=False)
    assert result.best_epoch == 1
    assert [math.isnan(h["val_error"]) for h in result.history] == [False, True, True]
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best_epoch"] == 1 and math.isfinite(best["best_val"])
    assert all(torch.isfinite(v).all() for v in best["model"].values() if v.is_floating_point())
    assert load_checkpoint(tmp_path / "last.pt")["best_epoch"] == 1


def test_the_selection_score_of_a_diverged_epoch_is_infinite() -> None:
    good = {"train_loss": 0.5, "val_loss": 0.4, "val_error": 0.1}
    assert trainer._selection_score(good, has_validation=True) == 0.1
    assert trainer._selection_score(good, has_validation=False) == 0.5
    for key in good:
        assert trainer._selection_score({**good, key: math.nan}, has_validation=True) == math.inf
    assert trainer._selection_score({"train_loss": math.inf}, has_validation=False) == math.inf


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable mmir checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_evaluating_a_diverged_checkpoint_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmir.learn import evaluation

    data = tmp_path / "data"
    for name in ("top", "bottom"):
        (data / name).mkdir(parents=True)
        Image.fromarray(np.full((8, 8), 100, np.uint8), "L").save(data / name / "0.png")
    train_classifier(_toy(), _cfg(epochs=1), tmp_path / "run", progress=False)
    monkeypatch.setattr(evaluation, "predict_logits", lambda *a, **k: torch.full((2, 2), float("nan")))
    with pytest.raises(CheckpointError, match="NaN or infinite scores"):
        evaluation.evaluate_checkpoint(tmp_path / "run" / "best.pt", data)

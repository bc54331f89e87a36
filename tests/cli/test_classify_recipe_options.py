"""``mmir train classify --erasing/--label-smoothing``: contradictions are one-line errors, not silent no-ops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mmir.learn.recipe import ClassificationLoss, RecipeError, TrainConfig


def test_label_smoothing_needs_cross_entropy() -> None:
    """bce and mse ignore smoothing, so asking for it with them is an error instead of a silent no-op."""
    with pytest.raises(RecipeError, match="label smoothing needs the cross-entropy loss"):
        TrainConfig(loss=ClassificationLoss.BCE, label_smoothing=0.1)
    assert TrainConfig(loss=ClassificationLoss.CROSS_ENTROPY, label_smoothing=0.1).label_smoothing == 0.1


def test_erasing_without_augmentation_is_an_error(tmp_path: Path) -> None:
    args = [str(tmp_path), "--no-augment", "--erasing", "0.1", "--out", str(tmp_path / "run")]
    done = subprocess.run(
        [sys.executable, "-m", "mmir", "train", "classify", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--erasing needs augmentation" in done.stderr
    assert not (tmp_path / "run").exists()

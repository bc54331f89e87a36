"""``mmir train classify`` / ``mmir eval classify`` as a user runs them (subprocesses, exit codes, files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def mmir(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _folder(root: Path, per_class: int = 12) -> Path:
    """Two classes of 8×8 grey images: bright top half vs bright bottom half, with noise."""
    rng = np.random.default_rng(0)
    for name, top in (("top", True), ("bottom", False)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (8, 8)).astype(np.uint8)
            pixels[:4] += 150 if top else 0
            pixels[4:] += 0 if top else 150
            Image.fromarray(pixels, "L").save(root / name / f"{i}.png")
    return root


def test_train_then_eval(tmp_path: Path) -> None:
    data, run = _folder(tmp_path / "data"), tmp_path / "run"
    common = ["--arch", "vgg-small", "--width", "4", "--image-size", "8", "--grey", "--batch-size", "8"]
    trained = mmir("train", "classify", str(data), "--out", str(run), "--epochs", "2", "--val", "0.25", *common)
    assert trained.returncode == 0, trained.stderr
    for name in ("best.pt", "last.pt", "metrics.json", "curves.png", "config.json"):
        assert (run / name).is_file(), name
    assert len(json.loads((run / "metrics.json").read_text())) == 2

    png = tmp_path / "confusion.png"
    report = mmir("eval", "classify", str(run / "best.pt"), str(data), "--confusion-png", str(png))
    assert report.returncode == 0, report.stderr
    assert "top-1 error" in report.stdout and "top-5 error" in report.stdout and "confusion matrix" in report.stdout
    assert png.is_file()
    figures = json.loads(mmir("eval", "classify", str(run / "best.pt"), str(data), "--json").stdout)
    # The figures agree with each other and with the text report (with 2 classes top-5 error is 0 by definition,
    # so it says nothing; top-1 error and per-class accuracy are read off the confusion matrix instead).
    confusion = np.array(figures["confusion"])
    assert confusion.shape == (2, 2) and confusion.sum() == 24
    assert figures["top1_error"] == pytest.approx(1 - np.trace(confusion) / confusion.sum())
    names, rows = list(figures["per_class_accuracy"]), confusion.sum(axis=1)  # names in the model's class order
    assert sorted(names) == ["bottom", "top"]
    assert figures["per_class_accuracy"] == pytest.approx({n: confusion[i, i] / rows[i] for i, n in enumerate(names)})
    assert f"top-1 error: {100 * figures['top1_error']:.2f} %" in report.stdout


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    missing = mmir("train", "classify", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"))
    assert missing.returncode == 2 and "nowhere: data folder not found" in missing.stderr
    bad_arch = mmir("train", "classify", str(tmp_path), "--arch", "googlenet")
    assert bad_arch.returncode == 2 and "googlenet" in bad_arch.stderr
    no_ckpt = mmir("eval", "classify", str(tmp_path / "none.pt"), str(tmp_path))
    assert no_ckpt.returncode == 2 and "checkpoint not found" in no_ckpt.stderr

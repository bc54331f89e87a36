"""Shared fixtures: real sample photos from scikit-image and a session-wide EfficientNet-Lite0."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One ONNX export cache per test session (subprocesses inherit it), never the user's own cache; removed when the
# session ends (each kept ~350 MB of exports: hundreds of partial runs had filled the disk).
if "MMIR_CACHE_DIR" not in os.environ:
    os.environ["MMIR_CACHE_DIR"] = tempfile.mkdtemp(prefix="mmir-test-cache-")
    atexit.register(shutil.rmtree, os.environ["MMIR_CACHE_DIR"], ignore_errors=True)

SAMPLE_PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png")


def skimage_data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="session")
def lite0():
    """The bundled EfficientNet-Lite0 encoder on the default backend (ONNX Runtime), loaded once."""
    from mmir.models import load_encoder

    return load_encoder("efficientnet-lite0")


@pytest.fixture(scope="session")
def lite0_torch():
    """The bundled EfficientNet-Lite0 encoder on eager PyTorch, loaded once."""
    from mmir.models import load_encoder

    return load_encoder("efficientnet-lite0", backend="torch")


@pytest.fixture()
def photo_dir(tmp_path: Path) -> Path:
    """A folder holding copies of real photos from scikit-image."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in SAMPLE_PHOTOS:
        shutil.copy(skimage_data_dir() / name, folder / name)
    return folder


@pytest.fixture()
def reuse_lite0(lite0, monkeypatch: pytest.MonkeyPatch):
    """Make collections reuse the session's Lite0 instead of loading it again (same weights, same fingerprint)."""
    import mmir.models

    original = mmir.models.load_encoder

    def load_encoder(model: object = "efficientnet-lite0", **kwargs: object):
        plain = set(kwargs) <= {"backend", "fingerprint"} and kwargs.get("backend", "auto") == "auto"
        if model == "efficientnet-lite0" and plain and kwargs.get("fingerprint") in (None, lite0.fingerprint):
            return lite0
        return original(model, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mmir.models, "load_encoder", load_encoder)
    return lite0

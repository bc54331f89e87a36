"""Shared fixtures: real sample photos from scikit-image and a session-wide EfficientNet-Lite0."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SAMPLE_PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png")


def skimage_data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="session")
def lite0():
    """The bundled EfficientNet-Lite0 encoder, loaded once."""
    import torch

    from mmir.models import get_encoder

    torch.manual_seed(0)
    return get_encoder("efficientnet-lite0")


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
    import mmir.models.registry as registry

    original = registry.get_encoder

    def get_encoder(name: str, **kwargs: object):
        if name == "efficientnet-lite0" and not kwargs:
            return lite0
        return original(name, **kwargs)

    monkeypatch.setattr(registry, "get_encoder", get_encoder)
    import mmir.models

    monkeypatch.setattr(mmir.models, "get_encoder", get_encoder)
    return lite0

"""Fixtures for media tests: a real photo from scikit-image and helpers that encode images in memory."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """The scikit-image 'chelsea' cat photo (451x300 RGB), loaded once."""
    skdata = pytest.importorskip("skimage.data")
    with Image.open(Path(skdata.__file__).parent / "chelsea.png") as im:
        return im.convert("RGB")


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode ``image`` to bytes in format ``fmt`` with PIL save parameters ``params``."""
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


@pytest.fixture(scope="session")
def photo_jpeg(photo: Image.Image) -> bytes:
    """The photo as a JPEG file's bytes."""
    return _encode(photo, "JPEG", quality=90)


@pytest.fixture(scope="session")
def photo_png(photo: Image.Image) -> bytes:
    """The photo as a PNG file's bytes."""
    return _encode(photo, "PNG")

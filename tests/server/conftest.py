"""Fixtures for the web service: a small indexed collection and a client that speaks to it."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from mmir.api import Collection

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mmir.server import ServerSettings, create_app

ODD_NAME = b"caf\xe9-odd.png"  # Latin-1 bytes: not UTF-8


@pytest.fixture()
def collection_dir(tmp_path: Path, photo_dir: Path, reuse_lite0) -> Path:
    """The six sample photos plus a plain gradient whose file name is not UTF-8, indexed."""
    odd = Image.linear_gradient("L").convert("RGB").resize((96, 64))  # plain, so it tops no query
    with open(bytes(photo_dir) + b"/" + ODD_NAME, "wb") as handle:
        odd.save(handle, "PNG")
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
    return tmp_path / "coll"


@pytest.fixture()
def make_client(collection_dir: Path) -> Callable[..., TestClient]:
    """``make_client(**settings)``: a test client over ``collection_dir`` (Host ``testserver`` allowed)."""

    def make(**settings: object) -> TestClient:
        settings.setdefault("allowed_hosts", ("testserver",))
        return TestClient(create_app(ServerSettings(collection=collection_dir, **settings)))  # type: ignore[arg-type]

    return make


def jpeg_bytes(path: Path, size: tuple[int, int] | None = None) -> bytes:
    """A mirrored (so not byte-identical) JPEG of ``path``, optionally resized."""
    image = ImageOps.mirror(Image.open(path).convert("RGB"))
    if size is not None:
        image = image.resize(size)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


@pytest.fixture()
def jpeg() -> Callable[..., bytes]:
    """:func:`jpeg_bytes`, as a fixture (test modules are not importable packages)."""
    return jpeg_bytes

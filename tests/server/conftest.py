"""Fixtures for the web service: a small indexed collection and a client that speaks to it."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
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


# ---- browser tests (test_browser.py, test_page_*.py): a real server and Debian's Chromium ----
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def serve(collection_dir: Path, request: pytest.FixtureRequest) -> Callable[..., str]:
    """``serve(**settings)``: a real uvicorn server over ``collection_dir`` in a thread; returns its base URL."""
    import uvicorn

    from mmir.server import ServerSettings, create_app

    def start(**settings: object) -> str:
        port = _free_port()
        app = create_app(ServerSettings(collection=collection_dir, **settings))  # type: ignore[arg-type]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()

        def stop() -> None:
            server.should_exit = True
            thread.join(10)

        request.addfinalizer(stop)
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    return start


@pytest.fixture()
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/install_system_deps.sh (Debian package chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra's playwright package is missing")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def screens(tmp_path: Path) -> Path:
    folder = tmp_path / "screens"
    folder.mkdir()
    return folder

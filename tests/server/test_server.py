"""The web service through HTTP (FastAPI's test client): search, upload limits, token, safe file serving."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from mmir.api import Collection

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mmir.server import ServerSettings, create_app


@pytest.fixture()
def collection_dir(tmp_path: Path, photo_dir: Path, reuse_lite0) -> Path:
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
    return tmp_path / "coll"


def _client(collection_dir: Path, **settings) -> TestClient:
    return TestClient(create_app(ServerSettings(collection=collection_dir, **settings)))


def _jpeg(path: Path) -> bytes:
    buffer = io.BytesIO()
    ImageOps.mirror(Image.open(path).convert("RGB")).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def test_search_upload_similar_info_and_ui(collection_dir: Path, photo_dir: Path) -> None:
    client = _client(collection_dir)
    hits = client.get("/api/search", params={"q": "cat", "k": 3}).json()
    assert hits[0]["name"] == "chelsea.png" and hits[0]["why"]
    upload = {"image": ("query.jpg", _jpeg(photo_dir / "coffee.png"), "image/jpeg")}
    hits = client.post("/api/search/image", files=upload, params={"k": 2}).json()
    assert hits[0]["name"] == "coffee.png"
    similar = client.get(f"/api/similar/{hits[0]['media_id']}", params={"k": 3}).json()
    assert len(similar) == 3 and all(h["name"] != "coffee.png" for h in similar)
    assert client.get("/api/info").json()["media"] == 6
    image = client.get(hits[0]["url"])
    assert image.status_code == 200 and image.content == (photo_dir / "coffee.png").read_bytes()
    page = client.get("/")
    assert page.status_code == 200 and "<title>mmir</title>" in page.text


def test_bad_requests_get_clear_errors(collection_dir: Path) -> None:
    client = _client(collection_dir, max_upload_bytes=10_000)
    too_big = client.post("/api/search/image", files={"image": ("big.jpg", b"x" * 10_001, "image/jpeg")})
    assert too_big.status_code == 413
    garbage = client.post("/api/search/image", files={"image": ("notes.jpg", b"not an image", "image/jpeg")})
    assert garbage.status_code == 400 and "notes.jpg" in garbage.json()["detail"]
    assert client.get("/api/search", params={"q": "zzzzqqq"}).status_code == 400
    assert client.get("/api/search", params={"q": "cat", "k": 100_000}).status_code == 422
    assert client.get("/api/media/999999").status_code == 404


def test_never_serves_files_outside_the_collection(collection_dir: Path, photo_dir: Path) -> None:
    client = _client(collection_dir)
    for attempt in ("/api/media/..%2F..%2Fetc%2Fpasswd", "/..%2F..%2Fetc%2Fpasswd", "/static/../../etc/passwd"):
        response = client.get(attempt)
        assert response.status_code in (404, 422) and "root:" not in response.text
    # An indexed file swapped for a link to another file is not served.
    hits = client.get("/api/search", params={"q": "cup", "k": 1}).json()
    target = Path(hits[0]["path"])
    target.unlink()
    os.symlink("/etc/hostname", target)
    assert client.get(hits[0]["url"]).status_code == 404


def test_token_is_required_when_set(collection_dir: Path) -> None:
    client = _client(collection_dir, token="s3cret")
    assert client.get("/api/info").status_code == 401
    assert client.get("/api/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/info", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    hits = client.get("/api/search", params={"q": "cat", "token": "s3cret"}).json()
    assert client.get(hits[0]["url"]).status_code == 401
    assert client.get(hits[0]["url"], params={"token": "s3cret"}).status_code == 200


def test_server_sees_files_indexed_after_it_started(collection_dir: Path, photo_dir: Path, tmp_path: Path) -> None:
    client = _client(collection_dir)
    assert client.get("/api/info").json()["media"] == 6
    extra = tmp_path / "more"
    extra.mkdir()
    ImageOps.flip(Image.open(photo_dir / "horse.png").convert("RGB")).save(extra / "horse-flipped.png")
    with Collection.open(collection_dir) as coll:
        coll.index([extra])
    assert client.get("/api/info").json()["media"] == 7

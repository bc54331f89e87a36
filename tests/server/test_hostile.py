"""The web service against a hostile or careless client: each case once broke it (issue 13)."""

from __future__ import annotations

import asyncio
import io
import os
import threading
from pathlib import Path

import pytest
from PIL import Image

from mmir.server import ServerSettings, SettingsError, create_app


def test_non_utf8_file_names_do_not_break_result_lists(make_client) -> None:
    client = make_client()
    response = client.get("/api/search", params={"q": "cat", "k": 24, "mode": "or"})
    assert response.status_code == 200
    names = [hit["name"] for hit in response.json()]
    assert "caf\\xe9-odd.png" in names  # shown escaped, but shown
    odd = next(hit for hit in response.json() if hit["name"] == "caf\\xe9-odd.png")
    assert client.get(odd["url"]).status_code == 200
    assert client.get(f"/api/similar/{odd['media_id']}").status_code == 200
    assert client.get(f"/api/item/{odd['media_id']}").status_code == 200


@pytest.mark.parametrize(
    "url", ["/api/media/99999999999999999999999", "/api/similar/9223372036854775808", "/api/item/-1", "/api/media/0"]
)
def test_ids_beyond_int64_are_not_found_not_a_crash(make_client, url: str) -> None:
    response = make_client().get(url)
    assert response.status_code in (404, 422)


class _Body:
    """An ASGI ``receive`` that hands out a body in chunks and counts how much the server pulled."""

    def __init__(self, size: int, chunk: int = 65536) -> None:
        self.left, self.chunk, self.pulled = size, chunk, 0

    async def __call__(self) -> dict:
        part = min(self.chunk, self.left)
        self.left -= part
        self.pulled += part
        return {"type": "http.request", "body": b"\0" * part, "more_body": self.left > 0}


def _post(app, path: str, body: _Body, headers: list[tuple[bytes, bytes]]) -> int:
    """POST ``body`` to ``app`` by raw ASGI; returns the status code."""
    statuses: list[int] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers], "http_version": "1.1", "scheme": "http",
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000), "root_path": "",
    }  # fmt: skip
    asyncio.run(app(scope, body, send))
    return statuses[0]


def test_upload_auth_and_size_are_checked_before_the_body_is_read(collection_dir: Path) -> None:
    app = create_app(ServerSettings(collection=collection_dir, token="s3cret", max_upload_bytes=100_000))
    multipart = [(b"content-type", b"multipart/form-data; boundary=xyz")]
    big = 50 * 2**20
    no_token = _Body(big)
    assert _post(app, "/api/search/image", no_token, [(b"content-length", str(big).encode()), *multipart]) == 401
    assert no_token.pulled == 0
    auth = [(b"authorization", b"Bearer s3cret"), *multipart]
    declared = _Body(big)
    assert _post(app, "/api/search/image", declared, [(b"content-length", str(big).encode()), *auth]) == 413
    assert declared.pulled == 0
    chunked = _Body(big)  # no Content-Length: read only up to the cap
    assert _post(app, "/api/search/image", chunked, auth) == 413
    assert chunked.pulled <= 100_000 + 2 * 65536 + 65536


def test_small_endpoints_refuse_large_bodies(make_client) -> None:
    response = make_client().post("/api/feedback", content=b"[" + b"1," * 100_000 + b"1]",
                                  headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 413


def test_empty_token_and_open_binds_are_refused(collection_dir: Path) -> None:
    with pytest.raises(SettingsError, match="empty"):
        ServerSettings(collection=collection_dir, token="")
    with pytest.raises(SettingsError, match="empty"):
        ServerSettings(collection=collection_dir, token="   ", host="0.0.0.0")
    with pytest.raises(SettingsError, match="--insecure"):
        ServerSettings(collection=collection_dir, host="0.0.0.0")
    with pytest.raises(SettingsError, match="--insecure"):
        ServerSettings(collection=collection_dir, host="192.168.1.20")
    assert ServerSettings(collection=collection_dir, host="0.0.0.0", insecure=True).insecure
    assert ServerSettings(collection=collection_dir, host="::1").token is None


def test_serve_command_refuses_an_empty_token(collection_dir: Path) -> None:
    from typer.testing import CliRunner

    from mmir.cli import commands  # noqa: F401  (registers the commands)
    from mmir.cli.groups import app

    result = CliRunner().invoke(app, ["serve", "-c", str(collection_dir), "--token", ""])
    assert isinstance(result.exception, SettingsError) and "empty" in str(result.exception)
    result = CliRunner().invoke(app, ["serve", "-c", str(collection_dir), "--host", "0.0.0.0"])
    assert isinstance(result.exception, SettingsError) and "--insecure" in str(result.exception)


def test_host_header_is_checked_against_dns_rebinding(make_client) -> None:
    client = make_client(allowed_hosts=())
    assert client.get("/api/info", headers={"host": "evil.example"}).status_code == 421
    assert client.get("/", headers={"host": "evil.example:8000"}).status_code == 421
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000", "LOCALHOST:80"):
        assert client.get("/api/info", headers={"host": host}).status_code == 200, host
    named = make_client(allowed_hosts=("photos.lan",))
    assert named.get("/api/info", headers={"host": "photos.lan:8000"}).status_code == 200


def test_token_in_header_only_and_media_by_cookie(make_client) -> None:
    client = make_client(token="s3cret")
    assert client.get("/api/info").status_code == 401
    assert client.get("/api/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
    for header in ("Bearer ", "Bearer", "", "Basic s3cret", "s3cret", "Bearer s3cret2"):
        assert client.get("/api/info", headers={"Authorization": header}).status_code == 401, header
    assert client.get("/api/info", params={"token": "s3cret"}).status_code == 401  # never in URLs
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert client.get("/api/info", headers={"Authorization": f"{scheme} s3cret"}).status_code == 200
    auth = {"Authorization": "Bearer s3cret"}
    hits = client.get("/api/search", params={"q": "cat"}, headers=auth).json()
    assert "token" not in hits[0]["url"]
    assert client.get(hits[0]["url"]).status_code == 401
    assert client.get(hits[0]["url"], params={"token": "s3cret"}).status_code == 401
    session = client.post("/api/session", headers=auth)
    assert session.status_code == 200 and "s3cret" not in session.headers["set-cookie"]
    assert "httponly" in session.headers["set-cookie"].lower()
    assert client.get(hits[0]["url"]).status_code == 200  # the cookie opens media...
    assert client.get("/api/info").status_code == 401  # ...and nothing else
    assert client.get("/api/health").status_code == 200


def test_hits_show_paths_relative_to_the_roots(make_client, tmp_path: Path) -> None:
    client = make_client()
    hits = client.get("/api/search", params={"q": "cat", "k": 24, "mode": "or"}).json()
    similar = client.get(f"/api/similar/{hits[0]['media_id']}").json()
    for hit in hits + similar:
        assert hit["path"].startswith("photos/"), hit["path"]
        assert str(tmp_path) not in str(hit), hit
    assert any("similar to photos/" in reason for hit in similar for reason in hit["why"])
    configured = make_client(roots=(tmp_path,))
    hit = configured.get("/api/search", params={"q": "cat", "k": 1}).json()[0]
    assert hit["path"] == f"{tmp_path.name}/photos/chelsea.png"


def test_uploads_are_encoded_outside_the_lock_keyword_search_needs(make_client, photo_dir: Path, jpeg,
                                                                   reuse_lite0, monkeypatch) -> None:  # fmt: skip
    client = make_client()
    client.get("/api/search", params={"q": "cat"})
    entered, release = threading.Event(), threading.Event()
    original = reuse_lite0.encode

    def slow_encode(images):
        entered.set()
        release.wait(30)
        return original(images)

    monkeypatch.setattr(reuse_lite0, "encode", slow_encode)
    upload = {"image": ("q.jpg", jpeg(photo_dir / "horse.png"), "image/jpeg")}
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(client.post("/api/search/image", files=upload).status_code))
    worker.start()
    try:
        assert entered.wait(30)
        searched = threading.Event()
        threading.Thread(target=lambda: (client.get("/api/search", params={"q": "cat"}), searched.set())).start()
        assert searched.wait(10), "keyword search waited for an upload's encoding"
    finally:
        release.set()
        worker.join(30)
    assert results == [200]


def test_docs_are_local_and_declare_the_bearer_scheme(make_client) -> None:
    client = make_client()
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200 and "openapi.json" in response.text
        assert "http://" not in response.text and "https://" not in response.text  # no CDN
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(scheme["type"] == "http" and scheme["scheme"].lower() == "bearer" for scheme in schemes.values())
    assert schema["paths"]["/api/search"]["get"]["security"]


def test_validation_errors_echo_a_capped_input(make_client) -> None:
    client = make_client()
    response = client.get("/api/search", params={"q": "x" * 30_000})
    assert response.status_code == 422 and len(response.content) < 2_000
    assert "30000 characters" in response.text
    response = client.post("/api/feedback", json={"positives": [1], "method": "y" * 60_000})
    assert response.status_code == 422 and len(response.content) < 2_000


def test_uploads_are_decoded_small_and_bounded(make_client, reuse_lite0, monkeypatch) -> None:
    client = make_client(max_pixels=4_000_000, decode_slots=1)
    sizes: list[tuple[int, int]] = []
    original = reuse_lite0.encode
    monkeypatch.setattr(
        reuse_lite0, "encode", lambda images: (sizes.extend(i.size for i in images), original(images))[1]
    )
    big = io.BytesIO()
    Image.new("RGB", (2000, 1600), (120, 30, 200)).save(big, "JPEG")
    assert (
        client.post("/api/search/image", files={"image": ("big.jpg", big.getvalue(), "image/jpeg")}).status_code == 200
    )
    png = io.BytesIO()
    Image.new("RGB", (1800, 1200), (10, 200, 30)).save(png, "PNG")
    assert (
        client.post("/api/search/image", files={"image": ("big.png", png.getvalue(), "image/png")}).status_code == 200
    )
    assert all(min(size) <= 512 for size in sizes), sizes
    bomb = io.BytesIO()
    Image.new("1", (3000, 3000)).save(bomb, "PNG")  # 9 Mpixel in a few KB
    response = client.post("/api/search/image", files={"image": ("bomb.png", bomb.getvalue(), "image/png")})
    assert response.status_code == 400 and "bomb.png" in response.json()["detail"]
    assert "pixels" in response.json()["detail"]


def test_traversal_and_swapped_files_are_never_served(make_client, photo_dir: Path) -> None:
    client = make_client()
    for attempt in ("/api/media/..%2F..%2Fetc%2Fpasswd", "/..%2F..%2Fetc%2Fpasswd", "/static/../../etc/passwd"):
        response = client.get(attempt)
        assert response.status_code in (404, 422) and "root:" not in response.text
    hit = client.get("/api/search", params={"q": "cup", "k": 1}).json()[0]
    target = photo_dir / hit["name"]
    target.unlink()
    os.symlink("/etc/hostname", target)
    assert client.get(hit["url"]).status_code == 404


def test_bad_uploads_get_clear_errors(make_client) -> None:
    client = make_client(max_upload_bytes=10_000)
    too_big = client.post("/api/search/image", files={"image": ("big.jpg", b"x" * 10_001, "image/jpeg")})
    assert too_big.status_code == 413
    garbage = client.post("/api/search/image", files={"image": ("notes.jpg", b"not an image", "image/jpeg")})
    assert garbage.status_code == 400 and "notes.jpg" in garbage.json()["detail"]
    assert client.get("/api/search", params={"q": "cat", "k": 100_000}).status_code == 422

"""The search routes take the filter parameters kind, under, after, before, name (keywords, image upload, a kept
query image, similar, feedback) and refuse bad values with a readable 422."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.search.test_filters import PHOTOS, build

pytest.importorskip("fastapi")


@pytest.fixture()
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from fastapi.testclient import TestClient

    from mmir.server import ServerSettings, create_app
    from mmir.server.service import CollectionService

    collection = build(tmp_path / "coll", tmp_path / "media")
    query = np.asarray(collection.encoder.vector, np.float32)  # the synthetic encoder's answer for any image
    directory = collection.directory
    collection.close()
    # The server builds its encoder from the manifest; this collection's is synthetic: encode uploads as it would.
    monkeypatch.setattr(CollectionService, "encode_upload", lambda self, data, name: query)
    return TestClient(create_app(ServerSettings(collection=directory, allowed_hosts=("testserver",))))


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (120, 60, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _names(hits: list[dict]) -> list[str]:
    return [hit["name"] for hit in hits]


def test_keyword_search_takes_kind_and_under(client) -> None:
    plain = client.get("/api/search", params={"q": "zebra", "k": 5}).json()
    assert plain[0]["kind"] == "video"  # the 40-shot video leads without a filter
    hits = client.get("/api/search", params={"q": "zebra", "k": 5, "kind": "photo", "under": "set_a"}).json()
    assert len({h["media_id"] for h in hits}) == 5
    assert all(h["kind"] == "image" and "set_a/" in h["path"] for h in hits)
    rooted = client.get("/api/search", params={"q": "zebra", "k": 50, "under": "media/set_b"}).json()
    assert len(rooted) == PHOTOS // 2 and all("set_b/" in h["path"] for h in rooted)  # as the page shows paths


def test_image_routes_take_the_filter(client) -> None:
    upload = client.post("/api/search/image", params={"k": 10, "name": "*cat*", "kind": "photo"},
                         files={"image": ("q.png", _png(), "image/png")})  # fmt: skip
    assert upload.status_code == 200, upload.text
    assert len(upload.json()) == PHOTOS // 3 and all("cat" in name.lower() for name in _names(upload.json()))
    key = upload.headers["X-Query-Image"]
    again = client.get(f"/api/search/image/{key}", params={"k": 10, "kind": "video"}).json()
    assert sorted(_names(again)) == ["clip_cat.mp4", "safari.mp4"]


def test_similar_and_feedback_take_the_filter(client) -> None:
    video = client.get("/api/search", params={"q": "zebra", "k": 1, "kind": "video", "under": "media"}).json()[0]
    january = {"k": 24, "after": "2024-01-10", "before": "2024-01-19"}
    similar = client.get(f"/api/similar/{video['media_id']}", params=january).json()
    assert len(similar) == 10 and all(h["kind"] == "image" for h in similar)  # photos of 10 to 19 January
    marks = {"positives": [video["media_id"]], "method": "rocchio"}
    ranked = client.post("/api/feedback", json=marks, params={"k": 5, "under": "set_b", "name": "p*"}).json()
    assert len(ranked) == 5 and all("set_b/" in h["path"] and h["name"].startswith("p") for h in ranked)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "tree"}, "kind must be photo or video, not 'tree'"),
        ({"after": "2024-13-45"}, "after: '2024-13-45' is not a date"),
        ({"before": "soon"}, "before: 'soon' is not a date"),
        ({"under": "/etc"}, "not a path on the server"),
        ({"under": "../x"}, "climbs out"),
    ],
)
def test_bad_filters_are_readable_422s(client, params: dict[str, str], message: str) -> None:
    for method, url in (("GET", "/api/search"), ("GET", "/api/similar/1")):
        answer = client.request(method, url, params={"q": "zebra", **params})
        assert answer.status_code == 422 and message in answer.json()["detail"], answer.text
    upload = client.post("/api/search/image", params=params, files={"image": ("q.png", _png(), "image/png")})
    assert upload.status_code == 422 and message in upload.json()["detail"]

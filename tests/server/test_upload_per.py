"""``POST /api/search/image`` takes ``per`` (file | shot) like ``GET /api/search`` and ``/api/similar``.

The collection is synthetic and tiny (no model runs): one video of 12 shots whose descriptors sit near the upload's
encoding, and 8 photos further away, stored through the real store and catalog. Per file, the video is one hit;
per shot, its shots come back one by one.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.index.catalog import SegmentEncoding
from mmir.index.frames import SegmentExtras
from mmir.index.manifest import Manifest
from mmir.index.store import FileToStore, SegmentStore
from mmir.models.encoder import Encoded
from mmir.types import MediaKind

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mmir.server import ServerSettings, create_app

DIM = 16
CONCEPTS = ["zebra", "bear"]
SHOTS, PHOTOS, SHOT_S = 12, 8, 2.0


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class FakeEncoder:
    """Encodes every image as one fixed direction (the video's), so an upload is "like the video"."""

    input_side = 32
    fingerprint = "synthetic:1"
    dim = DIM

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def encode(self, images: list) -> Encoded:
        n = len(images)
        return Encoded(np.tile(self.vector, (n, 1)), np.full((n, len(CONCEPTS)), 0.5, np.float32))


def _jpeg(colour: tuple[int, int, int], side: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def _build(directory: Path, media: Path, a: np.ndarray, rng: np.random.Generator) -> None:
    """A 12-shot video near ``a`` and 8 photos around a random other direction (and a little of ``a``)."""
    directory.mkdir(parents=True)
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=DIM, concept_names=list(CONCEPTS))
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    probs = np.array([0.5, 0.5], np.float32)
    shots = tuple(
        SegmentEncoding(
            descriptor=_unit(a + 0.05 * rng.standard_normal(DIM)), concepts=probs, start_s=i * SHOT_S,
            end_s=(i + 1) * SHOT_S, keyframe_s=i * SHOT_S + 1.0,
            extras=SegmentExtras(np.zeros(0), np.zeros((0, DIM), np.float32), thumbnail=_jpeg((200, 120, 20 + i))),
        )
        for i in range(SHOTS)
    )  # fmt: skip
    files = [FileToStore(str(media / "safari.mp4"), MediaKind.VIDEO, 1000, 1.0, "video", shots)]
    b = _unit(rng.standard_normal(DIM))
    for i in range(PHOTOS):
        segment = SegmentEncoding(descriptor=_unit(b + 0.3 * a + 0.3 * rng.standard_normal(DIM)), concepts=probs)
        files.append(FileToStore(str(media / f"p{i:02d}.jpg"), MediaKind.IMAGE, 10, 1.0, f"sha{i}", (segment,)))
    store.put_many(files)
    store.flush()
    store.close()


@pytest.fixture()
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    rng = np.random.default_rng(0)
    a = _unit(rng.standard_normal(DIM))
    _build(tmp_path / "coll", tmp_path / "media", a, rng)
    monkeypatch.setattr("mmir.models.load_encoder", lambda *_args, **_kwargs: FakeEncoder(a))
    settings = ServerSettings(collection=tmp_path / "coll", allowed_hosts=("testserver",))
    return TestClient(create_app(settings))


def _upload(client: TestClient, **params: object) -> list[dict]:
    files = {"image": ("query.jpg", _jpeg((120, 60, 30), 48), "image/jpeg")}
    response = client.post("/api/search/image", files=files, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_upload_per_file_gives_the_video_once(client: TestClient) -> None:
    hits = _upload(client, k=5)
    assert len(hits) == 5 and len({h["media_id"] for h in hits}) == 5
    assert sum(h["kind"] == "video" for h in hits) == 1


def test_upload_per_shot_gives_several_shots_of_the_video(client: TestClient) -> None:
    hits = _upload(client, k=5, per="shot")
    assert len(hits) == 5 and all(h["kind"] == "video" for h in hits)
    assert len({h["segment_id"] for h in hits}) == 5 and len({h["media_id"] for h in hits}) == 1


def test_upload_per_shot_pages_with_offset(client: TestClient) -> None:
    first = _upload(client, k=3, per="shot")
    rest = _upload(client, k=3, offset=3, per="shot")
    assert not {h["segment_id"] for h in first} & {h["segment_id"] for h in rest}


def test_upload_rejects_an_unknown_unit(client: TestClient) -> None:
    files = {"image": ("query.jpg", _jpeg((120, 60, 30), 48), "image/jpeg")}
    response = client.post("/api/search/image", files=files, params={"per": "scene"})
    assert response.status_code == 422


def test_a_kept_image_query_searches_again_per_shot(client: TestClient) -> None:
    files = {"image": ("query.jpg", _jpeg((120, 60, 30), 48), "image/jpeg")}
    key = client.post("/api/search/image", files=files, params={"k": 3}).headers["X-Query-Image"]
    response = client.get(f"/api/search/image/{key}", params={"k": 4, "per": "shot"})
    assert response.status_code == 200, response.text
    hits = response.json()
    assert len({h["segment_id"] for h in hits}) == 4 and {h["kind"] for h in hits} == {"video"}

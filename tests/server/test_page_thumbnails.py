"""Thumbnails and previews served for the page: sizes, validators, cache, changed files, video shots.

Found when tried: one page of 24 cards loaded every original (11.6 MB with 12-megapixel photos).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.api import Collection

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mmir.server import ServerSettings, create_app

COLOURS = ((220, 30, 30), (30, 200, 40), (40, 60, 230))  # one shot each, 2 s apart


def _picture(response) -> Image.Image:
    assert response.status_code == 200, response.text
    # JPEG: kept at indexing; WebP: made on demand; a PNG or JPEG original no larger than 1280 px is its own preview
    assert response.headers["content-type"] in ("image/jpeg", "image/webp", "image/png")
    return Image.open(io.BytesIO(response.content))


def _ids(client: TestClient) -> dict[str, int]:
    hits = client.get("/api/search", params={"q": "cat", "k": 50}).json()
    hits = hits["hits"] if isinstance(hits, dict) else hits
    return {hit["name"]: hit["media_id"] for hit in hits}


def test_card_and_preview_sizes_validators_and_cache(make_client, collection_dir: Path) -> None:
    client = make_client()
    cat = _ids(client)["chelsea.png"]  # 451 x 300
    card = client.get(f"/api/media/{cat}/thumb")
    assert max(_picture(card).size) == 256
    assert len(card.content) < client.get(f"/api/item/{cat}").json()["size"] / 5
    assert "no-cache" in card.headers["cache-control"] and card.headers["etag"].startswith('"')
    again = client.get(f"/api/media/{cat}/thumb", headers={"If-None-Match": card.headers["etag"]})
    assert again.status_code == 304 and not again.content
    preview = client.get(f"/api/media/{cat}/thumb", params={"size": 1280})
    assert _picture(preview).size == (451, 300)  # never enlarged
    assert preview.headers["etag"] != card.headers["etag"]
    assert not (collection_dir / "thumbnails").exists()  # both kept at indexing: nothing made on demand
    assert client.get(f"/api/media/{cat}/thumb", params={"size": 500}).status_code == 422
    assert client.get("/api/media/999999/thumb").status_code == 404


def test_a_big_photo_gives_a_small_card(tmp_path: Path, reuse_lite0) -> None:
    photos = tmp_path / "big"
    photos.mkdir()
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (3000, 4000, 3), np.uint8)  # 12 MP of noise: the worst case for size
    Image.fromarray(noise).save(photos / "big.jpg", quality=90)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photos])
    settings = ServerSettings(collection=tmp_path / "coll", allowed_hosts=("testserver",))
    client = TestClient(create_app(settings))
    hits = client.get("/api/search", params={"q": "noise", "k": 5}).json()
    hits = hits["hits"] if isinstance(hits, dict) else hits
    card = client.get(f"{hits[0]['url']}/thumb")
    assert max(_picture(card).size) == 256
    assert len(card.content) < 60_000 < (photos / "big.jpg").stat().st_size


def test_a_file_changed_since_indexing_is_refused_then_regenerated(make_client, collection_dir: Path,
                                                                   photo_dir: Path) -> None:  # fmt: skip
    client = make_client()
    horse = _ids(client)["horse.png"]
    before = client.get(f"/api/media/{horse}/thumb")
    assert before.status_code == 200
    Image.new("RGB", (300, 200), (0, 90, 200)).save(photo_dir / "horse.png")  # same name, new picture
    assert client.get(f"/api/media/{horse}/thumb").status_code == 404  # never the old picture for a new file
    with Collection.open(collection_dir) as coll:
        coll.index([photo_dir])
    client = TestClient(create_app(ServerSettings(collection=collection_dir, allowed_hosts=("testserver",))))
    horse = _ids(client)["horse.png"]
    after = client.get(f"/api/media/{horse}/thumb")
    assert after.headers["etag"] != before.headers["etag"]
    assert _picture(after).convert("RGB").getpixel((10, 10)) == pytest.approx((0, 90, 200), abs=12)


def test_a_deleted_file_is_not_found(make_client, photo_dir: Path) -> None:
    client = make_client()
    rocket = _ids(client)["rocket.jpg"]
    (photo_dir / "rocket.jpg").unlink()
    assert client.get(f"/api/media/{rocket}/thumb").status_code == 404


@pytest.mark.slow
def test_each_video_shot_has_its_own_keyframe_thumbnail(tmp_path: Path, reuse_lite0, monkeypatch) -> None:
    pytest.importorskip("av")
    import mmir.server.thumbnails

    def no_decoding(*_args: object) -> None:
        raise AssertionError("the video was decoded again: the keyframe stored at indexing should be used")

    from mmir.media.video_write import write_video

    media = tmp_path / "media"
    media.mkdir()
    rng = np.random.default_rng(0)
    texture = rng.integers(-40, 40, (120, 160, 3))  # not uniform: uniform frames are never keyframes
    frames = [np.clip(texture + colour, 0, 255).astype(np.uint8) for colour in COLOURS for _ in range(20)]
    write_video(media / "clip.mp4", frames, 10)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([media])
        rows = coll.store.catalog.hits_rows([int(i) for i in coll.store.catalog.segment_ids()])
    shots = sorted((segment.start_s, segment.id) for _ref, segment in rows.values())
    assert len(shots) == 3, shots
    media_id = next(iter(rows.values()))[0].id
    client = TestClient(create_app(ServerSettings(collection=tmp_path / "coll", allowed_hosts=("testserver",))))
    frame = mmir.server.thumbnails.video_frame(str(media / "clip.mp4"), 3.0, 64)  # the fallback: decode to 3 s
    assert min(frame.size) == 64 and int(np.argmax(frame.getpixel((frame.width // 2, frame.height // 2)))) == 1
    monkeypatch.setattr(mmir.server.thumbnails, "video_frame", no_decoding)
    centres = []
    for _start, segment in shots:
        picture = _picture(client.get(f"/api/media/{media_id}/thumb", params={"segment": segment})).convert("RGB")
        assert max(picture.size) <= 256
        centres.append(picture.getpixel((picture.width // 2, picture.height // 2)))
    assert [int(np.argmax(centre)) for centre in centres] == [0, 1, 2]  # red, green, blue: each shot's own frame
    wrong = client.get(f"/api/media/{media_id}/thumb", params={"segment": 10**9})
    assert wrong.status_code == 404


def test_a_cache_that_cannot_be_written_still_answers(make_client, collection_dir: Path) -> None:
    (collection_dir / "thumbnails").write_text("not a folder")  # mkdir under it fails like a read-only disk
    client = make_client()
    cat = _ids(client)["chelsea.png"]
    assert max(_picture(client.get(f"/api/media/{cat}/thumb")).size) == 256


def test_the_cache_keeps_to_its_size_bound(tmp_path: Path, photo_dir: Path) -> None:
    from mmir.media import sha1_file
    from mmir.server.thumbnails import ThumbnailCache, ThumbSize
    from mmir.types import MediaKind, MediaRef

    cache = ThumbnailCache(tmp_path / "thumbs", max_bytes=40_000, prune_every=1)
    for number, path in enumerate(sorted(photo_dir.glob("*.png"))):
        stat = path.stat()
        ref = MediaRef(number + 1, str(path), MediaKind.IMAGE, stat.st_size, stat.st_mtime, sha1_file(path))
        assert cache.get(ref, ThumbSize.CARD).path.is_file()  # the newest one is always kept
        kept = sum(file.stat().st_size for file in (tmp_path / "thumbs").glob("*/*.webp"))
        assert kept <= 40_000
    assert len(list((tmp_path / "thumbs").glob("*/*.webp"))) < len(list(photo_dir.glob("*.png")))

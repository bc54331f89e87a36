"""The thumbnail route serves the pictures kept at indexing, ETag-validated; on-demand making stays the fallback.

Found when tried (issue 20, part 1): every card's first view decoded the original on the server (12-megapixel
photos: seconds per page), because nothing was made while indexing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mmir.api import Collection
from mmir.indexing.pipeline import IndexOptions

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mmir.server import ServerSettings, create_app


def _ids(client: TestClient) -> dict[str, int]:
    hits = client.get("/api/search", params={"q": "cat", "k": 50}).json()
    hits = hits["hits"] if isinstance(hits, dict) else hits
    return {hit["name"]: hit["media_id"] for hit in hits}


def test_the_card_kept_at_indexing_is_served_with_an_etag_and_304(make_client, collection_dir: Path) -> None:
    client = make_client()
    cat = _ids(client)["chelsea.png"]
    with Collection.open(collection_dir) as coll:
        kept = coll.thumbnail_path(cat, 256)
        own_preview = coll.thumbnail_path(cat, 1280)
    assert kept is not None and kept.is_relative_to(collection_dir / "thumbs")
    card = client.get(f"/api/media/{cat}/thumb")
    assert card.status_code == 200 and card.headers["content-type"] == "image/jpeg"
    assert card.content == kept.read_bytes()  # the stored file, not one made now
    assert card.headers["etag"].startswith('"') and "no-cache" in card.headers["cache-control"]
    again = client.get(f"/api/media/{cat}/thumb", headers={"If-None-Match": card.headers["etag"]})
    assert again.status_code == 304 and not again.content
    assert not (collection_dir / "thumbnails").exists()  # nothing was made on demand
    preview = client.get(f"/api/media/{cat}/thumb", params={"size": 1280})  # a 451x300 PNG: its own preview
    assert own_preview is not None and preview.content == own_preview.read_bytes()
    assert preview.headers["etag"] != card.headers["etag"]


def test_files_indexed_without_thumbnails_still_get_one_made_on_demand(tmp_path: Path, photo_dir: Path,
                                                                        reuse_lite0) -> None:  # fmt: skip
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir], IndexOptions(progress=False, thumbnails=False))
    client = TestClient(create_app(ServerSettings(collection=tmp_path / "coll", allowed_hosts=("testserver",))))
    cat = _ids(client)["chelsea.png"]
    card = client.get(f"/api/media/{cat}/thumb")
    assert card.status_code == 200 and card.headers["content-type"] == "image/webp"
    assert list((tmp_path / "coll" / "thumbnails").rglob("*.webp"))  # the fallback's cache

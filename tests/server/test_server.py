"""The web service through HTTP (FastAPI's test client): every endpoint as a user's page calls it."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from mmir.api import Collection


def test_search_upload_similar_info_and_ui(make_client, photo_dir: Path, jpeg) -> None:
    client = make_client()
    hits = client.get("/api/search", params={"q": "cat", "k": 3}).json()
    assert hits[0]["name"] == "chelsea.png" and hits[0]["why"]
    assert hits[0]["kind"] == "image" and hits[0]["start"] is None and hits[0]["end"] is None
    upload = {"image": ("query.jpg", jpeg(photo_dir / "coffee.png"), "image/jpeg")}
    hits = client.post("/api/search/image", files=upload, params={"k": 2}).json()
    assert hits[0]["name"] == "coffee.png" and "query.jpg" in hits[0]["why"][0]
    similar = client.get(f"/api/similar/{hits[0]['media_id']}", params={"k": 3}).json()
    assert len(similar) == 3 and all(h["name"] != "coffee.png" for h in similar)
    info = client.get("/api/info").json()
    assert info["media"] == 7 and info["directory"] == "coll"
    image = client.get(hits[0]["url"])
    assert image.status_code == 200 and image.content == (photo_dir / "coffee.png").read_bytes()
    page = client.get("/")
    assert page.status_code == 200 and "<title>mmir</title>" in page.text


def test_paging_returns_the_next_results(make_client) -> None:
    client = make_client()
    first = client.get("/api/search", params={"q": "animal", "mode": "or", "k": 4}).json()
    both = client.get("/api/search", params={"q": "animal", "mode": "or", "k": 2, "offset": 2}).json()
    assert [h["media_id"] for h in both] == [h["media_id"] for h in first[2:4]]
    assert [h["rank"] for h in both] == [3, 4]


def test_concepts_and_item_metadata(make_client, photo_dir: Path) -> None:
    client = make_client()
    mapping = client.get("/api/concepts", params={"q": "cat"}).json()
    assert mapping["terms"] and mapping["terms"][0]["concepts"]
    hit = client.get("/api/search", params={"q": "cup", "k": 1}).json()[0]
    item = client.get(f"/api/item/{hit['media_id']}").json()
    assert item["name"] == "coffee.png" and item["path"] == "photos/coffee.png"
    assert item["size"] == (photo_dir / "coffee.png").stat().st_size
    assert client.get("/api/item/123456").status_code == 404


def test_feedback_reranks_and_validates(make_client) -> None:
    client = make_client()
    hits = client.get("/api/search", params={"q": "cat", "k": 7}).json()
    by_name = {h["name"]: h["media_id"] for h in hits}
    marks = {"positives": [by_name["horse.png"]], "negatives": [by_name["chelsea.png"]], "method": "classifier"}
    ranked = client.post("/api/feedback", json=marks, params={"k": 7}).json()
    assert ranked[0]["name"] == "horse.png" and ranked[-1]["name"] != "horse.png"
    assert [h["name"] for h in ranked].index("chelsea.png") > 0
    rocchio = client.post("/api/feedback", json={**marks, "method": "rocchio"}, params={"k": 3}).json()
    assert rocchio[0]["name"] == "horse.png" and "rocchio" in rocchio[0]["why"][0]
    assert client.post("/api/feedback", json={"positives": []}).status_code == 422
    assert client.post("/api/feedback", json={"positives": [999_999]}).status_code == 400


def test_media_answers_range_requests(make_client, photo_dir: Path) -> None:
    client = make_client()
    hit = client.get("/api/search", params={"q": "cup", "k": 1}).json()[0]
    part = client.get(hit["url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == (photo_dir / "coffee.png").read_bytes()[10:20]
    assert part.headers["accept-ranges"] == "bytes"


def test_indexing_from_the_ui_only_configured_roots(make_client, tmp_path: Path, photo_dir: Path) -> None:
    extra = tmp_path / "more"
    extra.mkdir()
    ImageOps.flip(Image.open(photo_dir / "horse.png").convert("RGB")).save(extra / "horse-flipped.png")
    client = make_client(roots=(extra,))
    status = client.get("/api/index").json()
    assert status["state"] == "idle" and status["root_choices"] == [{"id": 0, "name": "more"}]
    assert client.post("/api/index", json={"roots": [3]}).status_code == 400
    assert client.post("/api/index", json={"roots": ["/etc"]}).status_code == 422
    assert client.post("/api/index", json={"roots": [0]}).status_code == 202
    for _ in range(600):
        status = client.get("/api/index").json()
        if status["state"] in ("done", "failed"):
            break
        import time

        time.sleep(0.1)
    assert status["state"] == "done" and status["added"] == 1 and status["found"] == 1, status
    assert client.get("/api/info").json()["media"] == 8
    hits = client.get("/api/search", params={"q": "horse", "k": 8}).json()
    assert "more/horse-flipped.png" in [h["path"] for h in hits]


def test_server_sees_files_indexed_after_it_started(make_client, collection_dir: Path, photo_dir: Path,
                                                    tmp_path: Path) -> None:  # fmt: skip
    client = make_client()
    assert client.get("/api/info").json()["media"] == 7
    extra = tmp_path / "more"
    extra.mkdir()
    ImageOps.flip(Image.open(photo_dir / "horse.png").convert("RGB")).save(extra / "horse-flipped.png")
    with Collection.open(collection_dir) as coll:
        coll.index([extra])
    assert client.get("/api/info").json()["media"] == 8


def test_keyword_search_on_the_event_loop_only_when_the_lock_is_free(collection_dir: Path, reuse_lite0) -> None:
    from mmir.server.service import CollectionService
    from mmir.server.settings import ServerSettings

    service = CollectionService(ServerSettings(collection=collection_dir))

    def run(collection: Collection) -> list:
        return collection.search_text("cat", 3)

    assert service.ranked_now(run) is None  # not open yet: opening is slow, a worker does it
    assert service.ranked(run)[0]["name"] == "chelsea.png"
    with service.use():  # another thread holds the lock: do not wait on the event loop
        assert service.ranked_now(run) is None
    assert service.ranked_now(run)[0]["name"] == "chelsea.png"

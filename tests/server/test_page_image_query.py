"""Image queries kept by content hash: a ``?image=HASH`` link works after a reload (API and Chromium).

Found when tried: reloading an image query, or sharing its link, said "pick it again".
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from mmir.server.query_images import QueryImages


def _names(hits) -> list[str]:
    return [hit["name"] for hit in (hits["hits"] if isinstance(hits, dict) else hits)]


def test_an_uploaded_query_is_kept_by_its_hash(make_client, photo_dir: Path, jpeg) -> None:
    client = make_client()
    data = jpeg(photo_dir / "coffee.png")
    answer = client.post("/api/search/image", files={"image": ("q.jpg", data, "image/jpeg")})
    assert answer.status_code == 200
    key = answer.headers["x-query-image"]
    assert key == hashlib.sha1(data).hexdigest()
    again = client.get(f"/api/search/image/{key}")
    assert again.status_code == 200 and _names(again.json()) == _names(answer.json())
    shown = client.get(f"/api/media/query/{key}")
    assert shown.content == data and shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["x-content-type-options"] == "nosniff"
    for bad in ("0" * 40, "../../etc/passwd", "ABC"):
        assert client.get(f"/api/search/image/{bad}").status_code == 404
    not_an_image = client.post("/api/search/image", files={"image": ("x.jpg", b"not an image", "image/jpeg")})
    assert not_an_image.status_code == 400 and "x-query-image" not in not_an_image.headers  # only real images kept


def test_kept_images_expire_and_are_bounded(tmp_path: Path) -> None:
    kept = QueryImages(tmp_path / "q", keep_s=60, max_files=3)
    keys = [kept.keep(bytes([i]) * 100) for i in range(5)]
    assert kept.get(keys[0]) is None and kept.get(keys[1]) is None  # the oldest beyond max_files went first
    assert kept.get(keys[4]) == bytes([4]) * 100
    old = time.time() - 120
    os.utime(tmp_path / "q" / keys[4], (old, old))
    assert kept.get(keys[4]) is None  # expired
    assert kept.get("not-a-key") is None


@pytest.mark.slow
def test_reload_of_an_image_query_keeps_it(serve, browser, screens, photo_dir: Path, tmp_path: Path, jpeg) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/")
    query = tmp_path / "query.jpg"
    query.write_bytes(jpeg(photo_dir / "coffee.png"))
    page.set_input_files("#image", str(query))
    page.wait_for_function("/[?&]image=[0-9a-f]{40}/.test(location.search)", timeout=30_000)
    page.wait_for_selector("#results .hit")
    before = page.locator("#results .hit .name").all_inner_texts()
    assert before[0].endswith("coffee.png")
    url = page.url
    page.reload()
    page.wait_for_selector("#results .hit", timeout=30_000)
    assert page.locator("#results .hit .name").all_inner_texts() == before and page.url == url
    assert page.locator("#error").inner_text() == ""
    page.wait_for_function("(document.querySelector('#query-image img') || {}).naturalWidth > 0")
    other = browser.new_page()  # a shared link, in a fresh tab
    other.goto(url)
    other.wait_for_selector("#results .hit", timeout=30_000)
    assert other.locator("#results .hit .name").all_inner_texts() == before
    page.screenshot(path=screens / "image-reloaded.png")

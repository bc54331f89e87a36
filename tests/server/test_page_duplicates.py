"""Near-duplicates folded into one card on request (API and Chromium).

Found when tried: near-duplicates sat side by side in the results with no way to group them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mmir.api import Collection


@pytest.fixture()
def collection_dir(tmp_path: Path, photo_dir: Path, reuse_lite0) -> Path:
    """The six sample photos plus a slightly smaller JPEG copy of the cat, indexed (overrides conftest's)."""
    cat = Image.open(photo_dir / "chelsea.png").convert("RGB")
    cat.resize((cat.width * 9 // 10, cat.height * 9 // 10)).save(photo_dir / "chelsea-copy.jpg", quality=85)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
    return tmp_path / "coll"


def test_duplicate_groups_by_media_id(make_client) -> None:
    client = make_client()
    found = client.get("/api/search", params={"q": "cat"}).json()
    ids = {hit["name"]: hit["media_id"] for hit in (found["hits"] if isinstance(found, dict) else found)}
    groups = client.get("/api/duplicates").json()["groups"]
    assert sorted([ids["chelsea.png"], ids["chelsea-copy.jpg"]]) in [sorted(group) for group in groups]
    assert client.get("/api/duplicates").json()["groups"] == groups  # cached until the collection changes


@pytest.mark.slow
def test_group_near_duplicates_toggle(serve, browser, screens) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/?q=cat")
    page.wait_for_selector("#results .hit:has-text('chelsea-copy.jpg')", timeout=30_000)
    visible = "[...document.querySelectorAll('#results .hit:not([hidden]) .name')].map((n) => n.textContent)"
    both = page.evaluate(visible)
    assert any(n.endswith("chelsea.png") for n in both) and any(n.endswith("chelsea-copy.jpg") for n in both)
    page.check("#group-dups")
    page.wait_for_selector("#results .dups")
    grouped = page.evaluate(visible)
    assert len(grouped) == len(both) - 1
    assert sum(n.endswith(("chelsea.png", "chelsea-copy.jpg")) for n in grouped) == 1
    assert page.inner_text("#results .dups") == "+1 near-duplicate"
    page.screenshot(path=screens / "grouped.png")
    page.reload()  # the choice is remembered in this browser
    page.wait_for_selector("#results .dups", timeout=30_000)
    page.click("#results .dups")
    assert page.evaluate(visible) == both
    page.uncheck("#group-dups")
    assert page.evaluate(visible) == both and page.locator("#results .dups").count() == 0

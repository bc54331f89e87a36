"""Honest states on the page: no good match, a file gone since indexing, and the Collection panel's progress.

Found when tried: "xyzzy plugh" showed 24 results with no notice; a file deleted after indexing was a broken
image; the progress bar started at 60 % and went backwards (files in the collection / files found), the counts
stayed stale after "done", and the status said a raw "idle".
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from PIL import Image, ImageOps

RECORD = """() => {
  window.seen = [];
  const note = () => window.seen.push({
    value: document.querySelector('#index-progress').value, max: document.querySelector('#index-progress').max,
    text: document.querySelector('#index-status').textContent });
  new MutationObserver(note).observe(document.querySelector('#collection'), { subtree: true, childList: true,
    attributes: true, characterData: true });
}"""


def _new_photos(folder: Path, photo_dir: Path, count: int) -> None:
    folder.mkdir()
    for i, source in enumerate(sorted(photo_dir.glob("*.png"))[:count]):
        ImageOps.mirror(Image.open(source).convert("RGB")).save(folder / f"new-{i}.jpg")


def test_indexing_reports_files_done_of_this_runs_files_to_do(make_client, tmp_path: Path, photo_dir: Path) -> None:
    extra = tmp_path / "extra"
    _new_photos(extra, photo_dir, 3)
    client = make_client(roots=(extra,))
    assert client.get("/api/index").json()["to_do"] is None
    assert client.post("/api/index", json={"roots": [0]}).status_code == 202
    for _ in range(600):
        status = client.get("/api/index").json()
        if status["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert status["state"] == "done", status
    assert status["to_do"] == 3 and status["done"] == 3 and status["added"] == 3
    assert client.post("/api/index", json={"roots": [0]}).status_code == 202  # again: nothing new to do
    for _ in range(600):
        status = client.get("/api/index").json()
        if status["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert status["to_do"] == 0 and status["done"] == 0


@pytest.mark.slow
def test_collection_panel_words_progress_and_fresh_counts(serve, browser, screens, tmp_path: Path,
                                                           photo_dir: Path) -> None:  # fmt: skip
    extra = tmp_path / "extra"
    _new_photos(extra, photo_dir, 4)
    base = serve(roots=(extra,))
    page = browser.new_page()
    page.goto(base + "/")
    page.click("#collection-button")
    page.wait_for_function("document.querySelector('#info').textContent.includes('files')")
    assert "7" in page.locator("#info dd").nth(2).inner_text()
    status = page.inner_text("#index-status")
    assert "idle" not in status and status.startswith("Not indexing")
    page.evaluate(RECORD)
    page.click("#index-button")
    page.wait_for_function("document.querySelector('#index-status').textContent.startsWith('Finished')",
                           timeout=120_000)  # fmt: skip
    page.wait_for_function("document.querySelector('#info dd:nth-of-type(3)').textContent === '11'")  # refreshed
    seen = page.evaluate("window.seen")
    fractions = [entry["value"] / entry["max"] for entry in seen if entry["max"] and entry["max"] != 1]
    assert fractions == sorted(fractions) and all(0 <= f <= 1 for f in fractions)  # never backwards, never past
    assert not any("idle" in entry["text"] for entry in seen)
    assert "4 added" in page.inner_text("#index-status")
    page.screenshot(path=screens / "collection.png")


@pytest.mark.slow
def test_no_good_match_notice_and_a_deleted_file(serve, browser, screens, photo_dir: Path) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/?q=cat")
    page.wait_for_selector("#results .hit img")
    assert page.locator("#weak").is_hidden()
    page.goto(base + "/?q=xyzzy%20plugh&mode=or")
    page.wait_for_function("document.querySelector('#status').textContent.includes('xyzzy')", timeout=30_000)
    if page.locator("#results .hit").count():
        assert page.locator("#weak").is_visible()  # results, but labelled as not good matches
    page.screenshot(path=screens / "weak.png")

    shutil.move(photo_dir / "horse.png", photo_dir.parent / "horse-moved-away.png")
    page.goto(base + "/?q=horse")
    page.wait_for_selector("#results .hit.missing .gone", timeout=30_000)
    card = page.locator("#results .hit", has_text="horse.png").first
    assert "missing or changed since indexing" in card.inner_text()
    assert card.locator("img").count() == 0  # no broken image
    page.screenshot(path=screens / "deleted.png")

"""The large view in headless Chromium: previous/next, the original a click away, closing, video shots.

Found when tried: the large view was a dead end (ArrowRight did nothing, no way to the original), the shot's range
was not marked on the timeline, and "Similar" on a video shot searched with the whole video.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmir.api import Collection

pytestmark = pytest.mark.slow

COLOURS = ((220, 30, 30), (30, 200, 40), (40, 60, 230))  # one 2-second shot each
SHOTS: dict[str, list[int]] = {}


@pytest.fixture()
def collection_dir(tmp_path: Path, photo_dir: Path, reuse_lite0) -> Path:
    """The six sample photos and a 6-second clip of three shots, indexed (overrides conftest's)."""
    pytest.importorskip("av")
    from mmir.media.video_write import write_video

    rng = np.random.default_rng(0)
    texture = rng.integers(-40, 40, (120, 160, 3))  # not uniform: uniform frames are never keyframes
    frames = [np.clip(texture + colour, 0, 255).astype(np.uint8) for colour in COLOURS for _ in range(20)]
    write_video(photo_dir / "clip.mp4", frames, 10)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
        catalog = coll.store.catalog
        rows = catalog.hits_rows([int(i) for i in catalog.segment_ids()])
        SHOTS["photo"] = [next(i for i, path in catalog.media_under("/") if path.endswith("chelsea.png"))]
    shots = sorted((seg.start_s, seg.id, ref.id) for ref, seg in rows.values() if ref.path.endswith("clip.mp4"))
    SHOTS["clip"] = [shots[0][2], *(segment for _start, segment, _media in shots)]  # media id, then shot ids
    return tmp_path / "coll"


SWIPE = """dx => {
  const target = document.querySelector('#viewer .viewer-media');
  const touch = (x) => new Touch({ identifier: 1, target, clientX: x, clientY: 200 });
  const start = touch(200);
  target.dispatchEvent(new TouchEvent('touchstart', { touches: [start], changedTouches: [start], bubbles: true }));
  const end = touch(200 + dx);
  target.dispatchEvent(new TouchEvent('touchend', { touches: [], changedTouches: [end], bubbles: true }));
}"""


def _names(page) -> list[str]:
    return page.locator("#results .hit .name").all_inner_texts()


def _title(page) -> str:
    return page.locator("#viewer-title").inner_text()


def test_viewer_steps_through_results_opens_the_original_and_closes(serve, browser, screens) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/")
    page.fill("#q", "cat")
    page.press("#q", "Enter")
    page.wait_for_function("document.querySelectorAll('#results .hit').length >= 3", timeout=30_000)
    names = [name.split(". ", 1)[1] for name in _names(page)]

    page.locator("#results .hit .open").first.click()
    page.wait_for_selector("#viewer[open]")
    assert _title(page) == names[0] and page.inner_text("#viewer-count") == f"1 of {len(names)}"
    assert page.is_disabled("#viewer-prev")
    page.keyboard.press("ArrowRight")
    assert _title(page) == names[1] and page.inner_text("#viewer-count") == f"2 of {len(names)}"
    page.keyboard.press("ArrowLeft")
    assert _title(page) == names[0]
    page.evaluate(SWIPE, -120)  # a swipe to the left shows the next result
    assert _title(page) == names[1]
    page.evaluate(SWIPE, 120)
    assert _title(page) == names[0]
    page.click("#viewer-next")
    assert _title(page) == names[1]
    page.wait_for_function("(document.querySelector('#viewer img') || {}).naturalWidth > 0")
    assert "size=1280" in page.get_attribute("#viewer img", "src")  # the preview, not the original
    page.screenshot(path=screens / "viewer.png")

    href = page.get_attribute("#viewer-open", "href")
    assert href.startswith("/api/media/") and "thumb" not in href
    assert page.get_attribute("#viewer-download", "download") == names[1]
    size = page.evaluate("url => fetch(url).then(r => r.arrayBuffer()).then(b => b.byteLength)", href)
    media_id = href.rsplit("/", 1)[1]
    assert size == page.evaluate(f"fetch('/api/item/{media_id}').then(r => r.json()).then(i => i.size)")

    page.keyboard.press("Escape")
    page.wait_for_function("!document.querySelector('#viewer').open")
    assert "q=cat" in page.url and [n.split(". ", 1)[1] for n in _names(page)] == names
    page.locator("#results .hit .open").nth(2).click()  # the browser's Back closes the large view
    page.wait_for_selector("#viewer[open]")
    page.go_back()
    page.wait_for_function("!document.querySelector('#viewer').open")
    assert "q=cat" in page.url and page.input_value("#q") == "cat"
    page.go_back()  # the viewer left no extra history entries behind: Back now leaves the search
    page.wait_for_function("!location.search.includes('q=cat')")


def test_video_shot_is_marked_on_the_timeline_and_similar_sends_the_shot(serve, browser, screens) -> None:
    base = serve()
    media_id, *shots = SHOTS["clip"]
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url) if "/api/similar/" in request.url else None)
    lists = []
    for shot in shots[:2]:
        page.goto(f"{base}/?similar={media_id}&shot={shot}")
        page.wait_for_function("document.querySelectorAll('#results .hit').length > 0", timeout=30_000)
        assert f"segment={shot}" in requests[-1]
        page.wait_for_function("!document.querySelector('#query-image').hidden")  # the query shot is shown
        assert "shot of clip.mp4" in page.inner_text("#query-image figcaption")
        lists.append(_names(page))
    assert lists[0] != lists[1]  # two shots of one video: two different answers

    page.goto(f"{base}/?similar={SHOTS['photo'][0]}")  # a photo's neighbours include the clip's best shot
    page.wait_for_selector("#results .hit:has-text('clip.mp4')", timeout=30_000)
    video_card = page.locator("#results .hit", has_text="clip.mp4").first
    assert "segment=" in video_card.locator("img").get_attribute("src")  # the shot's keyframe as its card
    video_card.locator(".open").click()
    page.wait_for_selector("#viewer[open] video")
    page.wait_for_selector("#viewer-timeline:not([hidden])", timeout=30_000)
    duration = float(page.evaluate("document.querySelector('#viewer video').duration"))
    left = page.evaluate("parseFloat(document.querySelector('#viewer-timeline .shot').style.left)")
    width = page.evaluate("parseFloat(document.querySelector('#viewer-timeline .shot').style.width)")
    label = page.get_attribute("#viewer-timeline", "aria-label")
    assert label.startswith("this shot:") and duration > 5
    assert 0 <= left < 100 and 15 < width < 50  # one of three 2-second shots of a 6-second clip
    assert page.inner_text("#viewer-similar") == "Similar to this shot"
    page.screenshot(path=screens / "viewer-video.png")
    asked = len(requests)
    page.click("#viewer-similar")
    page.wait_for_url("**shot=**")
    for _ in range(100):  # the new search's request follows the URL change
        if len(requests) > asked:
            break
        page.wait_for_timeout(50)
    assert "segment=" in requests[-1]
    page.wait_for_function("!document.querySelector('#viewer').open")


def test_marking_a_video_card_marks_its_shot(serve, browser) -> None:
    base = serve()
    page = browser.new_page()
    bodies: list[str] = []
    page.on("request", lambda r: bodies.append(r.post_data or "") if "/api/feedback" in r.url else None)
    page.goto(f"{base}/?similar={SHOTS['photo'][0]}")
    page.wait_for_selector("#results .hit:has-text('clip.mp4')", timeout=30_000)
    video_card = page.locator("#results .hit", has_text="clip.mp4").first
    video_card.get_by_role("button", name="Relevant: clip.mp4", exact=True).click()
    page.click("#rerank")
    page.wait_for_url("**spos=**")
    page.wait_for_selector("#results .hit")
    sent = json.loads(bodies[-1])
    assert sent["positives"] == [] and len(sent["positive_shots"]) == 1  # the shot, not the whole video
    shot = page.url.split("spos=")[1].split("&")[0]
    assert sent["positive_shots"] == [int(shot)] and int(shot) in SHOTS["clip"][1:]
    page.reload()
    page.wait_for_selector("#results .hit")
    assert f"spos={shot}" in page.url and "1 relevant" in page.inner_text("#status")


def test_video_shots_one_by_one_is_kept_in_the_url(serve, browser) -> None:
    base = serve()
    page = browser.new_page()
    clip = SHOTS["clip"][0]
    clip_cards = f"document.querySelectorAll('#results .hit[data-media-id=\"{clip}\"]').length"
    page.goto(f"{base}/?similar={SHOTS['photo'][0]}")
    page.wait_for_selector("#results .hit:has-text('clip.mp4')", timeout=30_000)
    assert page.evaluate(clip_cards) == 1  # one card per file
    page.check("#per-shot")
    page.wait_for_url("**per=shot**")
    page.wait_for_function(f"{clip_cards} === 3", timeout=30_000)  # each of the clip's three shots
    page.reload()
    page.wait_for_function(f"{clip_cards} === 3", timeout=30_000)
    assert page.is_checked("#per-shot")
    page.go_back()
    page.wait_for_function(f"{clip_cards} === 1", timeout=30_000)
    assert not page.is_checked("#per-shot")

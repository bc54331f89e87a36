"""Filters on the page (headless Chromium): chosen in the Filters panel, shown as chips, kept in the URL, sent with
every search; a reload keeps the chips and the filtered results ("filters round-trip through the URL").

The collection is the synthetic one of ``tests/search/test_filters.py``: a 40-shot video leads "zebra" unfiltered,
photos live in ``set_a`` and ``set_b``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.search.test_filters import build

pytestmark = pytest.mark.slow

HITS = "[...document.querySelectorAll('#results .hit')].map((li) => [li.hit.kind, li.hit.path])"
CHIPS = "[...document.querySelectorAll('#filter-chips .chip')].map((li) => li.firstChild.textContent)"


@pytest.fixture()
def collection_dir(tmp_path: Path) -> Path:
    """Overrides the conftest's indexed sample photos (``serve`` serves this collection)."""
    build(tmp_path / "coll", tmp_path / "media").close()
    return tmp_path / "coll"


def _wait_for_status(page, words: str) -> None:
    page.wait_for_function(f"document.querySelector('#status').textContent.includes({words!r})")


def test_filters_round_trip_through_the_url(serve, browser) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/?q=zebra")
    page.wait_for_selector("#results .hit")
    assert page.evaluate(HITS)[0][0] == "video"  # unfiltered, the video leads
    assert page.locator("#filter-chips").is_hidden()

    page.click("#filters summary")
    page.select_option("#filter-kind", "photo")
    _wait_for_status(page, "photos only")
    page.fill("#filter-under", "set_a")
    page.press("#filter-under", "Enter")
    _wait_for_status(page, "in set_a")
    assert "kind=photo" in page.url and "under=set_a" in page.url
    assert page.evaluate(CHIPS) == ["photos only", "in set_a"]
    hits = page.evaluate(HITS)
    assert len(hits) == 15 and all(kind == "image" and "/set_a/" in path for kind, path in hits)  # set_a's photos

    page.reload()
    _wait_for_status(page, "in set_a")
    page.wait_for_selector("#results .hit")
    assert page.evaluate(CHIPS) == ["photos only", "in set_a"]
    assert page.input_value("#filter-kind") == "photo" and page.input_value("#filter-under") == "set_a"
    assert page.evaluate(HITS) == hits  # the same filtered results after the reload
    assert "photos only" in page.title()

    page.click("#filter-chips .chip[data-key=kind] button")  # a chip's button removes that filter
    page.wait_for_function("!location.search.includes('kind=')")
    _wait_for_status(page, "results for")
    page.wait_for_function(f"{HITS}.some(([kind]) => kind === 'video')")  # clip_cat.mp4 lives in set_a too
    assert page.evaluate(CHIPS) == ["in set_a"] and "under=set_a" in page.url

    page.go_back()  # Back restores the filter it came from
    page.wait_for_function("location.search.includes('kind=photo')")
    page.wait_for_function(f"{CHIPS}.length === 2")


def test_a_bad_filter_in_a_link_is_a_readable_error(serve, browser) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/?q=zebra&kind=tree")
    page.wait_for_function("document.querySelector('#error').textContent.includes('kind must be photo or video')")
    page.goto(base + "/?q=zebra&after=2024-01-10&before=2024-01-19")
    page.wait_for_selector("#results .hit")
    assert len(page.evaluate(HITS)) == 10  # the photos of 10 to 19 January
    assert page.input_value("#filter-after") == "2024-01-10"

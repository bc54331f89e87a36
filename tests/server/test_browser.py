"""The web UI in headless Chromium (Debian ``chromium`` driven by Playwright; never ``playwright install``).

The ``serve``, ``browser`` and ``screens`` fixtures live in ``conftest.py`` (shared with ``test_page_*.py``).

Screenshots of each step are saved under the test's tmp dir (``tmp_path / "screens"``) as artefacts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


SIMILAR_SHOWN = """() => {
  const names = [...document.querySelectorAll('#results .hit .name')].map((n) => n.textContent);
  return names.length > 0 && !names.some((n) => n.endsWith('chelsea.png'));
}"""


def _names(page) -> list[str]:
    return page.locator("#results .hit .name").all_inner_texts()


def _first_is(page, name: str) -> None:
    page.wait_for_function(
        "name => { const n = document.querySelector('#results .hit .name'); return n && n.textContent.endsWith(name) }",
        arg=name, timeout=30_000,
    )  # fmt: skip


def test_search_open_similar_back_forward_feedback_upload(
    serve, browser, screens: Path, photo_dir: Path, tmp_path: Path, jpeg
) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/")
    page.keyboard.press("/")  # the shortcut focuses the search box
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("cat")
    page.keyboard.press("Enter")
    _first_is(page, "chelsea.png")
    assert "Query mapped to" in page.locator("#mapping").inner_text()
    assert "q=cat" in page.url
    page.screenshot(path=screens / "1-search.png")

    page.locator("#results .hit .open").first.click()  # large view with metadata
    page.wait_for_selector("#viewer[open]")
    page.wait_for_function("document.querySelector('#viewer-meta').textContent.includes('photos/chelsea.png')")
    page.wait_for_function("document.querySelector('#viewer img').naturalWidth > 0")  # the 1280 px preview
    page.screenshot(path=screens / "2-viewer.png")
    page.click("#viewer-similar")
    page.wait_for_url("**similar=**")
    page.wait_for_function(SIMILAR_SHOWN)
    similar = _names(page)
    page.screenshot(path=screens / "3-similar.png")

    page.go_back()
    _first_is(page, "chelsea.png")
    assert "q=cat" in page.url and page.input_value("#q") == "cat"
    page.go_forward()
    page.wait_for_url("**similar=**")
    page.wait_for_function(SIMILAR_SHOWN)
    assert _names(page) == similar
    page.go_back()
    _first_is(page, "chelsea.png")

    before = _names(page)
    horse = page.locator("#results .hit", has_text="horse.png")
    horse.get_by_role("button", name="Relevant: horse.png", exact=True).click()
    cat = page.locator("#results .hit", has_text="chelsea.png")
    cat.get_by_role("button", name="Not relevant: chelsea.png", exact=True).click()
    page.click("#rerank")
    _first_is(page, "horse.png")
    assert _names(page) != before and "fb=classifier" in page.url
    assert "% likely relevant" in page.locator("#results .hit .score").first.inner_text()  # not a raw number
    page.screenshot(path=screens / "4-feedback.png")
    page.click("#undo")
    _first_is(page, "chelsea.png")

    query = tmp_path / "query.jpg"
    query.write_bytes(jpeg(photo_dir / "coffee.png"))
    page.set_input_files("#image", str(query))
    _first_is(page, "coffee.png")
    assert page.locator("#query-image").is_visible()
    page.screenshot(path=screens / "5-upload.png")
    assert len(list(screens.glob("*.png"))) == 5


def test_token_is_asked_once_and_errors_are_readable(serve, browser, screens: Path) -> None:
    base = serve(token="s3cret")
    page = browser.new_page()
    page.goto(base + "/?q=cat")
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token", "s3cret")
    page.press("#token", "Enter")
    _first_is(page, "chelsea.png")
    page.wait_for_function("document.querySelector('#results img').naturalWidth > 0")  # media by cookie
    assert "s3cret" not in page.evaluate("document.body.innerHTML")
    page.fill("#q", "x" * 600)
    page.press("#q", "Enter")
    page.wait_for_function("document.querySelector('#error').textContent.startsWith('Error:')")
    assert "JSON" not in page.locator("#error").inner_text()
    assert not page.locator("#token-dialog[open]").count()  # asked once
    page.screenshot(path=screens / "token.png")

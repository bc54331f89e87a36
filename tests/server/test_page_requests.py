"""Searches whose answers arrive out of order: only the newest search may render (headless Chromium).

Found when tried: an older search's answer arriving after a newer one put "bus" results under the "cat"
box and URL (and a late concepts answer put the wrong mapping above the results).
"""

from __future__ import annotations

import contextlib

import pytest

pytestmark = pytest.mark.slow

FIRST_IS = """name => {
  const n = document.querySelector('#results .hit .name');
  return n && n.textContent.endsWith(name);
}"""


def _hold(page, pattern: str, held: list) -> None:
    """Requests matching ``pattern`` wait in ``held`` until the test lets them go."""
    page.route(pattern, lambda route: held.append(route))


def _release(held: list) -> None:
    for route in held:
        with contextlib.suppress(Exception):  # the page aborted it (AbortController): nothing left to answer
            route.continue_()


def test_an_older_search_answering_late_does_not_replace_the_newer(serve, browser, screens) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/")
    held: list = []
    _hold(page, "**/api/search?*q=horse*", held)
    _hold(page, "**/api/concepts?*q=horse*", held)
    page.fill("#q", "horse")
    page.press("#q", "Enter")
    page.wait_for_function("() => location.search.includes('q=horse')")
    for _ in range(100):  # both requests of the first search are on hold
        if len(held) >= 2:
            break
        page.wait_for_timeout(50)
    assert len(held) == 2

    page.fill("#q", "cat")
    page.press("#q", "Enter")
    page.wait_for_function(FIRST_IS, arg="chelsea.png", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#mapping').textContent.includes('cat')")
    _release(held)  # the first search's answers now arrive, late
    page.wait_for_timeout(1500)

    first = page.locator("#results .hit .name").first.inner_text()
    assert first.endswith("chelsea.png"), first
    assert "q=cat" in page.url and page.input_value("#q") == "cat"
    mapping = page.locator("#mapping").inner_text()
    assert "cat" in mapping and "horse" not in mapping, mapping
    assert page.locator("#error").inner_text() == ""
    assert "cat" in page.locator("#status").inner_text()
    page.screenshot(path=screens / "newest-wins.png")


def test_a_late_concepts_answer_alone_is_dropped(serve, browser) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/")
    held: list = []
    _hold(page, "**/api/concepts?*q=horse*", held)  # the horse results come back, only its mapping is late
    page.fill("#q", "horse")
    page.press("#q", "Enter")
    page.wait_for_function(FIRST_IS, arg="horse.png", timeout=30_000)
    page.fill("#q", "cat")
    page.press("#q", "Enter")
    page.wait_for_function(FIRST_IS, arg="chelsea.png", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#mapping').textContent.includes('cat')")
    _release(held)
    page.wait_for_timeout(1500)
    mapping = page.locator("#mapping").inner_text()
    assert "horse" not in mapping, mapping

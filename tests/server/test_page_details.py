"""Smaller things people hit on the page (headless Chromium): titles, the re-rank method kept by the URL,
recent searches, a bad link, a wrong token asked again, the favicon.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

FIRST = "document.querySelector('#results .hit .name')"


def test_title_method_recent_searches_bad_link_favicon(serve, browser) -> None:
    base = serve()
    page = browser.new_page()
    similar_calls: list[str] = []
    page.on("request", lambda r: similar_calls.append(r.url) if "/api/similar/" in r.url else None)
    page.goto(base + "/?similar=abc")
    page.wait_for_function("document.querySelector('#error').textContent.includes('positive whole number')")
    page.wait_for_timeout(300)
    assert similar_calls == []  # no request with NaN

    page.goto(base + "/")
    for words in ("cat", "horse"):
        page.fill("#q", words)
        page.press("#q", "Enter")
        page.wait_for_function(f"document.title.includes('{words}')")
        page.wait_for_function(f"document.querySelector('#status').textContent.includes('{words}')")
        assert words in page.title() and "mmir" in page.title()
    page.goto(base + "/")
    assert page.eval_on_selector_all("#recent option", "options => options.map((o) => o.value)")[:2] == ["horse", "cat"]

    found = page.evaluate("fetch('/api/search?q=cat&k=24').then(r => r.json())")
    hits = found["hits"] if isinstance(found, dict) else found
    pos = hits[0]["media_id"]
    page.goto(f"{base}/?q=cat&mode=and&fb=rocchio&pos={pos}&neg=")
    page.wait_for_selector("#results .hit")
    assert page.input_value("#method") == "rocchio"  # the re-rank method survives a reload

    for icon in ("/favicon.ico", "/favicon.svg"):
        assert page.request.get(base + icon).status == 200


def test_a_wrong_token_is_asked_again(serve, browser) -> None:
    base = serve(token="s3cret")
    page = browser.new_page()
    page.goto(base + "/?q=cat")
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token", "wrong")
    page.press("#token", "Enter")
    page.wait_for_function("document.querySelector('#token-problem').textContent.includes('not accepted')")
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token", "s3cret")
    page.press("#token", "Enter")
    page.wait_for_function(f"{FIRST} && {FIRST}.textContent.endsWith('chelsea.png')", timeout=30_000)
    assert page.locator("#error").inner_text() == ""


def test_one_tab_stop_per_card_and_keys_on_a_card(serve, browser) -> None:
    base = serve()
    page = browser.new_page()
    page.goto(base + "/?q=cat")
    page.wait_for_function("document.querySelectorAll('#results .hit').length >= 3", timeout=30_000)
    stops = page.evaluate("[...document.querySelectorAll('#results button, #results a, #results [tabindex]')]"
                          ".filter((n) => n.tabIndex >= 0).length")  # fmt: skip
    assert stops == 1  # was 4 per card
    page.focus("#q")
    for _ in range(12):  # Tab from the search box reaches the first card, then leaves the list
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('#results')"):
            break
    first = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert first is not None and first.startswith("open ")
    page.keyboard.press("ArrowRight")
    second = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert second != first and second.startswith("open ")
    page.keyboard.press("r")
    name = second.removeprefix("open ")
    assert page.get_attribute(f"#results .hit:has-text('{name}') .mark-good", "aria-pressed") == "true"
    page.keyboard.press("Tab")  # one Tab leaves the results (no stops on the other cards or their buttons)
    assert not page.evaluate("!!document.activeElement.closest('#results')")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == second  # back where it was
    page.keyboard.press("s")
    page.wait_for_url("**similar=**")


def test_an_oversize_image_is_refused_before_sending(serve, browser, tmp_path, photo_dir, jpeg) -> None:
    base = serve(max_upload_bytes=20_000)
    page = browser.new_page()
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" and "/api/search/image" in r.url else None)
    page.goto(base + "/")
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg(photo_dir / "coffee.png", (1200, 900)))
    assert big.stat().st_size > 20_000
    page.set_input_files("#image", str(big))
    page.wait_for_function("document.querySelector('#error').textContent.includes('takes images up to')")
    assert "MB" in page.inner_text("#error") and "bytes" not in page.inner_text("#error")
    assert uploads == []

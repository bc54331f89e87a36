"""The web UI in headless Chromium (Debian ``chromium`` driven by Playwright; never ``playwright install``).

Screenshots of each step are saved under the test's tmp dir (``tmp_path / "screens"``) as artefacts.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def serve(collection_dir: Path, request: pytest.FixtureRequest) -> Callable[..., str]:
    """``serve(**settings)``: a real uvicorn server over ``collection_dir`` in a thread; returns its base URL."""
    import uvicorn

    from mmir.server import ServerSettings, create_app

    def start(**settings: object) -> str:
        port = _free_port()
        app = create_app(ServerSettings(collection=collection_dir, **settings))  # type: ignore[arg-type]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()

        def stop() -> None:
            server.should_exit = True
            thread.join(10)

        request.addfinalizer(stop)
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    return start


@pytest.fixture()
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/install_system_deps.sh (Debian package chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra's playwright package is missing")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def screens(tmp_path: Path) -> Path:
    folder = tmp_path / "screens"
    folder.mkdir()
    return folder


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
    assert page.evaluate("document.querySelector('#viewer img').naturalWidth") > 0
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

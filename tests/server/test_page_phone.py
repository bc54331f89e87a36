"""The page on a phone (390 and 360 px wide) in headless Chromium.

Found when tried at 390 px: the large view was 402 px wide and clipped, the first result started at y = 477 of
844, and 83 of 107 controls were under 44 px.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

SMALL_TARGETS = """() => {
  const small = [];
  for (const node of document.querySelectorAll('button, select, input, a[href], [tabindex="0"]')) {
    const box = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    if (!box.width || !box.height || style.visibility === 'hidden' || node.closest('[hidden]')) continue;
    if (node.closest('dialog:not([open])') || box.right < 0 || box.bottom < 0) continue;  // not on screen
    if (node.type === 'checkbox' || node.type === 'file') continue;  // their 44 px labels are the targets
    const name = node.id || node.textContent.trim().slice(0, 20);
    if (box.height < 44 || box.width < 44) small.push(`${node.tagName} ${name} ${box.width}x${box.height}`);
  }
  return small;
}"""

OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


@pytest.mark.parametrize("size", [(390, 844), (360, 740)])
def test_phone_layout_results_first_screen_big_targets_viewer_fits(serve, browser, screens, size) -> None:
    width, height = size
    base = serve()
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(base + "/?q=cat")
    page.wait_for_selector("#results .hit img")
    assert page.evaluate(OVERFLOW) <= 0
    first = page.locator("#results .hit").first.bounding_box()
    assert first is not None and first["y"] < height * 0.5, first  # the first result starts in the first screen
    assert page.evaluate(SMALL_TARGETS) == []
    page.screenshot(path=screens / f"phone-{width}.png")

    page.locator("#results .hit .open").first.click()
    page.wait_for_selector("#viewer[open]")
    page.wait_for_function("(document.querySelector('#viewer img') || {}).naturalWidth > 0")
    box = page.locator("#viewer").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert page.evaluate("(d => d.scrollWidth - d.clientWidth)(document.querySelector('#viewer'))") <= 0
    assert page.evaluate(OVERFLOW) <= 0
    image = page.locator("#viewer img").bounding_box()
    assert image is not None and image["x"] >= 0 and image["x"] + image["width"] <= width, image
    assert page.evaluate(SMALL_TARGETS) == []
    page.screenshot(path=screens / f"phone-{width}-viewer.png")

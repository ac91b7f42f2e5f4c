"""The claim page's layout at a phone's width (390 x 844) and a desktop's
(1280 x 800): nothing scrolls sideways or sticks out, the button is whole on the
first screen, and text stands out from its background (WCAG contrast of 4.5 or more,
computed from the styles Chromium applied)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from makegood.web.words import words_for
from tests.browser.conftest import DESKTOP, PHONE, Site

SIZES = {"phone": PHONE, "desktop": DESKTOP}
TEXT = [
    ".brand .name",
    ".eyebrow",
    "h1",
    ".lede",
    ".label",
    ".amount",
    ".facts li",
    ".deadline strong",
    ".note",
    ".call",
    "a",
    ".foot p",
    "button",
]

# Each computed colour with the first opaque background behind it.
COLOURS = """
(selectors) => {
  const rgba = (value) => {
    const n = value.match(/[\\d.]+/g).map(Number);
    return [n[0], n[1], n[2], n.length > 3 ? n[3] : 1];
  };
  const behind = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const colour = rgba(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) return colour;
    }
    return [255, 255, 255, 1];
  };
  const found = [];
  for (const selector of selectors) {
    for (const element of document.querySelectorAll(selector)) {
      if (!element.textContent.trim()) continue;
      found.push({
        selector,
        text: element.textContent.trim().slice(0, 40),
        color: rgba(getComputedStyle(element).color),
        background: behind(element),
      });
    }
  }
  return found;
}
"""

# Elements whose box reaches past the right edge of the window.
STICKING_OUT = """
() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map((e) => e.tagName + "." + e.className)
"""


def luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(color: list[float], background: list[float]) -> float:
    alpha = color[3]
    shown = [alpha * c + (1 - alpha) * b for c, b in zip(color[:3], background[:3], strict=True)]
    light, dark = sorted((luminance(shown), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def low_contrast(page: Page) -> list[str]:
    found: list[dict[str, Any]] = page.evaluate(COLOURS, TEXT)
    assert found, "no text found on the page"
    return [
        f"{f['selector']} {f['text']!r}: {contrast(f['color'], f['background']):.2f}"
        for f in found
        if contrast(f["color"], f["background"]) < 4.5
    ]


def offer(site: Site, page: Page, locale: str | None = None) -> int:
    link = site.take(locale)
    response = page.goto(site.url(link))
    assert response is not None
    return response.status


def claimed(site: Site, page: Page) -> int:
    link = site.take()
    page.goto(site.url(link))
    with page.expect_response(lambda r: "claimed=1" in r.url) as answered:
        page.get_by_role("button").click()
    return answered.value.status


def expired(site: Site, page: Page) -> int:
    link = site.take()
    expires = site.offer(link).expires_at
    assert expires is not None
    site.clock.instant = expires + timedelta(hours=1)
    response = page.goto(site.url(link))
    assert response is not None
    return response.status


def unknown(site: Site, page: Page) -> int:
    response = page.goto(f"{site.base}/claim/never-issued")
    assert response is not None
    return response.status


STATES: dict[str, tuple[Callable[[Site, Page], int], int]] = {
    "offer": (offer, 200),
    "offer-de-DE": (lambda site, page: offer(site, page, "de-DE"), 200),
    "offer-ja-JP": (lambda site, page: offer(site, page, "ja-JP"), 200),
    "done": (claimed, 200),
    "expired": (expired, 410),
    "unknown": (unknown, 404),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("state", STATES)
def test_the_page_fits_and_reads_well(site: Site, page: Page, state: str, size: str):
    viewport = SIZES[size]
    page.set_viewport_size(viewport)
    complaints: list[str] = []  # CSP refusals, failed loads, script errors
    page.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
    reach, status = STATES[state]
    assert reach(site, page) == status

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"scrolls sideways: {width}px in {viewport['width']}px"
    assert page.evaluate(STICKING_OUT) == []
    body_size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert body_size >= 16

    buttons = page.get_by_role("button")
    if state.startswith("offer"):
        expect(buttons).to_have_count(1)
        box = buttons.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
        assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (
            f"the button is not whole on the first screen: {box}"
        )
        assert box["height"] >= 44  # a comfortable target for a thumb
        on_top = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('button') !== null",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert on_top, "something covers the button"
        lang = page.locator("html").get_attribute("lang") or ""
        expect(buttons).to_have_accessible_name(words_for(lang)["button"])
    else:
        expect(buttons).to_have_count(0)

    assert low_contrast(page) == []
    assert [c for c in complaints if "status of 4" not in c] == []  # 404/410 are expected


@pytest.mark.parametrize("state", ["offer", "done", "expired"])
def test_dark_mode_keeps_the_contrast(site: Site, browser: Browser, state: str):
    context = browser.new_context(viewport=PHONE, locale="en-US", color_scheme="dark")
    try:
        page = context.new_page()
        reach, status = STATES[state]
        assert reach(site, page) == status
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background != "rgb(245, 242, 237)", "the dark scheme did not apply"
        assert low_contrast(page) == []
    finally:
        context.close()

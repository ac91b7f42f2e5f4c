"""A full-page screenshot of an HTML incident report, as Chromium draws it.

    .venv/bin/makegood report 2 --html report.html
    .venv/bin/python docs/screenshots/render_report.py report.html report.png

The report is a single self-contained file, so it is opened straight from disk with
the network cut off: if anything in it tried to fetch from elsewhere, the page would
show the gap. Width 1280 by default (``--width``; 390 for a phone); the height is
the whole page.

Needs Debian's chromium at /usr/bin/chromium (or CHROMIUM=/path/to/chrome).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from playwright.sync_api import Route, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def render(html: Path, png: Path, width: int = 1280, scale: float = 1.0) -> list[str]:
    """Write ``png`` from ``html``; the URLs the page tried to fetch (none, for a good
    report)."""
    blocked: list[str] = []

    def refuse(route: Route) -> None:
        blocked.append(route.request.url)
        route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        context = browser.new_context(
            viewport={"width": width, "height": 900},
            device_scale_factor=scale,
            java_script_enabled=False,
            locale="en-US",
        )
        context.route(lambda url: not url.startswith("file:"), refuse)
        page = context.new_page()
        page.goto(html.resolve().as_uri())
        page.screenshot(path=str(png), full_page=True)
        browser.close()
    return blocked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the report, from makegood report --html")
    parser.add_argument("png", type=Path, nargs="?", help="where to write (default: beside it)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels")
    parser.add_argument("--scale", type=float, default=1.0, help="device pixel ratio")
    args = parser.parse_args()
    png = args.png or args.html.with_suffix(".png")
    blocked = render(args.html, png, args.width, args.scale)
    if blocked:
        raise SystemExit(f"{args.html} tried to fetch: {', '.join(blocked)}")
    print(png)


if __name__ == "__main__":
    main()

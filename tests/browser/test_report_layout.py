"""The HTML report's retention card as Chromium draws it at a phone's width and a
desktop's, in DejaVu Sans (a wide font of the report's own font stack, the one many
Linux desktops end on): every label of its charts lies inside its chart (the page
clips anything beyond), and the difference's interval is stated whole on a line of
its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser

from makegood.incidents.models import Incident
from makegood.reports.html import render
from makegood.reports.retention import Group, Retention
from makegood.reports.rules import newcombe, signed, verdict
from makegood.reports.service import Claims, IncidentReport
from tests.browser.conftest import DESKTOP, PHONE

START = datetime(2008, 3, 24, 9, tzinfo=UTC)
# (active, customers) for the apologised-to group, then the held-out group: a gain and
# a loss with two-digit intervals, on groups large enough for long counts.
GROUPS = {
    "gain": ((1_172_839, 1_234_567), (168, 200)),
    "loss": ((987_654, 1_234_567), (182, 200)),
}
WIDE_FONT = '* { font-family: "DejaVu Sans" !important; }'

# Each chart text whose box reaches past its own chart's box, by more than a rounding.
OUTSIDE = """
(section) => {
  const found = [];
  for (const svg of section.querySelectorAll("svg")) {
    const box = svg.getBoundingClientRect();
    for (const text of svg.querySelectorAll("text")) {
      const r = text.getBoundingClientRect();
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5) {
        found.push({text: text.textContent, left: r.left, right: r.right,
                    chartLeft: box.left, chartRight: box.right});
      }
    }
  }
  return found;
}
"""


def report_with(apologised: tuple[int, int], held_out: tuple[int, int]) -> IncidentReport:
    """A report whose only figures are a measured retention difference."""
    difference = newcombe(*apologised, *held_out)
    retention = Retention(
        "measured",
        verdict(difference),
        START,
        START,
        Group(apologised[1], apologised[0]),
        Group(held_out[1], held_out[0]),
        difference,
    )
    incident = Incident(
        id=1, title="Shipping down", services=["shipping"], start_at=START, end_at=START
    )
    return IncidentReport(
        incident=incident,
        as_of=START,
        campaign=None,
        affected={"confirmed": apologised[1] + held_out[1], "possible": 0},
        excluded={},
        held_out=held_out[1],
        offers={},
        messages={},
        claims=Claims(0, 0),
        retention=retention,
    )


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("case", sorted(GROUPS))
def test_the_retention_card_shows_each_label_whole(browser: Browser, size: str, case: str):
    report = report_with(*GROUPS[case])
    d = report.retention.difference
    assert d is not None and abs(d.value) >= 0.1 and not d.includes_zero
    context = browser.new_context(
        viewport=PHONE if size == "phone" else DESKTOP, java_script_enabled=True
    )
    try:
        page = context.new_page()
        page.set_content(render(report))
        page.add_style_tag(content=WIDE_FONT)
        card = page.locator("#retention")
        assert card.locator("svg").count() == 2
        assert card.evaluate(OUTSIDE) == []
        note = card.locator(".figure-note")
        interval = f"95% interval {signed(d.low)} to {signed(d.high)} points"
        assert interval in note.inner_text().replace("\n", " ")
        # The line wraps rather than run past the card.
        assert note.evaluate("(e) => e.scrollWidth <= e.clientWidth")
        card_box, note_box = card.bounding_box(), note.bounding_box()
        assert card_box is not None and note_box is not None
        assert note_box["x"] + note_box["width"] <= card_box["x"] + card_box["width"]
    finally:
        context.close()

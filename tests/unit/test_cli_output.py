"""The CLI's Rich helpers: tables fold long values instead of cutting them, cells show
text as given, and a console off a terminal is wide enough that nothing wraps."""

from __future__ import annotations

import io

from rich.console import Console

from makegood.kits.cli import output

PATH = "/srv/makegood/data/usage/exported-from-the-warehouse/every-usage-event-of-march.parquet"


def rendered(width: int, *rows: tuple[str, ...]) -> str:
    shown = output.table("table", "path")
    for row in rows:
        shown.add_row(*map(output.literal, row))
    screen = Console(file=io.StringIO(), width=width, color_system=None)
    screen.print(shown)
    text = screen.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(text, str)
    return text


def column(text: str, index: int) -> str:
    """The cells of one column, their lines joined back together (the header's
    borders are heavy, ┃, so it is not among them)."""
    cells = [line.split("│")[index + 1].strip() for line in text.splitlines() if "│" in line]
    return "".join(cells)


def test_a_narrow_table_folds_a_long_path_and_keeps_every_character():
    text = rendered(50, ("usage_events", PATH))
    assert "…" not in text
    assert len(max(text.splitlines(), key=len)) <= 50
    assert column(text, 1) == PATH


def test_cells_are_shown_as_given_and_gaps_as_a_dash():
    text = rendered(200, ("events/[a-z]*.csv", "[bold]not markup[/bold]"), ("x", ""))
    assert "events/[a-z]*.csv" in text
    assert "[bold]not markup[/bold]" in text
    assert output.literal(None).plain == output.literal("").plain == "—"


def test_a_console_off_a_terminal_is_wide_enough_for_long_lines():
    # pytest captures standard output: it is not a terminal here.
    found = output.console()
    assert not found.is_terminal
    assert found.width == output.PIPE_WIDTH
    errors = output.console(stderr=True)
    assert errors.stderr and errors.width == output.PIPE_WIDTH

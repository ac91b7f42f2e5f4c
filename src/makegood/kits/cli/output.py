"""How the CLI prints for people: Rich consoles and tables that never cut a value.

Paths, ids, tokens, URLs and emails are meant to be copied, so a table folds a long
value onto the next line instead of ending it with "…", and a console whose output
is not a terminal (a pipe, a file, a test) is wide enough that nothing wraps at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

# Off a terminal there is no screen to fit: Rich's default of 80 columns would only
# break long lines, so allow any line a command is likely to print.
PIPE_WIDTH = 1000
NOTHING = "—"


def console(stderr: bool = False) -> Console:
    """A Rich console on stdout (or stderr); off a terminal, PIPE_WIDTH columns wide."""
    from rich.console import Console

    found = Console(stderr=stderr)
    if not found.is_terminal:
        found.width = PIPE_WIDTH
    return found


def table(*headers: str, **options: Any) -> Table:
    """A Rich table whose columns fold long values onto more lines, never cutting them."""
    from rich.table import Table

    found = Table(**options)
    for header in headers:
        found.add_column(header, overflow="fold")
    return found


def literal(value: object) -> Text:
    """A cell shown exactly as given, brackets included (no Rich markup); a dash for
    None or an empty string."""
    from rich.text import Text

    return Text(NOTHING if value is None or value == "" else str(value))

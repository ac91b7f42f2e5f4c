"""Help as a person reads it: every command's --help shows what its source says.

Rich markup reads ``[word]`` as a style and drops it, so a settings section named
in a docstring (``[delivery] lease_seconds``) vanished from the page unless written
``\\[delivery]``; and the root's listing kept a docstring's line breaks."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from makegood.entrypoints.cli import COMMANDS, app
from makegood.entrypoints.lazy import reflow


def commands() -> Iterator[tuple[list[str], Any]]:
    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for spec in COMMANDS:
        yield from walk(spec.load(), [spec.name])


def written(command: Any) -> str:
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    return "\n".join(texts)


def bracketed(text: str) -> set[str]:
    """Every [name] the text means to show, escaped for rich or not: what rich would
    take for a tag is [ then a letter, #, / or @."""
    return {m.group(0) for m in re.finditer(r"\[[a-z#/@][^\[\]]*\]", text.replace("\\[", "["))}


@pytest.mark.parametrize(
    ("path", "command"), list(commands()), ids=[" ".join(p) for p, _ in commands()]
)
def test_every_bracketed_name_in_a_help_is_shown(path, command):
    shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    missing = {b for b in bracketed(written(command)) if b not in shown.output}
    assert not missing, f"makegood {' '.join(path)} --help drops {sorted(missing)}"


def test_the_root_lists_each_command_on_one_line_of_its_own():
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400"})
    assert shown.exit_code == 0
    for spec in COMMANDS:
        one_line = " ".join(inspect.cleandoc(spec.help).split())
        assert one_line in " ".join(shown.output.split("│")), spec.name


@pytest.mark.parametrize(
    ("path", "command"), list(commands()), ids=[" ".join(p) for p, _ in commands()]
)
def test_each_paragraph_is_wrapped_by_the_terminal_not_the_source(path, command):
    """A paragraph shows as one line on a terminal wide enough for it: the source's
    line breaks would otherwise break lines again mid-sentence on a narrow one."""
    shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "3000"})
    lines = [line.strip(" │") for line in shown.output.splitlines()]
    for paragraph in inspect.cleandoc(command.help or "").split("\n\n"):
        if "\\[" in paragraph or "\n" in reflow(paragraph):
            continue  # escapes show differently; lists and columns keep their lines
        assert " ".join(paragraph.split()) in lines, paragraph


def test_reflow_joins_paragraphs_and_keeps_lists():
    text = "One line\nand its rest.\n\nA list:\n- first\n- second\n\n    indented\n    kept"
    assert reflow(text) == "One line and its rest.\n\nA list:\n- first\n- second\n\n" + (
        "    indented\n    kept"
    )
    columns = "usage_events: customer_id,occurred_at\nshipments:    customer_id,order_id"
    assert reflow(columns) == columns

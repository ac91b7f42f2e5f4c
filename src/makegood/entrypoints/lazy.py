"""A Typer group that lists its commands without importing them.

Importing every domain's CLI module up front, and through them SQLAlchemy, the
settings and Babel, cost over a second before any command could run. The group below
knows each command's name, where it lives and its one-line help: that is enough for
``makegood --help``. A command's module is imported only once the command line names
it (to run it, show its own help or complete its arguments).
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click.core import Command
    from typer._click.core import Context as ClickContext


@dataclass(frozen=True)
class LazyCommand:
    """A command or group of the root: its name, ``module:attribute`` and its help as
    the root lists it (the first paragraph of the command's own help, exactly)."""

    name: str
    target: str
    help: str

    def load(self) -> Command:
        """Import the module and build the command as ``add_typer``/``command`` would."""
        module, _, attribute = self.target.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        # A throwaway Typer with Typer's defaults, the same ones the root has, so the
        # command comes out exactly as if it had been registered on the root itself.
        holder = typer.Typer()
        if isinstance(found, typer.Typer):
            holder.add_typer(found, name=self.name)
        else:
            holder.command(self.name)(found)
        command = typer.main.get_group(holder).commands[self.name]
        _reflow_all(command)
        return command


def reflow(text: str) -> str:
    """A docstring's paragraphs each as one line, for the terminal to wrap: rich
    markup keeps the source's line breaks, which a terminal narrower than the source
    then breaks again mid-sentence. Lists, indented blocks and lines aligned in
    columns keep their lines."""
    out = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        kept = LIST_ITEM.match(lines[0]) or any(
            line[:1].isspace() or LIST_ITEM.match(line) or "  " in line.strip() for line in lines
        )
        out.append(paragraph if kept else " ".join(lines))
    return "\n\n".join(out)


LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s")


def _reflow_all(command: Command) -> None:
    if command.help:
        command.help = reflow(inspect.cleandoc(command.help))
    for sub in getattr(command, "commands", {}).values():
        _reflow_all(sub)


class Placeholder(TyperCommand):
    """Stands in for a command in its parent's help until the command is needed."""

    def __init__(self, spec: LazyCommand) -> None:
        # One line in the listing: rich markup keeps the docstring's line breaks.
        super().__init__(spec.name, help=" ".join(spec.help.split()))
        self.spec = spec


class LazyGroup(TyperGroup):
    """A TyperGroup whose ``lazy_commands`` are imported only when resolved.

    Subclass it and set ``lazy_commands``; the root help lists them in that order,
    after any command registered on the Typer app the usual way.
    """

    lazy_commands: ClassVar[tuple[LazyCommand, ...]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for spec in self.lazy_commands:
            # Kept in self.commands so that listing, completion and "did you mean"
            # suggestions see every name, as they would with eager registration.
            self.commands.setdefault(spec.name, Placeholder(spec))

    def resolve_command(
        self, ctx: ClickContext, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        """Find the command the command line names, importing it on first use."""
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and isinstance(command, Placeholder):
            command = self.commands[name] = command.spec.load()
        return name, command, rest

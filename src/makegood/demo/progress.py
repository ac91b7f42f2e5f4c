"""One progress bar per step of the demo, and how long each step took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

Advance = Callable[[int], None]


class Steps:
    """Progress bars on ``console`` (none when ``console`` is None or not a terminal);
    ``seconds`` keeps every step's duration either way."""

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/green]"),
            TextColumn("{task.description}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=console is None or not console.is_terminal,
        )
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> Steps:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    @contextmanager
    def step(self, label: str, total: int | None = None) -> Iterator[Advance]:
        """A bar for one step; the block advances it by what it has done."""
        task = self.progress.add_task(label, total=total)

        def advance(n: int = 1) -> None:
            self.progress.advance(task, n)

        started = time.perf_counter()
        yield advance
        self.seconds[label] = round(time.perf_counter() - started, 2)
        done = self.progress.tasks[task].completed if total else 1
        self.progress.update(task, total=max(done, 1), completed=max(done, 1))

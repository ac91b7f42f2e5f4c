"""What the demo prints at the end: per incident, what makegood found, gave and had
claimed, counted from this run's records; then where to look next."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console

from makegood.core.money import format_major
from makegood.demo.scenario import US_EASTERN
from makegood.demo.walkthrough import DemoResult
from makegood.kits.cli.output import table

# The figures the generator's ground truth must match exactly.
CHECKED = ("confirmed", "possible", "excluded", "held_out", "credited", "claimed", "late_refused")
ROWS = (
    "outage (US Eastern)",
    "affected",
    "excluded",
    "held out (control)",
    "apologies",
    "time to apology",
    "credited",
    "claimed",
    "late claims refused",
    "credits",
    "retention, 2 months on",
    "ground truth",
    "report",
)


def _n(value: int) -> str:
    return f"{value:,}"


def _eastern(iso: str, fmt: str = "%a %d %b %H:%M") -> str:
    return datetime.fromisoformat(iso).astimezone(US_EASTERN).strftime(fmt)


def _duration(minutes: int | None) -> str:
    if minutes is None:
        return "—"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def _percent(fraction: str | None) -> str:
    return "—" if fraction is None else f"{Decimal(fraction) * 100:.1f}%"


def _path(path: str) -> str:
    """A path as short as it can be said from here."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def matches_truth(incident: dict[str, Any]) -> bool:
    return all(incident[k] == incident["truth"][k] for k in CHECKED)


def _retention(found: dict[str, Any] | None) -> str:
    if not found or found.get("state") != "measured":
        return "—"
    stayed, held = found["apologised"]["share"], found["held_out"]["share"]
    return f"{_percent(stayed)} stayed\nvs {_percent(held)} held out"


def _column(inc: dict[str, Any]) -> list[str]:
    claim = inc["offered"] > 0
    affected = f"{_n(inc['confirmed'])} confirmed"
    if inc["possible"]:
        affected = f"{_n(inc['affected'])}: {affected},\n{_n(inc['possible'])} possible"
    credits = "\n".join(
        f"{Decimal(format_major(minor, currency)):,} {currency}"
        for currency, minor in sorted(inc["credits_minor"].items())
    )
    return [
        f"{_eastern(inc['start'])}–{_eastern(inc['end'], '%H:%M')}",
        affected,
        f"{_n(inc['excluded'])} cancelled accounts",
        _n(inc["held_out"]),
        f"{_n(inc['sent'])} emails, {_eastern(inc['sent_at'])}",
        _duration(inc["minutes_to_apology"]) + " after",
        f"{_n(inc['credited'])} " + ("on request" if claim else "automatically"),
        f"{_n(inc['claimed'])} of {_n(inc['offered'])} links\n({_percent(inc['claim_rate'])})"
        if claim
        else "—",
        f"{_n(inc['late_refused'])} (410, no credit)" if claim else "—",
        credits or "—",
        _retention(inc.get("retention")),
        "[green]✓ matches[/green]" if matches_truth(inc) else "[red]✗ differs[/red]",
        Path(inc["report"]).name if inc.get("report") else f"makegood report {inc['id']}",
    ]


def show(
    out: Console, r: DemoResult, seconds: float, console: dict[str, str] | None = None
) -> None:
    out.print(
        f"\n[bold]March 2008, replayed[/bold] for {_n(r.customers)} generated customers "
        f"(seed {r.seed}, {r.holdout}% held out)\n"
    )
    titles = (f"{inc['id']} · {inc['title']}" for inc in r.incidents)
    shown = table("", *titles, header_style="bold")
    columns = [_column(inc) for inc in r.incidents]
    for n, row in enumerate(ROWS):
        shown.add_row(row, *(c[n] for c in columns), end_section=row in ("time to apology",))
    out.print(shown)
    _notes(out, r)
    _where(out, r, console)
    out.print(f"\nDone in {seconds:.0f} s.")


def _notes(out: Console, r: DemoResult) -> None:
    c = r.claims
    out.print(
        f"Claim pages over HTTP: {_n(c.get('visitors', 0))} customers opened their link; "
        f"{_n(c.get('claimed', 0))} claimed in time; {_n(c.get('late_refused', 0))} came back "
        "after the deadline and were refused."
    )
    odd = {k: v for k, v in c.items() if k not in ("visitors", "late", "claimed", "late_refused")}
    if odd:
        out.print(f"[red]Unexpected answers from the claim pages: {odd}[/red]")
    for inc in r.incidents:
        found = inc.get("retention") or {}
        if found.get("message"):
            out.print(f"Retention, incident {inc['id']}: {found['message']}")
    if not all(matches_truth(inc) for inc in r.incidents):
        out.print(
            "[red]Some figures differ from what the generator did: see truth in --json.[/red]"
        )


def _where(out: Console, r: DemoResult, console: dict[str, str] | None) -> None:
    out.print("\n[bold]Where to look[/bold]")
    reports = [inc["report"] for inc in r.incidents if inc.get("report")]
    if reports:
        out.print("  reports   " + ", ".join(_path(p) for p in reports))
    else:
        out.print(f"  reports   makegood --database {r.database_url} report 1 (and 2)")
    out.print(
        f"  mailbox   {_path(r.mail['directory'])}/: {_n(r.mail['received'])} letters as .eml, "
        "listed in index.jsonl"
    )
    out.print(
        f"  billing   {_path(r.billing['path'])}: {_n(r.billing['exported'])} credits exported"
    )
    if console:
        out.print(
            f"  console   {console['url']}  user [bold]{console['username']}[/bold], password "
            f"[bold]{console['password']}[/bold] (an approver; shown only now)"
        )
        out.print(
            f"            its mailbox at {console['url']}/mailbox, the API at {console['api']}"
        )
    else:
        out.print("  console   `makegood demo --serve` runs the demo and keeps the console open")
        out.print(
            f"  claims    the letters' links ({r.base_url}/claim/...) answer while "
            f"`makegood demo --serve` runs: it listens on {r.base_url}"
        )
    out.print(f"  database  {_command()} --database {r.database_url} campaigns show 2")
    if _command() != "makegood":
        out.print(
            "            (from the makegood checkout; `make install-tool` there gives you a "
            "`makegood` command for any directory)"
        )


def _command() -> str:
    """How this user can run makegood: the command itself when it is on their PATH,
    else through uv from the checkout."""
    own = Path(sys.prefix, "bin").resolve()  # `uv run` puts the checkout's venv first
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != own
    )
    return "makegood" if shutil.which("makegood", path=path) else "uv run makegood"

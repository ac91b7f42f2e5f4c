from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from makegood.core.clock import parse_instant
from makegood.core.errors import InvalidInputError
from makegood.entrypoints.context import app_context
from makegood.entrypoints.errors import reports_errors
from makegood.incidents.service import (
    Declaration,
    declare,
    get,
    impact_counts,
    list_incidents,
    resolve,
    snapshot,
)

app = typer.Typer(help="Incidents: what failed, when, for which services.", no_args_is_help=True)


def instant_option(text: str, option: str) -> datetime:
    try:
        return parse_instant(text, option)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


@app.command("declare")
@reports_errors
def declare_(
    ctx: typer.Context,
    service: Annotated[
        list[str], typer.Option(help="Affected service, lowercase (repeat for several).")
    ],
    start: Annotated[
        str,
        typer.Option(help="When it began: ISO-8601 with offset, e.g. 2026-03-02T06:00:00-05:00."),
    ],
    title: Annotated[str, typer.Option(help="A short internal title.")],
    end: Annotated[
        str | None, typer.Option(help="When it ended (omit while it is still going on).")
    ] = None,
    summary: Annotated[str, typer.Option(help="What happened, in words a customer can read.")] = "",
    summary_for: Annotated[
        list[str] | None,
        typer.Option(
            "--summary-for",
            help="The summary in another language, as LOCALE=TEXT (repeatable), e.g. "
            "--summary-for 'de-DE=Unser Versandsystem war ausgefallen.' Letters use the "
            "reader's locale, then language, then --summary.",
        ),
    ] = None,
    cause: Annotated[
        str | None, typer.Option(help="Cause category, e.g. third_party or planned.")
    ] = None,
    severity: Annotated[str, typer.Option(help="minor, major or critical.")] = "major",
    region: Annotated[
        list[str] | None, typer.Option(help="Limit to usage from this region (repeatable).")
    ] = None,
    device: Annotated[
        list[str] | None, typer.Option(help="Limit to usage from this device (repeatable).")
    ] = None,
    source_ref: Annotated[
        str | None, typer.Option(help="Reference in the source system (ticket, alert).")
    ] = None,
) -> None:
    """Declare an incident over [start, end). Prints {"id": ...} with --json."""
    app = app_context(ctx)
    declaration = Declaration(
        services=service,
        start=instant_option(start, "--start"),
        end=None if end is None else instant_option(end, "--end"),
        title=title,
        summary=summary,
        summaries=_translations(summary_for or []),
        cause=cause,
        severity=severity,
        regions=tuple(region or ()),
        devices=tuple(device or ()),
        source_ref=source_ref,
    )
    with app.uow() as uow:
        incident = declare(uow.session, declaration, app.now(), app.actor)
        uow.commit()
        data = snapshot(incident)
    app.emit(data, lambda: app.out.print(f"Declared incident {data['id']}: {data['title']}"))


@app.command("resolve")
@reports_errors
def resolve_(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    end: Annotated[str | None, typer.Option(help="When it ended; defaults to now.")] = None,
) -> None:
    """Mark an incident as over, setting the end of its window."""
    app = app_context(ctx)
    end_at = app.now() if end is None else instant_option(end, "--end")
    with app.uow() as uow:
        incident = resolve(uow.session, incident_id, end_at, app.now(), app.actor)
        uow.commit()
        data = snapshot(incident)
    app.emit(data, lambda: app.out.print(f"Incident {incident_id} resolved, ended {data['end']}"))


@app.command("list")
@reports_errors
def list_(ctx: typer.Context) -> None:
    """All incidents, newest first."""
    app = app_context(ctx)
    with app.uow() as uow:
        rows = [snapshot(i) for i in list_incidents(uow.session)]

    def human() -> None:
        table = Table("id", "title", "services", "start (UTC)", "end (UTC)", "cause")
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["title"],
                ", ".join(r["services"]),
                r["start"],
                r["end"] or "ongoing",
                r["cause"] or "",
            )
        app.out.print(table)

    app.emit({"incidents": rows}, human)


@app.command("show")
@reports_errors
def show(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    top: Annotated[int, typer.Option(help="How many impacts to list.")] = 10,
) -> None:
    """One incident with its impact counts and its first impacts."""
    from makegood.impact.service import impacts_for

    app = app_context(ctx)
    with app.uow() as uow:
        data = snapshot(get(uow.session, incident_id))
        data["impacts"] = impact_counts(uow.session, incident_id)
        data["sample"] = [
            {
                "customer_id": i.customer_id,
                "confidence": i.confidence,
                "magnitude": i.magnitude,
                "rule": i.rule,
            }
            for i in impacts_for(uow.session, incident_id, limit=top)
        ]

    def human() -> None:
        app.out.print(f"[bold]Incident {data['id']}[/bold]: {data['title']}")
        for key in ("services", "start", "end", "severity", "cause", "summary"):
            value = data[key]
            app.out.print(f"  {key}: {', '.join(value) if isinstance(value, list) else value}")
        counts = data["impacts"]
        app.out.print(f"  impacts: {counts['confirmed']} confirmed, {counts['possible']} possible")
        if data["sample"]:
            table = Table("customer", "confidence", "magnitude", "rule")
            for s in data["sample"]:
                table.add_row(s["customer_id"], s["confidence"], str(s["magnitude"]), s["rule"])
            app.out.print(table)

    app.emit(data, human)


def _translations(items: list[str]) -> dict[str, str]:
    found = {}
    for item in items:
        tag, sep, text = item.partition("=")
        if not sep:
            raise InvalidInputError(f"--summary-for {item!r}: expected LOCALE=TEXT, e.g. de-DE=...")
        found[tag.strip()] = text
    return found

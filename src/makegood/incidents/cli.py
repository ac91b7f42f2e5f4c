from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from makegood.core.clock import parse_instant
from makegood.core.errors import InvalidInputError
from makegood.incidents.service import (
    Declaration,
    declare,
    get,
    list_incidents,
    read_summaries,
    resolve,
    snapshot,
    write_summaries,
)
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors
from makegood.kits.cli.output import NOTHING, literal, table

app = typer.Typer(help="Incidents: what failed, when, for which services.", no_args_is_help=True)


def instant_option(text: str, option: str) -> datetime:
    try:
        return parse_instant(text, option)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


_DeclareSummaryForOption = Annotated[
    list[str] | None,
    typer.Option(
        "--summary-for",
        help="The summary in another language, as LOCALE=TEXT (repeatable), e.g. "
        "--summary-for 'de-DE=Unser Versandsystem war ausgefallen.' Letters use the "
        "reader's locale, then language, then --summary.",
    ),
]
_DeclareSummariesOption = Annotated[
    Path | None,
    typer.Option(
        "--summaries",
        help="Summaries in many languages at once: a TOML or JSON file of "
        'LOCALE = "text" (e.g. de-DE, ja, es-MX).',
    ),
]


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
    summary_for: _DeclareSummaryForOption = None,
    summaries: _DeclareSummariesOption = None,
    notes: Annotated[str, typer.Option(help="Notes for engineers; never shown to customers.")] = "",
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
        summaries=_summaries_given(summary_for, summaries),
        notes=notes,
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
    _say_languages(app, data)


@app.command("summarize")
@reports_errors
def summarize_(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    summary: Annotated[
        str | None,
        typer.Option(help="What happened, for customers, in the company's default language."),
    ] = None,
    summary_for: Annotated[
        list[str] | None,
        typer.Option("--summary-for", help="The summary in a language, as LOCALE=TEXT (repeat)."),
    ] = None,
    summaries: Annotated[
        Path | None,
        typer.Option("--summaries", help='A TOML or JSON file of LOCALE = "text".'),
    ] = None,
) -> None:
    """Write the summary customers read (in one language or many); letters not yet
    sent use it. An incident from monitoring has none until a person writes it."""
    app = app_context(ctx)
    with app.uow() as uow:
        incident = write_summaries(
            uow.session,
            incident_id,
            summary,
            _summaries_given(summary_for, summaries),
            app.now(),
            app.actor,
        )
        uow.commit()
        data = snapshot(incident)
    app.emit(data, lambda: app.out.print(f"Incident {incident_id}: summary written"))
    _say_languages(app, data)


def _summaries_given(pairs: list[str] | None, path: Path | None) -> dict[str, str]:
    given = read_summaries(path) if path is not None else {}
    return {**given, **_translations(pairs or [])}


def _say_languages(app: Any, data: dict[str, Any]) -> None:
    """Tell the person which languages have a summary; the rest get a made sentence."""
    if app.json:
        return
    default = app.settings.company.default_locale
    written = sorted(data["summaries"]) + ([f"{default} (--summary)"] if data["summary"] else [])
    app.err.print(
        "Summary for customers written in: "
        + (", ".join(written) if written else "no language")
        + ". Letters in any other language say what failed in a sentence makegood writes "
        "for that language from the services and times; `makegood campaigns plan` counts them."
    )


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


@app.command("amend")
@reports_errors
def amend_(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    start: Annotated[str | None, typer.Option(help="The corrected start (ISO-8601).")] = None,
    end: Annotated[str | None, typer.Option(help="The corrected end (ISO-8601).")] = None,
    service: Annotated[
        list[str] | None,
        typer.Option(help="The affected services, all of them (repeatable; replaces the list)."),
    ] = None,
    cause: Annotated[
        str | None, typer.Option(help="The corrected cause, e.g. third_party; 'none' for none.")
    ] = None,
) -> None:
    """Correct an incident after the fact: its window, services or cause.

    Audited with the before and after. Then `makegood impact run ID` finds the difference
    (newly affected, no longer affected, changed magnitude), even after a campaign
    went out, and `makegood campaigns plan ID` makes a follow-up campaign for it:
    offers for the newly affected, top-ups for larger harm, and for customers no
    longer owed a credit what the policy's \\[corrections] says (keep, close_unclaimed
    or reverse). Prints the amendment as JSON with --json."""
    from makegood.incidents.amend import Changes, amend

    app = app_context(ctx)
    changes = Changes(
        start=None if start is None else instant_option(start, "--start"),
        end=None if end is None else instant_option(end, "--end"),
        services=None if service is None else tuple(service),
        cause=cause,
    )
    with app.uow() as uow:
        amendment = amend(uow.session, incident_id, changes, app.now(), app.actor)
        uow.commit()
        data: dict[str, Any] = {
            "incident_id": incident_id,
            "amendment_id": amendment.id,
            "before": dict(amendment.before),
            "after": dict(amendment.after),
        }

    def human() -> None:
        app.out.print(f"Incident {incident_id} amended (amendment {data['amendment_id']}):")
        for key, value in data["after"].items():
            was = _shown(key, data["before"][key])
            app.out.print(f"  {key}: {was} -> {_shown(key, value)}", markup=False)
        app.out.print(
            f"Next: makegood impact run {incident_id} finds who this changes.", markup=False
        )

    app.emit(data, human)


@app.command("list")
@reports_errors
def list_(ctx: typer.Context) -> None:
    """All incidents, newest first."""
    app = app_context(ctx)
    with app.uow() as uow:
        rows = [snapshot(i) for i in list_incidents(uow.session)]

    def human() -> None:
        shown = table("id", "title", "services", "start (UTC)", "end (UTC)", "cause")
        for r in rows:
            shown.add_row(
                *map(
                    literal,
                    (
                        r["id"],
                        r["title"],
                        ", ".join(r["services"]),
                        r["start"],
                        r["end"] or "ongoing",
                        r["cause"],
                    ),
                )
            )
        app.out.print(shown)

    app.emit({"incidents": rows}, human)


@app.command("show")
@reports_errors
def show(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    top: Annotated[int, typer.Option(help="How many impacts to list.")] = 10,
) -> None:
    """One incident with its impact counts and its first impacts."""
    from makegood.incidents.ports import IMPACT_FIGURES

    app = app_context(ctx)
    figures = app.root.port(IMPACT_FIGURES)
    with app.uow() as uow:
        data = snapshot(get(uow.session, incident_id))
        data["impacts"] = figures.counts(uow.session, [incident_id])[incident_id]
        data["sample"] = figures.sample(uow.session, incident_id, top)

    def human() -> None:
        from rich.markup import escape

        app.out.print(f"[bold]Incident {data['id']}[/bold]: {escape(data['title'])}")
        for key in ("services", "start", "end", "severity", "cause", "summary"):
            app.out.print(f"  {key}: {_shown(key, data[key])}", markup=False)
        counts = data["impacts"]
        app.out.print(f"  impacts: {counts['confirmed']} confirmed, {counts['possible']} possible")
        if data["sample"]:
            shown = table("customer", "confidence", "magnitude", "rule")
            for s in data["sample"]:
                shown.add_row(
                    *map(literal, (s["customer_id"], s["confidence"], s["magnitude"], s["rule"]))
                )
            app.out.print(shown)
        every = counts["confirmed"] + counts["possible"]
        if every > len(data["sample"]):
            app.out.print(
                f"  … and {every - len(data['sample'])} more: "
                f"makegood incidents show {incident_id} --top {every} lists them all",
                markup=False,
            )

    app.emit(data, human)


def _shown(key: str, value: object) -> str:
    """A field of ``incidents show`` for people: lists joined, gaps as a dash."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or NOTHING
    if value is None or value == "":
        return "ongoing" if key == "end" else NOTHING
    return str(value)


def _translations(items: list[str]) -> dict[str, str]:
    found = {}
    for item in items:
        tag, sep, text = item.partition("=")
        if not sep:
            raise InvalidInputError(f"--summary-for {item!r}: expected LOCALE=TEXT, e.g. de-DE=...")
        found[tag.strip()] = text
    return found

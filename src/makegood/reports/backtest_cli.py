"""`makegood policy backtest`: what a policy would have cost over past incidents."""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from makegood.core.errors import InvalidInputError
from makegood.kits.cli.context import AppContext, app_context
from makegood.kits.cli.errors import reports_errors

app = typer.Typer(
    help="Policies: try one on past incidents before adopting it.", no_args_is_help=True
)


@app.command("backtest")
@reports_errors
def backtest_(
    ctx: typer.Context,
    policy: Annotated[Path, typer.Option(help="The policy file (TOML) to try.")],
    incident: Annotated[
        list[int] | None, typer.Option(help="An incident to replay (repeat); default: all.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only incidents that started at or after this instant.")
    ] = None,
    against: Annotated[
        Path | None, typer.Option(help="A second policy, shown beside the first.")
    ] = None,
    changes: Annotated[
        Path | None,
        typer.Option(help="Write the customers whose remedy differs (with --against) as CSV."),
    ] = None,
    holdout: Annotated[str, typer.Option(help="Percent held out, as in campaigns plan.")] = "0",
) -> None:
    """Decide every stored impact of past incidents under a policy, writing nothing.

    Per incident: offers by mode, excluded, held out and totals per currency — the
    figures `campaigns plan` would give — beside what was actually granted and
    claimed, and the expected cost of the claim offers from the claim rates seen so
    far (with a 95% interval). --against shows a second policy beside the first;
    --changes writes the customers whose remedy would differ.
    """
    from makegood.core.clock import parse_instant
    from makegood.policy.schema import load_policy
    from makegood.reports import backtest as bt

    app_ = app_context(ctx)
    if changes is not None and against is None:
        raise InvalidInputError("--changes: needs --against, the policy to compare with")
    try:
        percent = Decimal(holdout)
    except InvalidOperation:
        raise InvalidInputError(f"--holdout: {holdout!r} is not a number") from None
    first = load_policy(policy)
    second = load_policy(against) if against is not None else None
    start = parse_instant(since, "--since") if since else None
    with app_.uow() as uow:
        chosen = bt.incidents_for(uow.session, incident, start)
        missing = sorted(set(incident or ()) - {i.id for i in chosen})
        if missing:
            raise InvalidInputError(f"--incident: no incident {', '.join(map(str, missing))}")
        now = app_.now()
        data = _figures(bt.backtest(uow.session, first, chosen, now, percent))
        if second is not None:
            data["against"] = _figures(bt.backtest(uow.session, second, chosen, now, percent))
            if changes is not None:
                written = _write(changes, bt.changes(uow.session, first, second, chosen, now))
                data["changes"] = {"file": str(changes), "customers": written}
        # Nothing is committed: the unit of work rolls back whatever was not.
    app_.emit(data, lambda: _show(app_, data))


def _figures(found: list[Any]) -> dict[str, Any]:
    from makegood.reports.backtest import money_text

    totals: Counter[str] = Counter()
    rows = []
    for one in found:
        totals.update(one.totals)
        rows.append(
            {
                "incident_id": one.incident_id,
                "title": one.title,
                "offers": one.offers,
                "automatic": one.automatic,
                "claim": one.claim,
                "excluded": sum(one.excluded.values()),
                "excluded_by_reason": dict(sorted(one.excluded.items())),
                "held_out": one.held_out,
                "totals": money_text(one.totals),
                "claim_totals": money_text(one.claim_totals),
                "expected_claims": {
                    c: {
                        "expected": money_text(Counter({c: mid}))[c],
                        "low": money_text(Counter({c: low}))[c],
                        "high": money_text(Counter({c: high}))[c],
                    }
                    for c, (mid, low, high) in sorted(one.expected.items())
                },
                "actual": {kind: money_text(by) for kind, by in one.actual.items()},
            }
        )
    return {"incidents": rows, "totals": money_text(totals)}


def _write(path: Path, rows: Any) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["incident_id", "customer_id", "policy", "against"])
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _show(app_: AppContext, data: dict[str, Any]) -> None:
    out = app_.out
    for label, figures in (("policy", data), ("against", data.get("against"))):
        if figures is None:
            continue
        if label == "against":
            out.print("[bold]--against[/bold]")
        for row in figures["incidents"]:
            totals = ", ".join(f"{a} {c}" for c, a in row["totals"].items()) or "nothing"
            out.print(
                f"incident {row['incident_id']} ({row['title']}): {row['offers']} offers "
                f"({row['automatic']} automatic, {row['claim']} claim), {row['excluded']} "
                f"excluded, {row['held_out']} held out; {totals}",
                markup=False,
            )
            for currency, e in row["expected_claims"].items():
                out.print(
                    f"  claims likely to cost {e['expected']} {currency} "
                    f"(95%: {e['low']} to {e['high']})",
                    markup=False,
                )
            done = [f"{k} {a} {c}" for k, by in row["actual"].items() for c, a in by.items()]
            out.print(f"  actually: {', '.join(done) or 'nothing credited'}", markup=False)
        all_totals = ", ".join(f"{a} {c}" for c, a in figures["totals"].items()) or "nothing"
        out.print(f"in all: {all_totals}", markup=False)
    if "changes" in data:
        out.print(
            f"{data['changes']['customers']} customers' remedy differs; "
            f"listed in {data['changes']['file']}",
            markup=False,
        )

"""`makegood policy backtest`: what a policy would have cost over past incidents."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from makegood.core.errors import InvalidInputError
from makegood.kits.cli.context import AppContext, app_context
from makegood.kits.cli.errors import reports_errors

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from makegood.policy.schema import Policy
    from makegood.reports.backtest import ClaimRates, Rate

PLACES = Decimal("0.0001")
# The rate each claim offer was expected at, as the text output names it (BASES).
RATED_AT = {
    "channel_locale": "their channel and locale's rate",
    "locale": "their locale's rate",
    "overall": "the overall rate",
}

app = typer.Typer(
    help="Policies: try one on past incidents before adopting it.", no_args_is_help=True
)


@app.command("backtest")
@reports_errors
def backtest_(
    ctx: typer.Context,
    policy: Annotated[Path, typer.Option(help="The policy file (TOML) to try.")],
    incident: Annotated[
        list[int] | None,
        typer.Option(help="An incident to replay (repeat); default: every one with impacts."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only incidents that started at or after this instant; with --incident, "
            "only those of the named incidents that did."
        ),
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
    far by channel and locale (with a 95% interval). --incident and --since together
    replay the named incidents that started since. --against shows a second policy
    beside the first; --changes writes the customers whose remedy would differ.
    """
    from makegood.core.clock import parse_instant
    from makegood.policy.schema import load_policy

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
        data = _replay(uow.session, (first, second), incident, start, app_.now(), percent, changes)
        # Nothing is committed: the unit of work rolls back whatever was not.
    app_.emit(data, lambda: _show(app_, data))


def _replay(
    session: Session,
    policies: tuple[Policy, Policy | None],
    ids: list[int] | None,
    start: datetime | None,
    now: datetime,
    percent: Decimal,
    changes: Path | None,
) -> dict[str, Any]:
    """The figures of the policy (and of --against's) over the incidents chosen, with
    the claim rates they expected claims at; the --changes file written."""
    from makegood.reports import backtest as bt

    first, second = policies
    missing = bt.unknown(session, ids or ())
    if missing:
        raise InvalidInputError(f"--incident: no incident {', '.join(map(str, missing))}")
    chosen = bt.incidents_for(session, ids, start)
    rates = bt.claim_rates(session)
    data = _figures(bt.backtest(session, first, chosen, now, percent, rates))
    data["claim_rates"] = _rates(rates)
    if second is not None:
        data["against"] = _figures(bt.backtest(session, second, chosen, now, percent, rates))
        if changes is not None:
            written = _write(changes, bt.changes(session, first, second, chosen, now))
            data["changes"] = {"file": str(changes), "customers": written}
    return data


def _figures(found: list[Any]) -> dict[str, Any]:
    from makegood.reports.backtest import BASES, money_text

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
                "claims_rated_by": {basis: one.rated_by[basis] for basis in BASES},
                "actual": {kind: money_text(by) for kind, by in one.actual.items()},
            }
        )
    return {"incidents": rows, "totals": money_text(totals)}


def _rates(rates: ClaimRates) -> dict[str, Any]:
    """The claim rates seen so far, as --json shows them (fractions to 4 places)."""
    from makegood.reports.backtest import MIN_LINKS

    def one(rate: Rate, **key: str) -> dict[str, Any]:
        mid, low, high = (str(r.quantize(PLACES)) for r in rate.bounds())
        counts = {"issued": rate.issued, "claimed": rate.claimed}
        return {**key, **counts, "rate": mid, "low": low, "high": high}

    return {
        "min_links": MIN_LINKS,
        "by_channel_and_locale": [
            one(r, channel=c, locale=loc) for (c, loc), r in sorted(rates.groups.items())
        ],
        "by_locale": [one(r, locale=loc) for loc, r in sorted(rates.locales.items())],
        "overall": one(rates.overall),
    }


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
            if row["claim"]:
                rated = ", ".join(
                    f"{n} at {RATED_AT[basis]}" for basis, n in row["claims_rated_by"].items() if n
                )
                out.print(f"  claim offers rated: {rated}", markup=False)
            done = [f"{k} {a} {c}" for k, by in row["actual"].items() for c, a in by.items()]
            out.print(f"  actually: {', '.join(done) or 'nothing credited'}", markup=False)
        all_totals = ", ".join(f"{a} {c}" for c, a in figures["totals"].items()) or "nothing"
        out.print(f"in all: {all_totals}", markup=False)
    _show_rates(app_, data["claim_rates"])
    if "changes" in data:
        out.print(
            f"{data['changes']['customers']} customers' remedy differs; "
            f"listed in {data['changes']['file']}",
            markup=False,
        )


def _show_rates(app_: AppContext, rates: dict[str, Any]) -> None:
    """The claim rates the expected costs came from."""
    out = app_.out

    def said(r: dict[str, Any]) -> str:
        mid, low, high = (f"{Decimal(r[k]) * 100:.1f}%" for k in ("rate", "low", "high"))
        return f"{mid} of {r['issued']} links (95%: {low} to {high})"

    if not rates["overall"]["issued"]:
        out.print("claim rates: no claim link issued yet", markup=False)
        return
    out.print(
        f"claim rates so far (a group's own from {rates['min_links']} links; "
        "else its locale's, else overall):",
        markup=False,
    )
    for r in rates["by_channel_and_locale"]:
        out.print(f"  {r['channel']} {r['locale']}: {said(r)}", markup=False)
    for r in rates["by_locale"]:
        out.print(f"  {r['locale']}: {said(r)}", markup=False)
    out.print(f"  overall: {said(rates['overall'])}", markup=False)

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from makegood.core.errors import InvalidInputError
from makegood.core.words import counted
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors
from makegood.kits.cli.output import literal, table

app = typer.Typer(
    help="Campaigns: the remedy plan for an incident, approved, then executed.",
    no_args_is_help=True,
)
PREVIEW_KEYS = ("offers", "automatic", "claim", "excluded", "held_out", "totals")


def _show_preview(app_: Any, data: dict[str, Any]) -> None:
    out = app_.out
    out.print(
        f"[bold]Campaign {data['id']}[/bold] for incident {data['incident']} "
        f"({data['status']}; policy {data['policy']['name']} v{data['policy']['version']})"
    )
    out.print(
        f"  offers: {data['offers']} ({data['automatic']} automatic, {data['claim']} claim); "
        f"held out: {data['held_out']}; excluded: {data['excluded']}"
    )
    for reason, n in data.get("excluded_by_reason", {}).items():
        out.print(f"    excluded {reason}: {n}")
    for currency, total in data["totals"].items():
        budget = data.get("budget", {}).get(currency)
        out.print(f"  total {currency}: {total}" + (f" (budget {budget})" if budget else ""))
    if data.get("over_budget"):
        out.print("  [yellow]over budget: two different approvers are needed[/yellow]")
    if data.get("round"):
        _show_follow_up(out, data)
    for row in data.get("letters", []):
        note = (
            "no summary in this language: makegood's own sentence"
            if row["summary"] == "generated"
            else "summary written for it"
        )
        out.print(f"  letters in {row['locale']}: {row['customers']} ({note})")
    channels = data.get("channels") or {}
    if channels.get("sms"):
        out.print(f"  by email: {channels.get('email', 0)}; by SMS: {channels['sms']}")
    for row in data.get("sms_lengths", []):
        out.print(
            f"    {row['kind']} text in {row['locale']}: {row['segments']} segment(s), "
            f"{row['characters']} {row['encoding']} characters"
        )
    if data.get("opted_out"):
        out.print(f"  opted out of email: {data['opted_out']} (credited as planned; no email)")
    if data.get("largest"):
        shown = table("customer", "amount", title="largest credits, per currency")
        for row in data["largest"]:
            shown.add_row(literal(row["customer_id"]), f"{row['amount']} {row['currency']}")
        out.print(shown)


def _show_follow_up(out: Any, data: dict[str, Any]) -> None:
    """What a follow-up campaign (after an amendment) adds to a plan."""
    fresh = data["offers"] - data["top_ups"]
    out.print(
        f"  follow-up (round {data['round']}): {fresh} newly owed an offer, with a letter; "
        f"{data['top_ups']} top-ups of a credit already given, without a letter"
    )
    for reason, n in data.get("already_covered", {}).items():
        out.print(f"    no change for {n} ({reason.replace('_', ' ')})")
    c = data["corrections"]
    out.print(
        f"  earlier offers no longer owed: {c['keep']} kept, {c['close']} claim links to "
        f"close, {c['reverse']} credits to reverse"
    )
    for currency, total in data.get("reversal_totals", {}).items():
        out.print(f"    reversed {currency}: {total}")


@app.command("plan")
@reports_errors
def plan_(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident id.")],
    policy: Annotated[Path, typer.Option(help="The policy file (TOML).")],
    holdout: Annotated[
        str,
        typer.Option(
            help="Percent of offers held out as a control group (deterministic by customer)."
        ),
    ] = "0",
) -> None:
    """Decide what each impacted customer is owed and store a draft campaign.

    Prints the preview: offers by mode, exclusions by reason, held out, totals per
    currency, the ten largest credits. Planning again replaces the draft.

    After campaigns were executed, planning again is refused unless the incident was
    amended (`makegood incidents amend`) and its impacts run again: then it makes a
    follow-up campaign (round 1, 2, ...) with offers for the newly affected, top-ups
    where the policy now owes more, and the policy's \\[corrections] for customers no
    longer owed a credit.
    """
    from makegood.campaigns.planning import plan
    from makegood.campaigns.preview import check_templates
    from makegood.campaigns.service import summary
    from makegood.messaging.rendering import Renderer
    from makegood.policy.schema import load_policy

    app_ = app_context(ctx)
    try:
        percent = Decimal(holdout)
    except InvalidOperation:
        raise InvalidInputError(f"--holdout: {holdout!r} is not a number") from None
    rules = load_policy(policy)
    with app_.uow() as uow:
        campaign = plan(uow.session, incident_id, rules, percent, app_.now(), app_.actor)
        # A template that fails for any locale in the campaign fails the plan: no
        # draft is stored that could not be sent.
        check_templates(
            uow.session,
            campaign,
            Renderer(app_.settings.templates_dir),
            app_.settings.company,
            app_.settings.base_url,
            app_.now(),
        )
        uow.commit()
        data = summary(uow.session, campaign)
    app_.emit({k: data[k] for k in ("id", *PREVIEW_KEYS)} | data, lambda: _show_preview(app_, data))


@app.command("approve")
@reports_errors
def approve_(
    ctx: typer.Context,
    campaign_id: Annotated[int, typer.Argument(help="The campaign id.")],
    by: Annotated[str, typer.Option(help="Who approves (recorded in the audit log).")],
) -> None:
    """Approve a draft. Over the policy's budget, two different approvers are needed."""
    from makegood.campaigns.service import approve, summary

    app_ = app_context(ctx)
    with app_.uow() as uow:
        campaign = approve(uow.session, campaign_id, by, app_.now())
        uow.commit()
        data = summary(uow.session, campaign)
    app_.emit(
        {
            "id": data["id"],
            "status": data["status"],
            "approvers": data["approvers"],
            "approvals_needed": data["approvals_needed"],
        },
        lambda: app_.out.print(
            f"Campaign {campaign_id} is {data['status']} "
            f"(approved by {', '.join(data['approvers'])})."
        ),
    )


@app.command("cancel")
@reports_errors
def cancel_(
    ctx: typer.Context, campaign_id: Annotated[int, typer.Argument(help="The campaign id.")]
) -> None:
    """Cancel a draft or approved campaign; nothing of it can be executed afterwards."""
    from makegood.campaigns.service import cancel

    app_ = app_context(ctx)
    with app_.uow() as uow:
        campaign = cancel(uow.session, campaign_id, app_.now(), app_.actor)
        uow.commit()
    app_.emit(
        {"id": campaign.id, "status": campaign.status},
        lambda: app_.out.print(f"Campaign {campaign_id} cancelled."),
    )


@app.command("execute")
@reports_errors
def execute_(
    ctx: typer.Context,
    campaign_id: Annotated[int, typer.Argument(help="The campaign id.")],
    chunk_size: Annotated[int, typer.Option(min=1, help="Offers per transaction.")] = 25_000,
) -> None:
    """Grant automatic credits, issue claim links and queue one message per offer.

    Safe to run again, or after a crash: each chunk commits whole, and a second run
    adds nothing. Needs MAKEGOOD_SECRET_KEY when the campaign has claim offers.
    """
    from makegood.campaigns.execution import execute
    from makegood.campaigns.service import get, offer_counts
    from makegood.db.retry import retrying

    app_ = app_context(ctx)

    def planned() -> int:
        with app_.uow() as uow:
            get(uow.session, campaign_id)
            return offer_counts(uow.session, campaign_id).get("planned", 0)

    # Like every chunk, the count for the progress bar rides out a database restart.
    pending = retrying(planned)
    with Progress(
        TextColumn("executing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=app_.err,
        disable=app_.json or not app_.err.is_terminal,
    ) as progress:
        task = progress.add_task("offers", total=pending)
        result = execute(
            app_.engine,
            campaign_id,
            app_.now(),
            app_.actor,
            app_.settings.secret_key.get_secret_value(),
            chunk_size,
            lambda n: progress.update(task, advance=n),
        )
    corrected = (
        f" Corrected {counted(result.corrected, 'earlier offer')}." if result.corrected else ""
    )
    counts = {"granted": result.granted, "offered": result.offered, "messages": result.messages}
    if result.corrected:  # a follow-up's corrections; the first campaign's output stays as it was
        counts["corrected"] = result.corrected
    app_.emit(
        counts,
        lambda: app_.out.print(
            f"Granted {counted(result.granted, 'credit')}, offered "
            f"{counted(result.offered, 'claim')}, queued {counted(result.messages, 'message')}."
            + corrected
        ),
    )
    _warn_generated(app_, campaign_id)


def _warn_generated(app_: Any, campaign_id: int) -> None:
    """Say, before anything is sent, which letters carry no summary a person wrote.

    Only words for a person, after the work is done and reported: with --json nothing
    is looked up, and a database gone for a moment is waited for."""
    from makegood.campaigns.preview import languages
    from makegood.campaigns.service import get
    from makegood.db.retry import retrying
    from makegood.messaging.rendering import Renderer

    if app_.json:
        return

    def look() -> tuple[dict[str, Any], int]:
        with app_.uow() as uow:
            campaign = get(uow.session, campaign_id)
            found = languages(
                uow.session, campaign, Renderer(app_.settings.templates_dir), app_.settings.company
            )
            return found, campaign.incident_id

    found, incident_id = retrying(look)
    if found["generated_summaries"]:
        listed = ", ".join(f"{tag} ({n})" for tag, n in found["generated_summaries"].items())
        app_.err.print(
            f"[yellow]No summary is written for letters in {listed}[/yellow]: they say what "
            "failed in makegood's own sentence for their language. `makegood incidents "
            f"summarize {incident_id} --summary-for LOCALE=TEXT` before `makegood send` "
            "changes that."
        )


@app.command("show")
@reports_errors
def show(
    ctx: typer.Context, campaign_id: Annotated[int, typer.Argument(help="The campaign id.")]
) -> None:
    """A campaign's preview, approvals and offers by status."""
    from makegood.campaigns.service import get, summary

    app_ = app_context(ctx)
    with app_.uow() as uow:
        data = summary(uow.session, get(uow.session, campaign_id))

    def human() -> None:
        _show_preview(app_, data)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(data["offers_by_status"].items()))
        app_.out.print(f"  offers by status: {counts}")

    app_.emit(data, human)


@app.command("preview")
@reports_errors
def preview_(
    ctx: typer.Context,
    campaign_id: Annotated[int, typer.Argument(help="The campaign id.")],
    customer: Annotated[
        str | None,
        typer.Option(help="Whose letter to show (default: the campaign's first offer)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the email to this .eml file instead of printing it."),
    ] = None,
) -> None:
    """Show the exact email a customer gets from this campaign, headers and all.

    Works on drafts too. The claim link shows a placeholder in place of the
    customer's token: real tokens are never printed.
    """
    from makegood.campaigns.preview import preview
    from makegood.campaigns.service import get
    from makegood.messaging.rendering import Renderer

    app_ = app_context(ctx)
    with app_.uow() as uow:
        campaign = get(uow.session, campaign_id)
        offer, letter, mail = preview(
            uow.session,
            campaign,
            Renderer(app_.settings.templates_dir),
            app_.settings.company,
            app_.settings.base_url,
            app_.now(),
            customer,
        )
    if out is not None:
        out.write_bytes(mail.raw)
    headers = mail.readable_headers()
    data = {
        "campaign": campaign_id,
        "customer_id": offer.customer_id,
        "locale": letter.locale,
        "headers": headers,
        "subject": letter.subject,
        "text": letter.text,
        "html": letter.html,
        "file": str(out) if out else None,
    }

    def human() -> None:
        if out is not None:
            app_.out.print(f"Wrote the email for {offer.customer_id} to {out}")
        else:
            for key, value in headers.items():
                app_.out.print(f"{key}: {value}", markup=False, highlight=False)
            app_.out.print("")
            app_.out.print(letter.text, markup=False, highlight=False)

    app_.emit(data, human)

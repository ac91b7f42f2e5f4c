from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from makegood.core.errors import ConflictError, MakegoodError, NotFoundError
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors

if TYPE_CHECKING:
    from makegood.credits.service import ClaimOutcome

app = typer.Typer(help="Credits: the ledger of what customers were given.", no_args_is_help=True)


@app.command("void")
@reports_errors
def void_(
    ctx: typer.Context,
    offer_id: Annotated[int, typer.Argument(help="The offer id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger and the audit log).")],
) -> None:
    """Void an offer; a credit already granted or claimed gets a reversal entry."""
    from makegood.credits.service import void

    app_ = app_context(ctx)
    with app_.uow() as uow:
        offer = void(uow.session, offer_id, reason, app_.now(), app_.actor)
        uow.commit()
    app_.emit(
        {"offer": offer.id, "status": offer.status},
        lambda: app_.out.print(f"Offer {offer_id} voided."),
    )


@app.command("claim")
@reports_errors
def claim_(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="The token from a claim link.")],
) -> None:
    """Claim an offer by its token, as the claim page does (for support and testing).

    An unknown token, or an offer already claimed, voided or expired, is refused
    (exit status 1) and nothing changes.
    """
    from makegood.credits.service import claim

    app_ = app_context(ctx)
    with app_.uow() as uow:
        outcome = claim(uow.session, token, app_.now(), app_.actor)
        if outcome.status != "claimed":
            raise _refusal(outcome)
        uow.commit()
    data = {
        "status": outcome.status,
        "offer": outcome.offer_id,
        "claimed_at": outcome.claimed_at.isoformat() if outcome.claimed_at else None,
    }
    app_.emit(
        data,
        lambda: app_.out.print(
            f"{outcome.status}" + (f" (at {data['claimed_at']})" if data["claimed_at"] else "")
        ),
    )


def _refusal(outcome: ClaimOutcome) -> MakegoodError:
    """Why a claim changed nothing, as the error the command exits with."""
    offer = f"TOKEN: offer {outcome.offer_id}"
    if outcome.status == "already_claimed":
        when = outcome.claimed_at.isoformat() if outcome.claimed_at else "earlier"
        return ConflictError(f"{offer} was already claimed ({when}); nothing changed")
    if outcome.status == "voided":
        return ConflictError(f"{offer} was voided; it can no longer be claimed")
    if outcome.status == "expired":
        until = outcome.expires_at.isoformat() if outcome.expires_at else "earlier"
        return ConflictError(f"{offer} expired ({until}); it can no longer be claimed")
    return NotFoundError("TOKEN: no claim link has this token")


@app.command("balance")
@reports_errors
def balance_(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer id.")],
) -> None:
    """A customer's credit balance per currency (the sum of their ledger entries)."""
    from makegood.core.money import format_major
    from makegood.credits.service import balance
    from makegood.customers.models import Customer

    app_ = app_context(ctx)
    with app_.uow() as uow:
        sums = balance(uow.session, customer_id)
        if not sums and uow.session.get(Customer, customer_id) is None:
            raise NotFoundError(f"CUSTOMER_ID: customer {customer_id!r} does not exist")
    amounts = {c: format_major(m, c) for c, m in sorted(sums.items())}
    app_.emit(
        {"customer_id": customer_id, "balance": amounts},
        lambda: app_.out.print(", ".join(f"{v} {c}" for c, v in amounts.items()) or "no credits"),
    )

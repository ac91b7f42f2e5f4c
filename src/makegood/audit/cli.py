"""`makegood audit`: the audit log, newest last."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors


@reports_errors
def audit(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(help="Only entries at or after this instant (ISO-8601 with offset)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, the most recent.")] = 50,
    actor: Annotated[str | None, typer.Option(help="Only this actor's entries.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. campaign.approved.")
    ] = None,
) -> None:
    """Who did what to which object, when, with the state before and after.

    Prints {"entries": [...]} with --json, oldest first.
    """
    from makegood.audit.service import entries_query
    from makegood.core.clock import parse_instant
    from makegood.core.errors import InvalidInputError

    app_ = app_context(ctx)
    try:
        after = None if since is None else parse_instant(since, "--since")
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    query = entries_query(since=after, actor=actor, action=action).limit(limit)
    with app_.uow() as uow:
        rows: list[dict[str, Any]] = [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "before": e.before,
                "after": e.after,
            }
            for e in reversed(uow.session.scalars(query).all())
        ]

    def human() -> None:
        # One line per entry, so a narrow terminal wraps states, not the columns.
        for r in rows:
            change = " -> ".join(part for part in (_brief(r["before"]), _brief(r["after"])) if part)
            app_.out.print(
                f"{r['id']}  {r['at']}  {r['actor']}  {r['action']}  "
                f"{r['object_type']} {r['object_id']}" + (f"  {change}" if change else ""),
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if not rows:
            app_.out.print("No audit entries.")

    app_.emit({"entries": rows}, human)


def _brief(state: dict[str, Any] | None) -> str:
    if not state:
        return ""
    return ", ".join(f"{k}={v}" for k, v in state.items())

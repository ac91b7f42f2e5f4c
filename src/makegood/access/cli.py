from __future__ import annotations

from typing import Annotated

import typer

from makegood.access.rules import KEY_ROLES
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors

app = typer.Typer(
    help="API keys for the HTTP API: each acts for one owner under one role.",
    no_args_is_help=True,
)


@app.command("create")
@reports_errors
def create(
    ctx: typer.Context,
    role: Annotated[
        str,
        typer.Option(
            help=f"One of: {', '.join(KEY_ROLES)} (claims: only lists and claims a "
            "customer's open offers, for your own signed-in site)."
        ),
    ],
    owner: Annotated[
        str | None,
        typer.Option(help="Who the key acts for (default: you). Approvals count owners."),
    ] = None,
) -> None:
    """Make a key and print it once; only its hash is kept, so store it now."""
    from makegood.access.service import create_key

    app_ = app_context(ctx)
    with app_.uow() as uow:
        key, secret = create_key(uow.session, owner or app_.actor, role, app_.now(), app_.actor)
        uow.commit()
    app_.emit(
        {"id": key.id, "owner": key.owner, "role": key.role, "key": secret},
        lambda: app_.out.print(
            f"Key {key.id} for {key.owner} ({key.role}):\n{secret}\n"
            "Shown once: send it as 'Authorization: Bearer <key>'.",
            highlight=False,
        ),
    )


@app.command("list")
@reports_errors
def list_(ctx: typer.Context) -> None:
    """Every key: owner, role, when made, last used, revoked."""
    from makegood.access.service import list_keys

    app_ = app_context(ctx)
    with app_.uow() as uow:
        keys = list_keys(uow.session)
        rows = [
            {
                "id": k.id,
                "owner": k.owner,
                "role": k.role,
                "prefix": k.prefix,
                "created_at": k.created_at.isoformat(),
                "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in keys
        ]

    def human() -> None:
        from makegood.kits.cli.output import literal, table

        shown = table("id", "owner", "role", "prefix", "created", "last used", "revoked")
        for r in rows:
            shown.add_row(
                *(
                    literal(r[c])
                    for c in (
                        "id",
                        "owner",
                        "role",
                        "prefix",
                        "created_at",
                        "last_used_at",
                        "revoked_at",
                    )
                )
            )
        app_.out.print(shown)

    app_.emit({"keys": rows}, human)


@app.command("revoke")
@reports_errors
def revoke_(
    ctx: typer.Context,
    key_id: Annotated[int, typer.Argument(help="The key's id (from `keys list`).")],
) -> None:
    """Revoke a key at once; requests with it are refused from now on."""
    from makegood.access.service import revoke

    app_ = app_context(ctx)
    with app_.uow() as uow:
        key = revoke(uow.session, key_id, app_.now(), app_.actor)
        uow.commit()
    app_.emit(
        {"id": key.id, "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None},
        lambda: app_.out.print(f"Key {key.id} revoked."),
    )

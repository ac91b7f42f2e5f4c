from __future__ import annotations

import sys
from typing import Annotated

import typer

from makegood.access.rules import ROLES
from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors

app = typer.Typer(
    help="People who sign in to the console (`makegood serve`).", no_args_is_help=True
)


@app.command("add")
@reports_errors
def add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Lower-case login name, e.g. 'dana'.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option(help="Full name shown in the console.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a console user; asks for the password twice unless --password-stdin."""
    from makegood.console.users import add_user

    app_ = app_context(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with app_.uow() as uow:
        user = add_user(uow.session, username, role, password, app_.now(), app_.actor, name)
        uow.commit()
    app_.emit(
        {"id": user.id, "username": user.username, "role": user.role},
        lambda: app_.out.print(f"User {user.username} ({user.role}) added."),
    )


@app.command("list")
@reports_errors
def list_(ctx: typer.Context) -> None:
    """Every console user with role, last sign-in and whether disabled."""
    from makegood.console.users import list_users

    app_ = app_context(ctx)
    with app_.uow() as uow:
        rows = [
            {
                "username": u.username,
                "name": u.display_name,
                "role": u.role,
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                "disabled_at": u.disabled_at.isoformat() if u.disabled_at else None,
            }
            for u in list_users(uow.session)
        ]

    def human() -> None:
        from makegood.kits.cli.output import literal, table

        shown = table("username", "name", "role", "last sign-in", "disabled")
        for r in rows:
            shown.add_row(*(literal(r[k]) for k in r))
        app_.out.print(shown)

    app_.emit({"users": rows}, human)


@app.command("disable")
@reports_errors
def disable_(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user to lock out.")],
) -> None:
    """Lock a user out at once; their open sessions stop working too."""
    from makegood.console.users import disable

    app_ = app_context(ctx)
    with app_.uow() as uow:
        user = disable(uow.session, username, app_.now(), app_.actor)
        uow.commit()
    app_.emit(
        {"username": user.username, "disabled": True},
        lambda: app_.out.print(f"User {user.username} disabled."),
    )

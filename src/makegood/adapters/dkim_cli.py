"""``makegood dkim``: a signing key and the DNS record to publish, and a check that a
signed message verifies against the record."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from makegood.kits.cli.context import app_context
from makegood.kits.cli.errors import reports_errors

app = typer.Typer(
    help="DKIM: sign every email so receivers know it is yours.", no_args_is_help=True
)


@app.command("keygen")
@reports_errors
def keygen(
    ctx: typer.Context,
    selector: Annotated[str, typer.Option(help="The selector (s=), e.g. mg2026.")],
    domain: Annotated[str, typer.Option(help="The signing domain (d=), the From's domain.")],
    out: Annotated[
        Path, typer.Option(help="Where to write the private key (PEM, mode 600).")
    ] = Path("dkim.pem"),
    algorithm: Annotated[str, typer.Option(help="rsa (2048 bits) or ed25519.")] = "rsa",
) -> None:
    """Write a new private key and print the DNS TXT record to publish.

    Publish the record at SELECTOR._domainkey.DOMAIN, then set \\[dkim] domain, selector
    and private_key_file (or MAKEGOOD_DKIM__*). Receivers that know only RSA ignore an
    ed25519 signature, so sign with RSA unless you know all of yours take ed25519.
    """
    from makegood.adapters.dkim_signing import new_key
    from makegood.core.errors import InvalidInputError

    if algorithm not in ("rsa", "ed25519"):
        raise InvalidInputError(f"--algorithm: {algorithm!r} is not rsa or ed25519")
    app_ = app_context(ctx)
    record = new_key(out, algorithm)
    name = f"{selector}._domainkey.{domain}"
    # One TXT string holds at most 255 characters: a 2048-bit key's record is split.
    quoted = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
    app_.emit(
        {"key_file": str(out), "name": name, "type": "TXT", "value": record},
        lambda: app_.out.print(
            f"Wrote {out}. Publish this TXT record:\n\n{name}. IN TXT {quoted}", markup=False
        ),
    )


@app.command("check")
@reports_errors
def check(
    ctx: typer.Context,
    record: Annotated[
        str | None,
        typer.Option(
            help="Verify against this TXT value instead of asking DNS (before publishing)."
        ),
    ] = None,
) -> None:
    """Sign a sample message with the \\[dkim] key and verify it against the published
    record (or --record): prints whether it verifies, and why not."""
    from makegood.adapters.dkim_signing import sample_verifies

    app_ = app_context(ctx)
    ok, why = sample_verifies(app_.settings, record)
    app_.emit(
        {"verified": ok, "detail": why},
        lambda: app_.out.print(("Verified: " if ok else "Not verified: ") + why, markup=False),
    )
    if not ok:
        raise typer.Exit(1)

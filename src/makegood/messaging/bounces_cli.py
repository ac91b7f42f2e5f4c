"""`makegood bounces`: read bounces and complaints from where mail systems sent them."""

from __future__ import annotations

import email
import email.policy
import mailbox
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from makegood.core.errors import InvalidInputError
from makegood.kits.cli.context import AppContext, app_context
from makegood.kits.cli.errors import reports_errors

BATCH = 200  # reports per transaction


@reports_errors
def bounces(
    ctx: typer.Context,
    maildir: Annotated[
        Path | None, typer.Option(help="Read a Maildir (its new/ and cur/ messages).")
    ] = None,
    mbox: Annotated[Path | None, typer.Option(help="Read an mbox file.")] = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Read the built-in mailbox's .eml files (default: mailbox_dir)."
        ),
    ] = None,
) -> None:
    """Read bounces and complaints that came back, and act on them.

    Reads delivery status notifications (RFC 3464), Exim and qmail bounces, and
    complaint reports (ARF, RFC 5965). Each is matched to its message by the
    token in the return path (\\[bounces] domain), else by the address.

    A hard bounce marks the message bounced and stops mail to the address. A
    complaint stops mail and opts the customer out (credits still come). A soft
    bounce is counted. Vacation replies and other mail are skipped. Reading the
    same messages again changes nothing.

    Providers' event webhooks go to POST /api/hooks/mail-events instead.
    """
    app_ = app_context(ctx)
    chosen = [given for given in (maildir, mbox, directory) if given is not None]
    if len(chosen) > 1:
        raise InvalidInputError("--maildir, --mbox and --dir: name one place to read")
    source, messages = _messages(app_, maildir, mbox, directory)
    counts = _read(app_, source, messages)
    app_.emit(dict(counts), lambda: _show(app_, counts))


def _messages(
    app_: AppContext, maildir: Path | None, mbox: Path | None, directory: Path | None
) -> tuple[str, list[bytes]]:
    if maildir is not None:
        if not (maildir / "cur").is_dir() or not (maildir / "new").is_dir():
            raise InvalidInputError(f"--maildir {maildir}: not a Maildir (no cur/ and new/)")
        box = mailbox.Maildir(maildir, factory=None, create=False)
        return "maildir", [box.get_bytes(key) for key in box.iterkeys()]
    if mbox is not None:
        if not mbox.is_file():
            raise InvalidInputError(f"--mbox {mbox}: no such file")
        found = mailbox.mbox(mbox, create=False)
        return "mbox", [found.get_bytes(key) for key in found.iterkeys()]
    where = directory or app_.settings.mailbox_dir
    if not where.is_dir():
        raise InvalidInputError(f"--dir {where}: no such directory (the mailbox_dir setting)")
    return "mailbox", [path.read_bytes() for path in sorted(where.glob("*.eml"))]


def _read(app_: AppContext, source: str, messages: list[bytes]) -> Counter[str]:
    from makegood.messaging.feedback import COUNTED, report_key, take
    from makegood.messaging.feedback_reports import from_email

    settings = app_.settings
    prefix, secret = settings.bounces.prefix, settings.secret_key.get_secret_value()
    counts: Counter[str] = Counter(dict.fromkeys(("read", *COUNTED, "not_feedback"), 0))
    with _progress(app_, len(messages)) as tick:
        for chunk in _chunks(messages):
            with app_.uow() as uow:
                for raw in chunk:
                    parsed = email.message_from_bytes(raw, policy=email.policy.default)
                    found = from_email(parsed, prefix)
                    counts["read"] += 1
                    if not found:
                        counts["not_feedback"] += 1
                    counts.update(
                        take(uow.session, found, report_key(raw), source, app_.now(), secret)
                    )
                uow.commit()
            tick(len(chunk))
    return counts


def _chunks(items: list[bytes]) -> Iterator[list[bytes]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


class _progress:
    """A bar on a terminal for long reads; nothing with --json or in a pipe."""

    def __init__(self, app_: AppContext, total: int) -> None:
        self.bar: Progress | None = None
        if not app_.json and app_.err.is_terminal and total > BATCH:
            self.bar = Progress(
                TextColumn("reading"), BarColumn(), MofNCompleteColumn(), console=app_.err
            )
            self.task = self.bar.add_task("reading", total=total)

    def __enter__(self) -> Any:
        if self.bar is not None:
            self.bar.start()
        return lambda n: self.bar.update(self.task, advance=n) if self.bar else None

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _show(app_: AppContext, counts: Counter[str]) -> None:
    app_.out.print(
        f"Read {counts['read']} messages: {counts['hard_bounce']} hard bounces, "
        f"{counts['soft_bounce']} soft bounces, {counts['complaint']} complaints; "
        f"{counts['not_feedback']} were neither (auto-replies, other mail)."
    )
    if counts["already_read"]:
        app_.out.print(f"  {counts['already_read']} outcomes were read before: nothing changed.")
    if counts["unmatched"]:
        app_.out.print(
            f"  {counts['unmatched']} named no message makegood sent; addresses were still "
            "suppressed where the report named them."
        )

"""Console: the built-in mailbox. In the embedded setup every email makegood sends
lands in ``settings.mailbox_dir``; these pages list them and show each one as its
recipient would see it, the HTML part in a sandboxed frame."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import json
import re
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from makegood.adapters.mailbox import INDEX, read_index
from makegood.console.auth import ViewerUser
from makegood.console.render import HEADERS, page
from makegood.kits.http.deps import Svc

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
# What the sink names its files: digits and ".eml", nothing else (no path, no dots).
FILE_NAME = re.compile(r"[0-9]{1,12}\.eml")
SHOWN_HEADERS = ("From", "To", "Reply-To", "Subject", "Date", "Message-ID", "Content-Language")
LINK = re.compile(r"https?://[^\s\"'<>]+")
# A claim link's token spends a customer's credit: only roles that may act for a
# customer see it; a viewer sees where the link goes, not the token.
CLAIM_TOKEN = re.compile(r"(/claim/)[A-Za-z0-9_-]+")
HIDDEN = r"\1(hidden-from-viewers)"
HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


def received(directory: Path) -> list[dict[str, Any]]:
    """What the sink received, oldest first; a line still being written is skipped."""
    try:
        return read_index(directory)
    except ValueError:
        pass
    except OSError:
        return []
    found = []
    for line in (directory / INDEX).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("file"), str):
            found.append(item)
    return found


def _matches(item: dict[str, Any], needle: str) -> bool:
    fields = (item.get("subject"), item.get("mail_from"), item.get("file"), *item["rcpt_tos"])
    return any(needle in str(f).lower() for f in fields if f)


@router.get("/console/mailbox")
def inbox(
    request: Request,
    svc: Svc,
    user: ViewerUser,
    q: str = "",
    number: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    directory = svc.settings.mailbox_dir
    items = [i for i in received(directory) if FILE_NAME.fullmatch(str(i.get("file", "")))]
    items.reverse()  # newest first
    for item in items:
        item.setdefault("rcpt_tos", [])
    total = len(items)
    needle = q.strip().lower()[:200]
    if needle:
        items = [i for i in items if _matches(i, needle)]
    pages = max(1, -(-len(items) // PER_PAGE))
    current = min(max(1, int(number) if re.fullmatch(r"[0-9]{1,9}", number) else 1), pages)
    start = (current - 1) * PER_PAGE
    return page(
        request,
        "mailbox.html",
        directory=str(directory),
        exists=(directory / INDEX).is_file(),
        items=items[start : start + PER_PAGE],
        total=total,
        matched=len(items),
        first=start + 1,
        q=q.strip()[:200],
        page_no=current,
        pages=pages,
    )


@dataclass(frozen=True)
class Shown:
    """One email as its recipient sees it."""

    headers: list[tuple[str, str]]
    everything: list[tuple[str, str]]
    html: str | None
    text: str | None
    links: list[str]
    style_hashes: list[str]


@router.get("/console/mailbox/{file}")
def message(request: Request, svc: Svc, user: ViewerUser, file: str) -> Response:
    path = _inside(svc.settings.mailbox_dir, file)
    if path is None:
        return page(
            request,
            "error.html",
            404,
            title="No such message",
            message="The mailbox has no message by that name.",
        )
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    shown = show(parsed)
    if not user.can("operator"):
        shown = _without_claim_tokens(shown)
    entry = next((i for i in received(svc.settings.mailbox_dir) if i.get("file") == file), {})
    response = page(
        request,
        "mailbox_message.html",
        file=file,
        m=shown,
        received_at=entry.get("received_at"),
        recipient=(entry.get("rcpt_tos") or [""])[0] or dict(shown.headers).get("To", ""),
    )
    # The frame's document inherits this page's policy: allow exactly the email's own
    # inline styles, by hash, and nothing else inline.
    if shown.style_hashes:
        allowed = " ".join(f"'{h}'" for h in shown.style_hashes)
        response.headers["Content-Security-Policy"] = HEADERS["Content-Security-Policy"].replace(
            "style-src 'self'", f"style-src 'self' 'unsafe-hashes' {allowed}"
        )
    return response


def _without_claim_tokens(shown: Shown) -> Shown:
    def hide(text: str) -> str:
        return CLAIM_TOKEN.sub(HIDDEN, text)

    return Shown(
        headers=[(k, hide(v)) for k, v in shown.headers],
        everything=[(k, hide(v)) for k, v in shown.everything],
        html=None if shown.html is None else hide(shown.html),
        text=None if shown.text is None else hide(shown.text),
        links=[hide(link) for link in shown.links],
        style_hashes=shown.style_hashes,
    )


def _inside(directory: Path, name: str) -> Path | None:
    """The message file ``name`` in ``directory``, or None: only names the sink makes,
    only regular files, and never anything a link or '..' leads out to."""
    if not FILE_NAME.fullmatch(name):
        return None
    try:
        root = directory.resolve(strict=True)
        path = (root / name).resolve(strict=True)
    except OSError:
        return None
    if path.parent != root or not path.is_file():
        return None
    return path


def show(parsed: EmailMessage) -> Shown:
    html_part = parsed.get_body(preferencelist=("html",))
    text_part = parsed.get_body(preferencelist=("plain",))
    html = _content(html_part)
    text = _content(text_part)
    headers = [(k, str(parsed[k])) for k in SHOWN_HEADERS if parsed[k] is not None]
    everything = [(k, str(v)) for k, v in parsed.items()]
    links = list(dict.fromkeys(LINK.findall(text or "")))
    if html is not None:
        # Links open in a new tab, as a mail client does, instead of inside the frame.
        html = HEAD.sub(lambda m: m.group(0) + '<base target="_blank">', html, count=1)
    return Shown(headers, everything, html, text, links, _style_hashes(html or ""))


def _content(part: Any) -> str | None:
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError):
        return part.get_payload(decode=True).decode("utf-8", errors="replace")  # type: ignore[no-any-return]


class _Styles(HTMLParser):
    """Collects every style attribute value and <style> element body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._body: list[str] | None = None  # inside a <style> element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.extend(v for k, v in attrs if k == "style" and v is not None)
        if tag == "style":
            self._body = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.extend(v for k, v in attrs if k == "style" and v is not None)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._body is not None:
            self.found.append("".join(self._body))
            self._body = None

    def handle_data(self, data: str) -> None:
        if self._body is not None:
            self._body.append(data)


def _style_hashes(html: str) -> list[str]:
    collector = _Styles()
    collector.feed(html)
    collector.close()
    return sorted(
        {
            "sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
            for s in collector.found
        }
    )

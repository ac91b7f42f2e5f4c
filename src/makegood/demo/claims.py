"""The customers' side of the demo: each one who means to claim reads their apology in
the mailbox, opens the link in it and confirms on the claim page, over real HTTP, at
the replayed time the generator chose for them. Some come back after the deadline,
with the page they opened in time, and are turned away.

Visits are replayed an hour of simulated time at a time: the server's clock is set
to the hour's last visit, then that hour's visits run at once on a pool of clients.
"""

from __future__ import annotations

import email
import html
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import groupby
from pathlib import Path

import httpx

from makegood.adapters.mailbox import read_index
from makegood.demo.server import MovableClock
from makegood.demo.truth import Hurt

LINK = re.compile(r"https?://[^\s\"'<>]+/claim/[A-Za-z0-9_-]+")
STEP = timedelta(hours=1)
# A few clients: one's wait overlaps another's page being served; more only queue for
# the interpreter lock the server in this process needs too.
CLIENTS = 4


@dataclass(frozen=True)
class Visit:
    customer_id: str
    link: str
    opens_at: datetime
    confirms_at: datetime
    late: bool


def claim_link(raw: bytes) -> tuple[str, datetime] | None:
    """The claim link in an apology's text and when it arrived; None for a letter
    without one. (The compat32 parser: ten times as fast as the default policy's.)"""
    message = email.message_from_bytes(raw)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                return None
            found = LINK.search(payload.decode(part.get_content_charset() or "utf-8"))
            if found is None:
                return None
            return found.group(0), parsedate_to_datetime(str(message["Date"]))
    return None


def visits(mailbox: Path, people: Iterable[Hurt]) -> list[Visit]:
    """The visits of everyone who means to claim, from the letters they received."""
    claimers = {h.email: h for h in people if h.claims}
    found = []
    for item in read_index(mailbox):
        who = next((claimers[r] for r in item["rcpt_tos"] if r in claimers), None)
        if who is None:
            continue
        letter = claim_link((mailbox / item["file"]).read_bytes())
        if letter is None:
            continue  # an automatic credit's letter: nothing to click
        link, arrived = letter
        found.append(
            Visit(
                who.customer_id,
                link,
                arrived + (who.opens_after if who.late else who.confirms_after),
                arrived + who.confirms_after,
                who.late,
            )
        )
    return found


TAG = re.compile(r"<(form|input)\b([^>]*)>", re.IGNORECASE)
ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"', re.IGNORECASE)


@dataclass(frozen=True)
class Form:
    """The claim page's form: where it posts, and its hidden fields."""

    action: str
    fields: dict[str, str]


def form_of(page: str) -> Form | None:
    """The page's POST form, as a browser would submit it; None if it has none."""
    action, fields = None, {}
    for tag, attributes in TAG.findall(page):
        a = {k.lower(): html.unescape(v) for k, v in ATTRIBUTE.findall(attributes)}
        if tag.lower() == "form" and a.get("method", "").lower() == "post":
            action = a.get("action", "")
        elif tag.lower() == "input" and a.get("type") == "hidden" and "name" in a:
            fields[a["name"]] = a.get("value", "")
    return None if action is None else Form(action, fields)


class Customers:
    """A pool of browsers, one HTTP client per thread, each keeping its connection."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._made: list[httpx.Client] = []
        self._lock = threading.Lock()
        self.forms: dict[str, Form] = {}
        self.outcomes: Counter[str] = Counter()

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=30, headers={"Accept-Language": "en"})
            self._local.client = client
            with self._lock:
                self._made.append(client)
        return client

    def _note(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def open(self, visit: Visit) -> Form | None:
        page = self._client().get(visit.link)
        if page.status_code != 200:
            self._note(f"GET {page.status_code}")
            return None
        form = form_of(page.text)
        if form is None:
            self._note("no form")
            return None
        self.forms[visit.link] = form
        return form

    def confirm(self, visit: Visit, form: Form) -> None:
        """Send the form: a claim answers 303 to its confirmation page (not fetched:
        the credit is on the ledger by then), a late one 410."""
        answer = self._client().post(httpx.URL(visit.link).join(form.action), data=form.fields)
        if answer.status_code == 303:
            self._note("claimed")
        elif answer.status_code == 410 and visit.late:
            self._note("late_refused")
        else:
            self._note(f"POST {answer.status_code}")

    def act(self, action: tuple[datetime, str, Visit]) -> None:
        _, kind, visit = action
        if kind == "claim":
            form = self.open(visit)
            if form is not None:
                self.confirm(visit, form)
        elif kind == "open":
            self.open(visit)
        else:  # "come back": the page opened in time, its form sent too late
            found = self.forms.get(visit.link)
            if found is None:
                self._note("never opened")
            else:
                self.confirm(visit, found)

    def close(self) -> None:
        for client in self._made:
            client.close()


def schedule(found: Iterable[Visit]) -> list[tuple[datetime, str, Visit]]:
    """Every page view and confirmation, in time order."""
    actions: list[tuple[datetime, str, Visit]] = []
    for v in found:
        if v.late:
            actions += [(v.opens_at, "open", v), (v.confirms_at, "come back", v)]
        else:
            actions.append((v.confirms_at, "claim", v))
    return sorted(actions, key=lambda a: (a[0], a[2].customer_id, a[1]))


def replay(
    found: list[Visit],
    clock: MovableClock,
    progress: Callable[[int], None] | None = None,
    clients: int = CLIENTS,
) -> Counter[str]:
    """Run every visit against the server that reads ``clock``; outcomes by kind."""
    actions = schedule(found)
    if not actions:
        return Counter()
    origin = actions[0][0]
    customers = Customers()
    try:
        with ThreadPoolExecutor(clients, thread_name_prefix="makegood-customer") as pool:
            for _, hour in groupby(actions, key=lambda a: (a[0] - origin) // STEP):
                batch = list(hour)
                clock.set(batch[-1][0])
                list(pool.map(customers.act, batch))
                if progress is not None:
                    progress(len(batch))
    finally:
        customers.close()
    return customers.outcomes

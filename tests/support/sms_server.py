"""A local stand-in for the part of Twilio's Messages API that makegood uses: a real HTTP
server on 127.0.0.1 (a thread of this process) that takes ``POST .../Messages.json`` and
lists what it took with ``GET``, in Twilio's shapes and with its error codes. A test
scripts faults with ``fail_next``: an HTTP status, "drop" (read the request, close without
an answer, keep nothing) or "accept-then-drop" (keep the message, then close without an
answer, so the sender cannot know it went through)."""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from makegood.messaging.sms_text import sms_length

API = "/2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
MAX_BODY = 1600
DOCS = "https://www.twilio.com/docs/errors/"
Step = int | str


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": DOCS + str(code), "status": status}


class SmsServer:
    """What the server took and what it is told to do next; safe across threads."""

    def __init__(
        self, account_sid: str, auth_token: str, landlines: Iterable[str], opted_out: Iterable[str]
    ) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.landlines, self.opted_out = set(landlines), set(opted_out)
        self.base = ""
        self._lock = threading.Lock()
        self._accepted: list[dict[str, Any]] = []
        self._posts = 0
        self._steps: deque[Step] = deque()
        # Called with each message just taken, before the answer goes out.
        self.after_store: Callable[[dict[str, Any]], None] | None = None

    def fail_next(self, *steps: Step) -> None:
        """Answer the next POSTs with these, one each: 500, 503, 429, "drop" or
        "accept-then-drop"; then behave normally again."""
        if unknown := [s for s in steps if s not in (500, 503, 429, "drop", "accept-then-drop")]:
            raise ValueError(f"unknown faults {unknown!r}")
        with self._lock:
            self._steps.extend(steps)

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """Every message taken, oldest first (copies)."""
        with self._lock:
            return [dict(m) for m in self._accepted]

    @property
    def posts(self) -> int:
        with self._lock:
            return self._posts

    def by_to(self) -> Counter[str]:
        return Counter(m["to"] for m in self.accepted)

    def _next_step(self) -> Step | None:
        with self._lock:
            self._posts += 1
            return self._steps.popleft() if self._steps else None

    def _authorised(self, header: str, sid: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:  # not base64, not UTF-8
            return False
        return (
            hmac.compare_digest(user, self.account_sid)
            and hmac.compare_digest(password, self.auth_token)
            and sid == self.account_sid
        )

    def _check(self, form: dict[str, str]) -> dict[str, Any] | None:
        """Twilio's refusal of this form, if it would refuse it."""
        to, body = form.get("To", ""), form.get("Body", "")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not E164.match(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            message = "A 'From' or 'MessagingServiceSid' parameter is required to send a message."
            return twilio_error(400, 21603, message)
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            message = "The concatenated message body exceeds the 1600 character limit."
            return twilio_error(400, 21617, message)
        if to in self.landlines:
            return twilio_error(400, 21614, "'To' number is not a valid mobile number")
        if to in self.opted_out:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        return None

    def _store(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        service = form.get("MessagingServiceSid")
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form["To"],
            "from": form.get("From"),
            "messaging_service_sid": service,
            "body": form["Body"],
            # Twilio says "accepted" while a Messaging Service has yet to pick a sender.
            "status": "accepted" if service and not form.get("From") else "queued",
            "num_segments": str(sms_length(form["Body"]).segments),
            "num_media": "0",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            **dict.fromkeys(("date_sent", "price", "error_code", "error_message")),
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "uri": f"{API}/Accounts/{self.account_sid}/Messages/{sid}.json",
            "status_callback": form.get("StatusCallback"),  # kept here, not in answers
        }
        with self._lock:
            self._accepted.append(message)
        return message

    def _page(self, query: dict[str, str], path: str) -> dict[str, Any]:
        """One page of the messages taken, newest first, of one recipient if ``To`` is given."""
        size = max(1, min(int(query.get("PageSize", "50")), 1000))
        page = max(0, int(query.get("Page", "0")))
        found = [m for m in reversed(self.accepted) if query.get("To") in (None, m["to"])]
        to = {"To": query["To"]} if "To" in query else {}

        def uri(n: int) -> str:
            return f"{path}?{urlencode({**to, 'PageSize': size, 'Page': n})}"

        return {
            "messages": [_public(m) for m in found[page * size : (page + 1) * size]],
            "page": page,
            "page_size": size,
            "uri": uri(page),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if len(found) > (page + 1) * size else None,
            "previous_page_uri": uri(page - 1) if page else None,
        }


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "status_callback"}


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    state: SmsServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes
    server: _Http

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)

    def _refusal(self) -> dict[str, Any] | None:
        """Twilio's answer to a request for an unknown path or with the wrong account."""
        path = urlsplit(self.path).path
        match = PATH.match(path)
        if match is None:
            return twilio_error(404, 20404, f"The requested resource {path} was not found")
        if not self.server.state._authorised(self.headers.get("Authorization", ""), match["sid"]):
            return twilio_error(401, 20003, "Authenticate")
        return None

    def do_GET(self) -> None:
        if refusal := self._refusal():
            self._send(refusal["status"], refusal)
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._send(200, self.server.state._page(query, url.path))

    def do_POST(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        refusal = self._refusal() or state._check(form)
        step = state._next_step()
        if step in ("drop", "accept-then-drop"):
            if step == "accept-then-drop" and refusal is None:
                state._store(form)
            self.close_connection = True  # no answer at all
        elif isinstance(step, int):
            names = {500: (20500, "Internal Server Error"), 503: (20503, "Service Unavailable")}
            code, message = names.get(step, (20429, "Too Many Requests"))
            self._send(step, twilio_error(step, code, message))
        elif refusal is not None:
            self._send(refusal["status"], refusal)
        else:
            stored = state._store(form)
            if state.after_store is not None:
                state.after_store(stored)
            self._send(201, _public(stored))


@contextmanager
def sms_server(
    account_sid: str = "AC" + "0" * 32,
    auth_token: str = "test-auth-token",
    *,
    landlines: Iterable[str] = (),
    opted_out: Iterable[str] = (),
) -> Iterator[SmsServer]:
    """A running server on a free port while the block runs; ``.base`` is its address."""
    state = SmsServer(account_sid, auth_token, landlines, opted_out)
    http = _Http(("127.0.0.1", 0), _Handler)
    http.state = state
    state.base = f"http://127.0.0.1:{http.server_address[1]}"
    thread = threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        http.shutdown()
        http.server_close()
        thread.join(5)

"""The ``twilio`` channel: each text message one ``POST
/2010-04-01/Accounts/{AccountSid}/Messages.json`` (form fields To, From or
MessagingServiceSid, Body; HTTP basic auth with the account and its auth token).

Exactly once: the Messages API takes no idempotency key, so a message tried before
(a sender killed after the provider's answer and before makegood's commit, or a
dropped connection after the provider took it) is first looked for among the
messages sent to that number; one with the same text is that message, and it is not
sent again. Answers: 200/201 sent, with the provider's SM... id; 429, 5xx and a
dropped connection retry; a refusal that says the number cannot take texts (not a
mobile, not valid, unsubscribed by STOP, unreachable) fails with the provider's code,
which puts the number on the suppression list; any other 4xx fails without it.
"""

from __future__ import annotations

from typing import Any

import httpx

from makegood.config import Settings
from makegood.core.errors import ConfigurationError
from makegood.messaging.letters import LetterFacts
from makegood.messaging.ports import Answer, Envelope

# Error codes that say the number itself will not take texts (Twilio's error list).
REFUSING_NUMBERS = frozenset(
    {
        21211,  # invalid 'To' number
        21214,  # 'To' number cannot be reached
        21408,  # no permission to send to that region
        21610,  # the recipient replied STOP
        21612,  # cannot route to this number
        21614,  # 'To' is not a mobile number
    }
)
LOOKBACK = 50  # recent messages to the number read when looking for an earlier try


class TwilioSms:
    def __init__(self, settings: Settings) -> None:
        sms = settings.sms
        missing = [
            name
            for name, value in (
                ("sms.account_sid", sms.account_sid),
                ("sms.auth_token", sms.auth_token.get_secret_value()),
                (
                    "sms.from_number or sms.messaging_service_sid",
                    sms.from_number or sms.messaging_service_sid,
                ),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"text messages are queued but {', '.join(missing)} not set "
                "(MAKEGOOD_SMS__ACCOUNT_SID, MAKEGOOD_SMS__AUTH_TOKEN, MAKEGOOD_SMS__FROM_NUMBER)"
            )
        self.url = f"{sms.api_base.rstrip('/')}/2010-04-01/Accounts/{sms.account_sid}/Messages.json"
        self.sender = (
            {"From": sms.from_number}
            if sms.from_number
            else {"MessagingServiceSid": sms.messaging_service_sid}
        )
        self.client = httpx.AsyncClient(
            auth=(sms.account_sid, sms.auth_token.get_secret_value()),
            timeout=sms.timeout_seconds,
        )

    def address(self, facts: LetterFacts) -> str:
        return facts.phone

    async def send(self, envelope: Envelope) -> Answer:
        body = envelope.letter.text
        try:
            if envelope.attempt > 1 or envelope.provider_id:
                earlier = await self._earlier(envelope.address, body)
                if earlier is not None:
                    return Answer("sent", provider_id=earlier, detail="found from an earlier try")
            answer = await self.client.post(
                self.url, data={"To": envelope.address, **self.sender, "Body": body}
            )
        except httpx.TransportError as exc:
            return Answer("retry", detail=f"no answer from the SMS provider ({type(exc).__name__})")
        return _answer(answer)

    async def _earlier(self, to: str, body: str) -> str | None:
        """The id of a message already sent to ``to`` with this text, if any."""
        listed = await self.client.get(self.url, params={"To": to, "PageSize": LOOKBACK})
        if listed.status_code != 200:
            raise httpx.TransportError(f"listing messages answered {listed.status_code}")
        for found in _json(listed).get("messages", []):
            if found.get("body") == body and found.get("status") not in ("failed", "undelivered"):
                return str(found.get("sid"))
        return None

    async def close(self) -> None:
        await self.client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _answer(response: httpx.Response) -> Answer:
    status, said = response.status_code, _json(response)
    if status in (200, 201) and said.get("sid"):
        return Answer("sent", provider_id=str(said["sid"]), code=status)
    code = said.get("code")
    detail = f"HTTP {status}" + (f" {code}" if code else "") + f": {said.get('message', '')}"
    if status in (401, 403):
        raise ConfigurationError(
            f"the SMS provider refused sms.account_sid / sms.auth_token ({detail.strip()})"
        )
    if status == 429 or status >= 500:
        return Answer("retry", code=status, detail=detail[:500])
    if isinstance(code, int) and code in REFUSING_NUMBERS:
        return Answer("failed", code=code, detail=detail[:500])
    return Answer("failed", detail=detail[:500])  # no code: the number is not suppressed


def channel(settings: Settings) -> TwilioSms:
    """The ``twilio`` entry point of ``makegood.channels``."""
    return TwilioSms(settings)

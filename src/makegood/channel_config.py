"""Settings of the channels beyond plain email: SMS through a Messages API, the
webhook channel to a company's own app, bounce handling (the VERP return path and the
event hook), and per-domain limits for SMTP. Part of ``Settings`` (makegood.config),
kept apart so each file stays readable."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_URL = re.compile(r"^https?://[^\s/]+\S*$")


def read_secret_files(cls: type[BaseModel], data: Any) -> Any:
    """Each ``X_file`` setting given: ``X`` is read from that file (its content, without
    the final newline), so secrets can come from mounted files rather than variables."""
    if not isinstance(data, dict):
        return data
    # Only the model's own X_file settings: any other key is refused as unknown, unread.
    for key in [k for k in data if k.endswith("_file") and k in cls.model_fields and data[k]]:
        secret = key.removesuffix("_file")
        path = Path(str(data[key])).expanduser()
        shown = str(path) if str(path).isprintable() else repr(str(path))
        try:
            data[secret] = path.read_text("utf-8").removesuffix("\n").removesuffix("\r")
        except OSError as exc:
            raise _unreadable(key, shown, f"cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError as exc:  # its bytes are never shown: they are the secret
            raise _unreadable(key, shown, f"is not UTF-8 text (byte {exc.start + 1})") from None
        except ValueError:  # a NUL in the name
            raise _unreadable(key, repr(str(path)), "is not a file name") from None
    return data


def _unreadable(key: str, path: str, reason: str) -> PydanticCustomError:
    """The model's error, which names the ``X_file`` setting in ``key`` of its context."""
    return PydanticCustomError(
        "secret_file", "{key}: {path} {reason}", {"key": key, "path": path, "reason": reason}
    )


def _web_address(value: str) -> str:
    value = value.strip()
    if value and not _URL.match(value):
        raise ValueError(f"{value!r} is not an http:// or https:// address")
    return value


class DkimSettings(BaseModel):
    """DKIM signing of every outgoing email (``[dkim]``, ``MAKEGOOD_DKIM__*``); off
    while unset. ``makegood dkim keygen`` makes a key and the DNS record to publish."""

    model_config = ConfigDict(extra="forbid")

    domain: str = ""  # d=: the domain the signature speaks for (the From's, to align DMARC)
    selector: str = ""  # s=: the record is published at SELECTOR._domainkey.DOMAIN
    private_key_file: Path | None = None  # PEM: RSA (2048 bits) or ed25519


class SmsSettings(BaseModel):
    """``[sms]``: text messages through Twilio's Messages API (or any service that
    speaks it at ``api_base``)."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str = ""  # AC..., the account in the API's path and the basic-auth user
    auth_token: SecretStr = SecretStr("")
    auth_token_file: Path | None = None
    # The sender: a number in E.164, or a messaging service (MG...) that picks one.
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base: str = "https://api.twilio.com"
    timeout_seconds: float = Field(default=30, gt=0)

    _secrets_from_files = model_validator(mode="before")(read_secret_files)

    @field_validator("from_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        value = value.strip()
        if value and not _E164.match(value):
            raise ValueError(f"{value!r} is not a number in E.164 form like +14155550100")
        return value

    @field_validator("api_base")
    @classmethod
    def _base(cls, value: str) -> str:
        return _web_address(value)


class WebhookChannelSettings(BaseModel):
    """``[webhook_channel]``: each message POSTed as JSON to the company's own app or
    push service, signed by the Standard Webhooks spec."""

    model_config = ConfigDict(extra="forbid")

    url: str = ""
    secret: SecretStr = SecretStr("")  # whsec_... (base64 after the prefix)
    secret_file: Path | None = None
    timeout_seconds: float = Field(default=30, gt=0)

    _secrets_from_files = model_validator(mode="before")(read_secret_files)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _web_address(value)


class BounceSettings(BaseModel):
    """``[bounces]``: where mail systems send bounces and complaints back. With
    ``domain`` set, each email's envelope sender (Return-Path) is
    ``{prefix}+{token}@{domain}``, the token naming the message."""

    model_config = ConfigDict(extra="forbid")

    domain: str = ""
    prefix: str = "bounce"
    # Bearer token a mail provider's event feed sends to /api/hooks/mail-events; the
    # hook is off when empty.
    hook_token: SecretStr = SecretStr("")
    hook_token_file: Path | None = None

    _secrets_from_files = model_validator(mode="before")(read_secret_files)

    @field_validator("prefix")
    @classmethod
    def _local_part(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,32}", value):
            raise ValueError(f"{value!r} is not a plain mailbox name like bounce")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9-]+)+", value):
            raise ValueError(f"{value!r} is not a domain name like bounces.example.com")
        return value


class DomainLimits(BaseModel):
    """``[delivery.domains."gmail.com"]``: how hard one receiving domain is pushed, for
    receivers that throttle large senders."""

    model_config = ConfigDict(extra="forbid")

    rate_per_second: float = Field(default=0, ge=0)  # 0: no limit of its own
    connections: int = Field(default=0, ge=0, le=256)  # 0: the sender's own number

"""Claim tokens: 256 random bits shown once in a link; only their hash is stored.

The outbox carries the token to the sender sealed (AES-GCM: encrypted and
authenticated) with a key derived from MAKEGOOD_SECRET_KEY, so the database alone
never reveals a working link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from makegood.core.errors import ConfigurationError

NONCE = 12
CONTEXT = b"makegood claim token"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def usable_key(secret_key: str | SecretStr) -> bool:
    """Whether the secret key is long enough to sign and seal with (16 characters)."""
    value = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
    return len(value) >= 16


def required_key(secret_key: str | SecretStr, to: str) -> str:
    """The secret key, or an error saying what it is needed ``to`` do."""
    value = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
    if not usable_key(value):
        raise ConfigurationError(
            f"MAKEGOOD_SECRET_KEY must be set (16 characters or more) {to}; for example: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return value


class Sealer:
    """Seals and opens tokens with one key; build it once, use it for many tokens."""

    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key
        self._cipher: AESGCM | None = None

    @property
    def secret_key(self) -> str:
        return self._secret

    @property
    def _aead(self) -> AESGCM:
        # Built on first use: a campaign without claim offers needs no key.
        if self._cipher is not None:
            return self._cipher
        secret_key = required_key(self._secret, "to issue claim links")
        key = hashlib.sha256(b"makegood-outbox-seal\x00" + secret_key.encode()).digest()
        self._cipher = AESGCM(key)
        return self._cipher

    def seal(self, token: str) -> str:
        nonce = os.urandom(NONCE)
        sealed = nonce + self._aead.encrypt(nonce, token.encode(), CONTEXT)
        return base64.urlsafe_b64encode(sealed).decode()

    def open(self, sealed: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(raw[:NONCE], raw[NONCE:], CONTEXT).decode()
        except (InvalidTag, ValueError):
            raise ConfigurationError(
                "a sealed claim token cannot be opened with this MAKEGOOD_SECRET_KEY"
            ) from None


def seal(token: str, secret_key: str) -> str:
    return Sealer(secret_key).seal(token)


def unseal(sealed: str, secret_key: str) -> str:
    return Sealer(secret_key).open(sealed)


UNSUBSCRIBE = b"makegood-unsubscribe\x00"


def unsubscribe_token(secret_key: str, customer_id: str) -> str:
    """The token of a customer's one-click unsubscribe link: their id, and a MAC of it
    under the secret key (nothing to store; it cannot be forged or moved to another
    customer). Empty without a secret key: no link is offered then."""
    if not usable_key(secret_key):
        return ""
    who = base64.urlsafe_b64encode(customer_id.encode()).decode().rstrip("=")
    return f"{who}.{_unsubscribe_mac(secret_key, customer_id)}"


def unsubscribe_customer(secret_key: str, token: str) -> str | None:
    """The customer a genuine unsubscribe token names; None for anything else."""
    who, dot, mac = token.partition(".")
    if not dot or not usable_key(secret_key) or len(token) > 600:
        return None
    try:
        customer_id = base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    expected = _unsubscribe_mac(secret_key, customer_id)
    return customer_id if secrets.compare_digest(expected, mac) else None


def _unsubscribe_mac(secret_key: str, customer_id: str) -> str:
    digest = hmac.digest(secret_key.encode(), UNSUBSCRIBE + customer_id.encode(), "sha256")
    return base64.urlsafe_b64encode(digest[:18]).decode()


BOUNCE = b"makegood-bounce\x00"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def bounce_token(secret_key: str, message_id: int) -> str:
    """The token in a message's return path (``bounce+TOKEN@domain``): the message id in
    base 36 and a MAC of it, in lower case only, since some mail systems lower-case
    the addresses they bounce to. Empty without a secret key."""
    if not usable_key(secret_key) or message_id < 0:
        return ""
    digits, n = "", message_id
    while True:
        n, r = divmod(n, 36)
        digits = _BASE36[r] + digits
        if not n:
            break
    return f"{digits}-{_bounce_mac(secret_key, digits)}"


def bounce_message(secret_key: str, token: str) -> int | None:
    """The message a genuine bounce token names; None for anything else."""
    digits, dash, mac = token.strip().lower().partition("-")
    if not dash or not digits or len(token) > 40 or not usable_key(secret_key):
        return None
    if any(c not in _BASE36 for c in digits):
        return None
    if not secrets.compare_digest(_bounce_mac(secret_key, digits), mac):
        return None
    return int(digits, 36)


def _bounce_mac(secret_key: str, digits: str) -> str:
    digest = hmac.digest(secret_key.encode(), BOUNCE + digits.encode(), "sha256")
    return base64.b32encode(digest[:10]).decode().lower()

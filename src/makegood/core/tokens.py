"""Claim tokens: 256 random bits shown once in a link; only their hash is stored.

The outbox carries the token to the sender sealed (encrypted and authenticated)
with a key derived from MAKEGOOD_SECRET_KEY, so the database alone never reveals it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken

from makegood.core.errors import ConfigurationError


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _fernet(secret_key: str) -> Fernet:
    if len(secret_key) < 16:
        raise ConfigurationError(
            "MAKEGOOD_SECRET_KEY must be set (16 characters or more) to issue claim links; "
            "for example: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    digest = hashlib.sha256(b"makegood-outbox-seal\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(token: str, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(token.encode()).decode()


def unseal(sealed: str, secret_key: str) -> str:
    try:
        return _fernet(secret_key).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise ConfigurationError(
            "a sealed claim token cannot be opened with this MAKEGOOD_SECRET_KEY"
        ) from None

"""Webhooks in from other systems (Alertmanager, mail providers), each authenticated by
a shared bearer token from the settings: one check for all of them."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from makegood.kits.http.errors import ApiError, ErrorResponse

# What every hook answers besides its own success and 422.
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No token, or not the configured one"},
    503: {"model": ErrorResponse, "description": "No token is configured for this hook"},
}


def bearer(scheme: str, setting_env: str, note: str = "") -> HTTPBearer:
    """The hook's bearer scheme, as the OpenAPI document names and describes it."""
    return HTTPBearer(
        auto_error=False,
        scheme_name=scheme,
        description=f"The token in {setting_env}, sent as 'Authorization: Bearer <token>'"
        + (f" ({note})" if note else ""),
    )


def require_token(
    given: HTTPAuthorizationCredentials | str | None,
    expected: str,
    *,
    off: str,
    wrong: str,
    challenge: str = "Bearer",
) -> None:
    """503 (saying ``off``) when no token is configured; 401 (saying ``wrong``, with
    ``challenge`` as its WWW-Authenticate) unless the token the request gave (its bearer
    credentials, or a token found another way) is that one. Compared as bytes in
    constant time, so how much of a guess matched stays unknown."""
    if not expected:
        raise ApiError(503, "hook_disabled", off)
    token = given.credentials if isinstance(given, HTTPAuthorizationCredentials) else given
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", wrong, challenge=challenge)

"""Every API error is JSON: ``{"error": {"code", "message", "field"}}``, with a stable
code a program can branch on and a message a person can act on. A database error is
one too: one line from the driver, never the statement or its parameters."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from makegood.core.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    MakegoodError,
    NotFoundError,
    database_error,
)


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        challenge: str = "Bearer",
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.challenge = challenge  # a 401's WWW-Authenticate


STATUS = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
    ConfigurationError: 503,
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}
# A database error by what it means (core.errors.DatabaseError.reason): (status, code).
DATABASE = {
    "unavailable": (503, "database_unavailable"),
    "conflict": (409, "conflict"),
    "invalid": (422, "invalid_input"),
    "failed": (500, "database_error"),
}

# Responses every /api route may give, documented in the OpenAPI document.
COMMON: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No API key, or not a valid one"},
    403: {"model": ErrorResponse, "description": "The key's role may not do this"},
    422: {"model": ErrorResponse, "description": "A field is missing or wrong; `field` names it"},
    503: {
        "model": ErrorResponse,
        "description": "The database cannot be reached now (code `database_unavailable`); "
        "try again later",
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such object"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "The object's state forbids this now"}
}


def error_json(
    status: int, code: str, message: str, field: str | None = None, challenge: str = "Bearer"
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "field": field}}
    headers = {"WWW-Authenticate": challenge} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _field_of(exc: MakegoodError) -> str | None:
    # Messages name their field first, "start: ..." or "--reason: ...".
    head, sep, _ = exc.message.partition(":")
    if sep and head and " " not in head.strip():
        return head.strip().lstrip("-")
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_json(exc.status, exc.code, exc.message, exc.field, exc.challenge)

    @app.exception_handler(MakegoodError)
    async def _domain(request: Request, exc: MakegoodError) -> JSONResponse:
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
        return error_json(status, exc.kind, exc.message, _field_of(exc))

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        error = database_error(exc)
        status, code = DATABASE.get(error.reason, DATABASE["failed"])
        return error_json(status, code, error.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            # Its location is a character offset in the body, not a field.
            at = first.get("loc", ("body", "?"))[-1]
            context = first.get("ctx")
            detail = context.get("error", "") if isinstance(context, dict) else ""
            message = f"body: not valid JSON at character {at} ({detail})".replace(" ()", "")
            return error_json(422, "invalid_input", message, "body")
        loc = tuple(first.get("loc", ()))
        place = [str(p) for p in loc if p not in ("body", "query", "path")]
        # A body that is missing, or not an object, is at fault as a whole: the body.
        field = ".".join(place) or ("body" if loc[:1] == ("body",) else None)
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more)"
        return error_json(422, "invalid_input", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "error")
        response = error_json(exc.status_code, code, str(exc.detail))
        # Keep what the exception says about itself, e.g. Allow on a 405.
        response.headers.update(exc.headers or {})
        return response

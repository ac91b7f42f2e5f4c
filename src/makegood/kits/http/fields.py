"""Field types the API's models share.

Instants are ISO-8601 text with an offset, read and written in UTC; amounts are
decimal text in major units beside their ISO 4217 currency, as in the billing
export. Request bodies are strict: no unknown keys, no number given as text or
boolean given as a number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from makegood.core.money import format_major
from makegood.kits.http.errors import ErrorResponse

INSTANT_EXAMPLE = "2026-03-02T18:00:00-05:00"


def _instant(value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            # A '+' left unescaped in a query string arrives as a space.
            hint = " (in a URL, write + as %2B)" if " " in value.strip() else ""
            raise PydanticCustomError(
                "instant",
                "{value} is not an ISO-8601 instant; write it like {example}{hint}",
                {"value": repr(value), "example": INSTANT_EXAMPLE, "hint": hint},
            ) from None
    else:
        raise PydanticCustomError(
            "instant_type",
            "expected an ISO-8601 instant as text, like {example}",
            {"example": INSTANT_EXAMPLE},
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise PydanticCustomError(
            "instant_offset",
            "{value} has no UTC offset; write it with one, like {example} or 2026-03-02T23:00:00Z",
            {"value": repr(str(value)), "example": INSTANT_EXAMPLE},
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "instant_range", "{value} is out of range", {"value": repr(str(value))}
        ) from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


Instant = Annotated[
    datetime,
    PlainValidator(_instant),
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [INSTANT_EXAMPLE]}),
]
"""A tz-aware instant: ISO-8601 text with an offset in, UTC with +00:00 out."""


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "contains a NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""Text without NUL characters."""

SMALL_ID = 2**31 - 1
BIG_ID = 2**63 - 1
IncidentId = Annotated[int, Path(ge=1, le=SMALL_ID, description="The incident id.")]
CampaignId = Annotated[int, Path(ge=1, le=SMALL_ID, description="The campaign id.")]
BatchId = Annotated[int, Path(ge=1, le=SMALL_ID, description="The export batch id.")]
MessageId = Annotated[int, Path(ge=1, le=BIG_ID, description="The message id.")]
OfferId = Annotated[int, Path(ge=1, le=BIG_ID, description="The offer id.")]
CustomerId = Annotated[
    Text, Path(min_length=1, max_length=200, description="The company's own customer id.")
]

AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
Amount = Annotated[
    str,
    Field(
        pattern=AMOUNT_PATTERN,
        description="Decimal text in the currency's major units, e.g. 8.99 (never a float).",
        examples=["8.99"],
    ),
]
Currency = Annotated[
    str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.", examples=["USD"])
]
Totals = Annotated[
    dict[str, Amount],
    Field(description="Amounts by ISO 4217 currency, in major units.", examples=[{"USD": "12.34"}]),
]


def totals(minor_by_currency: dict[str, int]) -> dict[str, str]:
    """Minor units by currency, as decimal text in major units."""
    return {c: format_major(m, c) for c, m in sorted(minor_by_currency.items())}


class Body(BaseModel):
    """Base of every request body: unknown keys and loose types are refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


# A body that is not JSON text at all (not UTF-8, say) is refused before validation.
MALFORMED: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body could not be read as JSON"}
}


class Out(BaseModel):
    """Base of every response body."""

    model_config = ConfigDict(from_attributes=True)

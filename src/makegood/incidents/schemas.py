"""Incidents as the API takes and shows them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from makegood.incidents.rules import NAME, check_summaries, clean_names
from makegood.kits.http.fields import Body, Instant, Out, Text

# Lowercase names: services, regions, devices, causes (as incidents.rules.NAME).
# The pattern is documented here and checked by the rules, whose messages say more.
Name = Annotated[
    Text,
    StringConstraints(min_length=1, max_length=64),
    Field(json_schema_extra={"pattern": NAME.pattern}),
]
Severity = Literal["minor", "major", "critical"]
T = TypeVar("T")
R = TypeVar("R")


def _checked(check: Callable[[T], R], value: T) -> R:
    """Run a pure rule check, reporting its message as the field's problem."""
    try:
        return check(value)
    except ValueError as exc:
        # The rules name the field first ("service: ..."); the error already does.
        head, sep, rest = str(exc).partition(": ")
        problem = rest if sep and " " not in head else str(exc)
        raise PydanticCustomError("invalid", "{problem}", {"problem": problem}) from None


def _bare(name: str) -> str:
    if name != name.strip():
        raise ValueError(f"{name!r} has spaces around it")
    return name


class IncidentIn(Body):
    """An incident over [start, end), as `makegood incidents declare` takes it."""

    services: list[Name] = Field(
        min_length=1,
        max_length=50,
        description="Affected services, lowercase.",
        examples=[["streaming"]],
    )
    start: Instant = Field(description="When it began, with an offset.")
    end: Instant | None = Field(
        default=None, description="When it ended; leave out while it is still going on."
    )
    title: Text = Field(min_length=1, max_length=200, description="A short internal title.")
    summary: Text = Field(
        default="", max_length=10_000, description="What happened, in words a customer can read."
    )
    summaries: dict[Text, Text] = Field(
        default_factory=dict,
        max_length=100,
        description="The summary in other languages, by locale or language (de-DE, ja).",
    )
    cause: Name | None = Field(default=None, description="Cause category, e.g. third_party.")
    severity: Severity = "major"
    regions: list[Name] = Field(default_factory=list, max_length=100)
    devices: list[Name] = Field(default_factory=list, max_length=100)
    source_ref: Text | None = Field(
        default=None, max_length=200, description="Reference in the source system."
    )
    notes: Text = Field(
        default="", max_length=10_000, description="Notes for engineers; never shown to customers."
    )

    @field_validator("services", "regions", "devices")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _checked(lambda v: clean_names([_bare(n) for n in v], "name"), value)

    @field_validator("cause")
    @classmethod
    def _cause(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _checked(lambda v: clean_names([_bare(v)], "cause")[0], value)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("invalid", "title is empty")
        return value

    @field_validator("summaries")
    @classmethod
    def _summaries(cls, value: dict[str, str]) -> dict[str, str]:
        return _checked(check_summaries, value)

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if value is not None and isinstance(start, datetime) and value <= start:
            raise PydanticCustomError(
                "end_before_start",
                "end ({end}) must be after start ({start})",
                {"end": value.isoformat(), "start": start.isoformat()},
            )
        return value


class SummariesIn(Body):
    """The summary customers read, and its translations (added to those already there)."""

    summary: Text | None = Field(
        default=None,
        max_length=10_000,
        description="In the company's default language; leave out to keep the present one.",
    )
    summaries: dict[Text, Text] = Field(
        default_factory=dict,
        max_length=100,
        description="By locale or language (de-DE, ja); each replaces that language's.",
    )

    @field_validator("summaries")
    @classmethod
    def _summaries(cls, value: dict[str, str]) -> dict[str, str]:
        return _checked(check_summaries, value)


class ResolveIn(Body):
    end: Instant | None = Field(default=None, description="When it ended; defaults to now.")


class AmendIn(Body):
    start: Instant | None = Field(default=None, description="The corrected start.")
    end: Instant | None = Field(default=None, description="The corrected end.")
    services: list[str] | None = Field(
        default=None, max_length=50, description="All the affected services (replaces them)."
    )
    cause: str | None = Field(
        default=None, max_length=64, description="The corrected cause; 'none' for none."
    )


class AmendmentOut(Out):
    id: int
    incident_id: int
    at: Instant
    actor: str
    before: dict[str, Any] = Field(description="The fields that changed, as they were.")
    after: dict[str, Any] = Field(description="The same fields, as they are now.")


class ImpactCounts(Out):
    confirmed: int
    possible: int


class IncidentOut(Out):
    id: int
    title: str
    summary: str
    summaries: dict[str, str]
    notes: str = Field(description="For engineers (e.g. an alert's description).")
    services: list[str]
    regions: list[str]
    devices: list[str]
    severity: str
    cause: str | None
    source_ref: str | None
    start: Instant
    end: Instant | None
    declared_at: Instant
    resolved_at: Instant | None
    affected: ImpactCounts = Field(description="Customers found hurt, by confidence.")

"""Every router of the console, in one place."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from makegood.console import incidents

    return [incidents.router]

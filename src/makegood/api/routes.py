"""Every router the application serves, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from makegood.api import ops

    return [ops.router]

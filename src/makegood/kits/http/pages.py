"""Pagination: every list takes ``limit`` and ``offset`` and says where the next page is."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_LIMIT = 500


class Window(BaseModel):
    limit: int = 50
    offset: int = 0


def window(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31, description="Items to skip.")] = 0,
) -> Window:
    return Window(limit=limit, offset=offset)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None


def fetch(session: Session, query: Select[Any], w: Window) -> tuple[list[Any], int]:
    """One page of ``query`` (which must be ordered) and the total count."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = list(session.scalars(query.limit(w.limit).offset(w.offset)))
    return items, int(total or 0)


def page(items: list[T], total: int, w: Window) -> Page[T]:
    after = w.offset + len(items)
    return Page[T](
        items=items,
        total=total,
        limit=w.limit,
        offset=w.offset,
        next_offset=after if after < total else None,
    )

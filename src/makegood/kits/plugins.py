"""Adapters found by entry points: makegood's own and those of any installed package.

A package adds an impact engine, a channel or a billing sink by naming a factory in its
metadata, under ``makegood.engines``, ``makegood.channels`` or ``makegood.billing_sinks``::

    [project.entry-points."makegood.channels"]
    pigeon = "pigeon_post:channel"

The factory is called with the settings and returns the adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from difflib import get_close_matches
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from makegood.core.errors import ConfigurationError

ENGINES = "makegood.engines"
CHANNELS = "makegood.channels"
BILLING_SINKS = "makegood.billing_sinks"


def names(group: str) -> list[str]:
    """The adapters installed in ``group``, by name."""
    return sorted({ep.name for ep in entry_points(group=group)})


def factory(group: str, name: str, setting: str) -> Callable[..., Any]:
    """The factory registered as ``name`` in ``group``; ``setting`` says where the name
    was chosen, for the error when nothing by that name is installed."""
    found: list[EntryPoint] = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found:
        known = names(group)
        near = get_close_matches(name, known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigurationError(
            f"{setting}: no {group} adapter is called {name!r}{hint}; "
            f"installed: {', '.join(known) or 'none'}"
        )
    try:
        loaded = found[0].load()
    except Exception as exc:  # a broken plug-in names itself, not a traceback
        raise ConfigurationError(
            f"{setting}: the {group} adapter {name!r} ({found[0].value}) cannot be loaded: {exc}"
        ) from None
    if not callable(loaded):
        raise ConfigurationError(f"{setting}: {found[0].value} is not a factory")
    return loaded  # type: ignore[no-any-return]

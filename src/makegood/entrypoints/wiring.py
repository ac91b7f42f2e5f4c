"""The composition root: the one place that decides what fills each port, from
settings. The CLI, the web app, the worker and the demo all start from ``build_root``.

Adapters are found by entry points (``makegood.engines``, ``makegood.channels``,
``makegood.billing_sinks``), makegood's own and any installed plug-in's alike, and are
loaded only when a port is first used, so a command that never sends mail never
imports the mail channel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from makegood.config import Settings
from makegood.core.clock import Clock
from makegood.core.errors import ConfigurationError
from makegood.kits import plugins
from makegood.kits.ports import Bindings, Port
from makegood.kits.root import Root

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from makegood.billing.ports import BillingSink
    from makegood.impact.ports import ImpactEngine
    from makegood.messaging.ports import Channel


def build_root(
    settings: Settings, clock: Clock | None = None, engine: Engine | None = None
) -> Root:
    """Settings, clock and database engine, with every port bound (each made on first use)."""
    root = Root(settings, clock or settings.clock(), Bindings(), engine)
    root.bindings.resolve = lambda port: _provider(root, port)
    return root


def _provider(root: Root, port: Port[Any]) -> Callable[[], Any] | None:
    """What fills ``port``: every binding of the application, in one table."""
    from makegood.access.service import check_key
    from makegood.billing.ports import BILLING_SINKS
    from makegood.campaigns.terms import Executed, Terms
    from makegood.impact.ports import EXECUTED_CAMPAIGNS, IMPACT_ENGINES
    from makegood.impact.service import Figures
    from makegood.incidents.ports import IMPACT_FIGURES
    from makegood.kits.http.callers import API_KEYS
    from makegood.messaging.ports import CAMPAIGN_TERMS, CHANNELS
    from makegood.sources.ports import SOURCE_CHECK

    settings = root.settings
    table: dict[Port[Any], Callable[[], Any]] = {
        IMPACT_ENGINES: lambda: EngineCatalog(settings),
        SOURCE_CHECK: lambda: root.port(IMPACT_ENGINES).engine(),
        EXECUTED_CAMPAIGNS: Executed,
        IMPACT_FIGURES: Figures,
        CHANNELS: lambda: ChannelCatalog(settings),
        CAMPAIGN_TERMS: Terms,
        BILLING_SINKS: lambda: SinkCatalog(settings),
        API_KEYS: lambda: check_key,
    }
    return table.get(port)


class EngineCatalog:
    """Impact engines by name among the ``makegood.engines`` entry points, each made
    once (an engine may hold a costly session, such as Spark's)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._made: dict[str, ImpactEngine] = {}
        self._lock = threading.Lock()  # pages run impact from several threads

    def engine(self, name: str | None = None) -> ImpactEngine:

        chosen = name or self.settings.impact_engine
        with self._lock:
            return self._made.get(chosen) or self._make(chosen, name is not None)

    def _make(self, chosen: str, asked: bool) -> ImpactEngine:
        from makegood.impact.ports import ImpactEngine

        if chosen not in self._made:
            setting = "--engine" if asked else "impact_engine"
            made = plugins.factory(plugins.ENGINES, chosen, setting)(self.settings)
            self._made[chosen] = _checked(made, ImpactEngine, plugins.ENGINES, chosen)
        return self._made[chosen]


class ChannelCatalog:
    """Opens, for each sending run, the adapter the ``channels`` setting names for a
    message channel ("email" → "smtp" unless set otherwise)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def open(self, name: str) -> Channel:
        from makegood.messaging.ports import Channel

        adapter = self.settings.channels.get(name)
        if adapter is None:
            raise ConfigurationError(
                f"channels: no adapter is set for the {name!r} channel; set channels.{name} "
                f"in makegood.toml (installed: {', '.join(plugins.names(plugins.CHANNELS))})"
            )
        made = plugins.factory(plugins.CHANNELS, adapter, f"channels.{name}")(self.settings)
        channel: Channel = _checked(made, Channel, plugins.CHANNELS, adapter)
        return channel


class SinkCatalog:
    """Billing sinks by name (``csv``, ``jsonl``, or a plug-in's)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def names(self) -> list[str]:
        return plugins.names(plugins.BILLING_SINKS)

    def sink(self, name: str, setting: str = "--format") -> BillingSink:
        from makegood.billing.ports import BillingSink

        made = plugins.factory(plugins.BILLING_SINKS, name, setting)(self.settings)
        sink: BillingSink = _checked(made, BillingSink, plugins.BILLING_SINKS, name)
        return sink


def _checked(made: Any, port: type, group: str, name: str) -> Any:
    if not isinstance(made, port):
        raise ConfigurationError(
            f"the {group} adapter {name!r} made a {type(made).__name__}, which is not "
            f"a {port.__name__} (see docs/architecture.md)"
        )
    return made

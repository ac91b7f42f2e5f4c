"""Settings: ``makegood.toml`` in the working directory, then ``MAKEGOOD_*``
environment variables (which win), then command-line options (which win over both)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from makegood.core.clock import Clock, FixedClock, SystemClock, ensure_aware

CONFIG_FILE = Path("makegood.toml")


class CompanySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "Example Video"
    sender: str = "Example Video <apologies@example.com>"
    # Where replies go; the sender's address when empty.
    reply_to: str = ""
    support_phones: dict[str, str] = Field(
        default_factory=lambda: {"US": "1-800-555-0100", "default": "1-800-555-0100"}
    )


class DeliverySettings(BaseModel):
    """How the outbox is sent (``[delivery]`` in makegood.toml, ``MAKEGOOD_DELIVERY__*``)."""

    model_config = ConfigDict(extra="forbid")

    connections: int = Field(default=8, ge=1, le=256)
    # Messages per second for one sender process; 0 means as fast as the relay takes them.
    rate_per_second: float = Field(default=0, ge=0)
    batch_size: int = Field(default=200, ge=1, le=10_000)
    # A sender holds the messages it took this long; after that another may take them.
    lease_seconds: float = Field(default=300, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    # Retries wait backoff_seconds, then twice that, and so on, up to backoff_max_seconds.
    backoff_seconds: float = Field(default=30, ge=0)
    backoff_max_seconds: float = Field(default=3600, ge=0)
    timeout_seconds: float = Field(default=30, gt=0)
    # How often an idle worker looks for new messages.
    poll_seconds: float = Field(default=2, gt=0)


class WebSettings(BaseModel):
    """The web server (``[web]`` in makegood.toml, ``MAKEGOOD_WEB__*``)."""

    model_config = ConfigDict(extra="forbid")

    # Requests per minute one client address may make to the claim pages (0: no limit).
    claim_rate_per_minute: int = Field(default=30, ge=0)
    # Take the client address from X-Forwarded-For (only behind a proxy you run).
    trust_forwarded_for: bool = False
    # Bearer token Alertmanager sends to /api/hooks/alertmanager; the hook is off when empty.
    alertmanager_token: str = ""


class Settings(BaseSettings):
    """Everything makegood reads from its environment, validated strictly."""

    model_config = SettingsConfigDict(
        env_prefix="MAKEGOOD_",
        env_nested_delimiter="__",
        toml_file=CONFIG_FILE,
        extra="forbid",
    )

    database_url: str = "sqlite:///makegood.db"
    now: datetime | None = None
    smtp_url: str = "smtp://127.0.0.1:2525"
    base_url: str = "http://127.0.0.1:8000"
    # Signs claim-page forms; set MAKEGOOD_SECRET_KEY wherever pages are served.
    secret_key: str = ""
    actor: str | None = None
    duckdb_memory_limit: str = "1GB"
    duckdb_threads: int | None = None
    company: CompanySettings = Field(default_factory=CompanySettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    web: WebSettings = Field(default_factory=WebSettings)
    # Operators' own templates, same layout as the built-in ones (en-US/claim_offer.html).
    templates_dir: Path | None = None
    # Where `makegood mailbox` keeps what it receives.
    mailbox_dir: Path = Path("mailbox")

    @field_validator("now")
    @classmethod
    def _now_is_aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else ensure_aware(value, "now")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def clock(self) -> Clock:
        return FixedClock(self.now) if self.now is not None else SystemClock()

"""Settings: ``makegood.toml`` in the working directory, then ``MAKEGOOD_*``
environment variables (which win), then command-line options (which win over both)."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime
from difflib import get_close_matches
from pathlib import Path
from typing import Any, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from makegood.channel_config import (
    BounceSettings,
    DkimSettings,
    DomainLimits,
    SmsSettings,
    WebhookChannelSettings,
    read_secret_files,
)
from makegood.core.clock import Clock, FixedClock, SystemClock, ensure_aware
from makegood.core.errors import ConfigurationError

CONFIG_FILE = Path("makegood.toml")
ENV_PREFIX = "MAKEGOOD_"
# The command-line options that set a setting, by the setting they set.
OPTIONS = {"database_url": "--database", "now": "--now"}
_DATABASE = re.compile(r"^(sqlite|postgres|postgresql)(\+\w+)?://", re.IGNORECASE)
_SPARK_MASTER = re.compile(r"^(local(\[(\*|\d+)(,\s*\d+)?\])?|(spark|sc|k8s|mesos)://\S+|yarn)$")


class CompanySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "Example Video"
    sender: str = "Example Video <apologies@example.com>"
    # Where replies go; the sender's address when empty.
    reply_to: str = ""
    # The company's own language: an incident's plain summary is written in it, and a
    # customer whose language has no letters gets them in this locale.
    default_locale: str = "en-US"
    support_phones: dict[str, str] = Field(
        default_factory=lambda: {"US": "1-800-555-0100", "default": "1-800-555-0100"}
    )
    # The company's own signed-in site, where customers can also claim (through
    # /api/offers/{id}/claim with a key of the claims role). When set, claim letters say
    # so, for customers who deleted the email or distrust its link.
    account_url: str = ""

    @field_validator("account_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        value = value.strip()
        if value and not re.match(r"^https?://[^\s/]+\S*$", value):
            raise ValueError(f"{value!r} is not an http:// or https:// address")
        return value

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(value.strip().replace("-", "_"))
        except (ValueError, TypeError, UnknownLocaleError):
            raise ValueError(f"{value!r} is not a locale such as en-US or de-DE") from None
        return value.strip()


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
    # Limits per receiving domain (the part of the address after @, lower-case).
    domains: dict[str, DomainLimits] = Field(default_factory=dict)


class WebSettings(BaseModel):
    """The web server (``[web]`` in makegood.toml, ``MAKEGOOD_WEB__*``)."""

    model_config = ConfigDict(extra="forbid")

    # Requests per minute one client address may make to the claim pages (0: no limit).
    claim_rate_per_minute: int = Field(default=30, ge=0)
    # Take the client address from X-Forwarded-For (only behind a proxy you run).
    trust_forwarded_for: bool = False
    # Bearer token Alertmanager sends to /api/hooks/alertmanager; the hook is off when empty.
    alertmanager_token: SecretStr = SecretStr("")
    alertmanager_token_file: Path | None = None

    _secrets_from_files = model_validator(mode="before")(read_secret_files)


class StripeSettings(BaseModel):
    """``[billing.stripe]``: where credits go as pending invoice items."""

    model_config = ConfigDict(extra="forbid")

    # A secret key (sk_live_..., or a restricted key that may write invoice items).
    api_key: SecretStr = SecretStr("")
    api_key_file: Path | None = None
    # Stripe's API; another address for a test server.
    api_base: str = "https://api.stripe.com"

    _secrets_from_files = model_validator(mode="before")(read_secret_files)


class BillingSettings(BaseModel):
    """Pushing ledger entries to billing systems (``[billing]``, ``MAKEGOOD_BILLING__*``)."""

    model_config = ConfigDict(extra="forbid")

    stripe: StripeSettings = Field(default_factory=StripeSettings)
    # Where the webhook sink POSTs entries, and the Standard Webhooks secret (whsec_...).
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_secret_file: Path | None = None
    # A refused or unanswered push is tried again after backoff_seconds, then twice
    # that, up to backoff_max_seconds; after max_attempts it is failed for good (but
    # by the webhook sink, which tries the company's own service until it answers).
    max_attempts: int = Field(default=8, ge=1)
    backoff_seconds: float = Field(default=30, ge=0)
    backoff_max_seconds: float = Field(default=3600, ge=0)
    timeout_seconds: float = Field(default=30, gt=0)

    _secrets_from_files = model_validator(mode="before")(read_secret_files)


class SparkSettings(BaseModel):
    """Apache Spark, for ``impact_engine = "spark"`` (``[spark]`` in makegood.toml,
    ``MAKEGOOD_SPARK__*``)."""

    model_config = ConfigDict(extra="forbid")

    # local[*] (in this process), spark://HOST:7077 (a standalone cluster), yarn,
    # k8s://... or sc://HOST:15002 (Spark Connect).
    master: str = "local[*]"
    app_name: str = "makegood"
    # Any Spark configuration, passed on as given ([spark.conf] "spark.executor.memory" = "4g").
    # makegood pins spark.sql.session.timeZone to UTC whatever is set here.
    conf: dict[str, str] = Field(default_factory=dict)
    # Impact rows per Arrow batch on their way from Spark to the database.
    batch_rows: int = Field(default=50_000, ge=1_000, le=1_000_000)

    @field_validator("master")
    @classmethod
    def _known_master(cls, value: str) -> str:
        value = value.strip()
        if not _SPARK_MASTER.match(value):
            raise ValueError(
                f"{value!r} is not a Spark master; use local[*], local[N], spark://HOST:PORT, "
                "sc://HOST:PORT, yarn or k8s://URL"
            )
        return value


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
    # May carry a password (smtp+starttls://USER:PASSWORD@HOST:587): a secret.
    smtp_url: SecretStr = SecretStr("smtp://127.0.0.1:2525")
    smtp_url_file: Path | None = None
    base_url: str = "http://127.0.0.1:8000"
    # Signs claim-page forms and seals claim tokens in the outbox; set
    # MAKEGOOD_SECRET_KEY (or MAKEGOOD_SECRET_KEY_FILE) wherever pages are served.
    secret_key: SecretStr = SecretStr("")
    secret_key_file: Path | None = None
    actor: str | None = None
    # The impact engine, by its name among the makegood.engines entry points.
    impact_engine: str = "duckdb"
    duckdb_memory_limit: str = "1GB"
    duckdb_threads: int | None = None
    spark: SparkSettings = Field(default_factory=SparkSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    dkim: DkimSettings = Field(default_factory=DkimSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    webhook_channel: WebhookChannelSettings = Field(default_factory=WebhookChannelSettings)
    bounces: BounceSettings = Field(default_factory=BounceSettings)
    # Which adapter (among the makegood.channels entry points) carries each channel's
    # messages; a message's channel is a column of its outbox row.
    channels: dict[str, str] = Field(default_factory=lambda: {"email": "smtp", "sms": "twilio"})
    company: CompanySettings = Field(default_factory=CompanySettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    web: WebSettings = Field(default_factory=WebSettings)
    # Operators' own templates, same layout as the built-in ones (en-US/claim_offer.html).
    templates_dir: Path | None = None
    # Where `makegood mailbox` keeps what it receives.
    mailbox_dir: Path = Path("mailbox")
    # Snapshots that spare an impact run reading every customer from the database; safe
    # to delete at any time (the next run reads the database and writes them again).
    cache_dir: Path | None = Path(".makegood-cache")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not _DATABASE.match(value.strip()):
            # Only the scheme is shown: the rest of a URL may hold a password.
            scheme, sep, _ = value.partition("://")
            found = f"not {scheme}://..." if sep else "not a URL"
            raise ValueError(f"use sqlite:///FILE or postgresql://USER@HOST/NAME ({found})")
        return value.strip()

    _secrets_from_files = model_validator(mode="before")(read_secret_files)

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
        return (init_settings, env_settings, _TomlFile(settings_cls))

    def clock(self) -> Clock:
        return FixedClock(self.now) if self.now is not None else SystemClock()

    def smtp_url_shown(self) -> str:
        """The relay's URL as it may be shown or logged: any password replaced."""
        parts = urlsplit(self.smtp_url.get_secret_value())
        if parts.password is None:
            return parts.geturl()
        host = parts.netloc.rpartition("@")[2]
        return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


class _TomlFile(TomlConfigSettingsSource):
    """makegood.toml, whose syntax errors name the file rather than end in a traceback."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{_shown(file_path)}: not valid TOML ({exc})") from None
        except UnicodeDecodeError as exc:
            raise ConfigurationError(
                f"{_shown(file_path)}: not UTF-8 text (byte {exc.start + 1})"
            ) from None
        except OSError as exc:
            raise ConfigurationError(
                f"{_shown(file_path)}: cannot be read ({exc.strerror})"
            ) from None


def settings_problems(exc: ValidationError, given: Mapping[str, object]) -> list[str]:
    """Each problem naming where the value came from (an option, an environment
    variable or makegood.toml with its path), the key, and for an unknown key the
    known one it most resembles. ``given`` are the command-line overrides."""
    in_file = _file_data()
    problems = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "secret_file":  # told by the model; the X_file key is the place
            key = str(error.get("ctx", {}).get("key", ""))
            loc, message = (*loc, key), message.removeprefix(f"{key}: ")
        where = _origin(loc, given, in_file)
        key = ".".join(loc)
        if error["type"] == "extra_forbidden":
            guess = _closest(loc)
            hint = f" (did you mean {_spelt(guess, where)!r}?)" if guess else ""
            problems.append(f"{where}: unknown key {key!r}{hint}")
        else:
            problems.append(f"{where}: {key}: {message}")
    return problems


def environment_problems(exc: Exception) -> list[str]:
    """pydantic-settings could not read a MAKEGOOD_* variable: a table or list given in
    one variable must be JSON. Each such variable named, never its value (a secret)."""
    field = re.search(r'field "(\w+)"', str(exc))
    prefix = ENV_PREFIX + (field[1] if field else "").upper()
    named = [n for n in os.environ if n.upper() == prefix or n.upper().startswith(prefix + "__")]
    bad = [n for n in named if _structured(n) and not _json(os.environ[n])]
    return [
        f"environment variable {name}: {name[len(ENV_PREFIX) :].lower().replace('__', '.')}: "
        "not valid JSON; write a table as JSON, or each of its keys in a variable of its own"
        for name in sorted(bad or named)
    ] or [f"environment: {exc}"]


def _structured(name: str) -> bool:
    """Whether the variable sets a table or a list (which pydantic-settings reads as JSON)."""
    model: type[BaseModel] = Settings
    for part in name[len(ENV_PREFIX) :].lower().split("__"):
        field = model.model_fields.get(part)
        kind = None if field is None else field.annotation
        if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
            return kind is not None and get_origin(kind) in (dict, list)
        model = kind
    return True


def _json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _shown(path: Any) -> str:
    return str(Path(path).resolve()) if isinstance(path, str | Path) else str(path)


def _file_data() -> dict[str, Any]:
    try:
        with CONFIG_FILE.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, ValueError):  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        return {}


def _origin(loc: tuple[str, ...], given: Mapping[str, object], in_file: dict[str, Any]) -> str:
    """Options win over the environment, which wins over the file: name the winner."""
    if loc and given.get(loc[0]) is not None and loc[0] in OPTIONS:
        return OPTIONS[loc[0]]
    environment = {name.upper(): name for name in os.environ}
    for end in range(len(loc), 0, -1):
        name = ENV_PREFIX + "__".join(loc[:end]).upper()
        if name in environment:
            return f"environment variable {environment[name]}"
    node: object = in_file
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None or (loc and loc[0] in in_file):
        return _shown(CONFIG_FILE)
    return "settings"


def _closest(loc: tuple[str, ...]) -> tuple[str, ...] | None:
    """The known key nearest to an unknown one, at the same place."""
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        inner = None if field is None else field.annotation
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return None
        model = inner
    found = get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return (*loc[:-1], found[0]) if found else None


def _spelt(loc: tuple[str, ...], where: str) -> str:
    """A key as the place it was written spells it: MAKEGOOD_A__B or a.b."""
    if where.startswith("environment variable"):
        return ENV_PREFIX + "__".join(loc).upper()
    return ".".join(loc)

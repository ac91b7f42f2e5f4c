"""The demo's company and its week of March 2008: who the customers are (countries,
locales, zones, currencies, prices) and the two outages, with what customers read
about each in their own language. :mod:`makegood.demo.synthetic` writes the files."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

# (locale, time zone, country, currency, region, basic, standard, premium)
PROFILES = (
    ("en-US", "America/New_York", "US", "USD", "na", "7.99", "15.49", "22.99"),
    ("en-US", "America/Chicago", "US", "USD", "na", "7.99", "15.49", "22.99"),
    ("en-US", "America/Los_Angeles", "US", "USD", "na", "7.99", "15.49", "22.99"),
    ("en-CA", "America/Toronto", "CA", "CAD", "na", "9.99", "18.99", "23.99"),
    ("en-GB", "Europe/London", "GB", "GBP", "eu", "5.99", "10.99", "17.99"),
    ("de-DE", "Europe/Berlin", "DE", "EUR", "eu", "7.99", "13.99", "19.99"),
    ("fr-FR", "Europe/Paris", "FR", "EUR", "eu", "7.99", "13.99", "19.99"),
    ("ja-JP", "Asia/Tokyo", "JP", "JPY", "apac", "890", "1590", "2290"),
    ("pt-BR", "America/Sao_Paulo", "BR", "BRL", "latam", "25.90", "44.90", "59.90"),
    ("ar-BH", "Asia/Bahrain", "BH", "BHD", "apac", "2.500", "3.900", "5.200"),
)
PROFILES_TIERS = ("basic", "standard", "premium")  # the prices after the region
# Weights: how many of each 20 customers get each profile.
WEIGHTS = (5, 3, 3, 1, 2, 2, 1, 1, 1, 1)
FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloé",
    "Dmitri",
    "Emma",
    "Farah",
    "Gus",
    "Hana",
    "Ines",
    "José",
    "Kenji",
    "Lena",
    "Malik",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tess",
)
DEVICES = ("tv", "mobile", "web", "console")
SECONDS_PER_WEEK = 7 * 24 * 3600
US_EASTERN = ZoneInfo("America/New_York")


def _eastern(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2008, 3, day, hour, minute, tzinfo=US_EASTERN).astimezone(UTC)


@dataclass(frozen=True)
class Outage:
    service: str
    start: datetime
    end: datetime
    title: str
    summary: str
    # The summary for customers reading in other languages.
    summaries: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    customers: int = 2_000
    events: int = 40_000
    shipments: int = 1_500
    seed: int = 7
    # Monday 18 February 2008: five weeks of history, then the week of the outages.
    period_start: datetime = datetime(2008, 2, 18, tzinfo=UTC)
    weeks: int = 6
    shipping: Outage = field(
        default_factory=lambda: Outage(
            "shipping",
            _eastern(24, 6),  # Monday 24 March 2008, 06:00 to 22:00 US Eastern
            _eastern(24, 22),
            "Warehouse shipping system down",
            "Our shipping system was down for most of the day, so orders due that day left late.",
            {
                "de": "Unser Versandsystem war fast den ganzen Tag ausgefallen, deshalb gingen "
                "Bestellungen, die an diesem Tag fällig waren, verspätet raus.",
                "fr": "Notre système d’expédition a été en panne presque toute la journée : les "
                "commandes prévues ce jour-là sont parties en retard.",
                "ja": "配送システムがほぼ一日停止し、当日発送予定のご注文に遅れが生じました。",
                "pt": "Nosso sistema de envio ficou fora do ar quase o dia todo, e os pedidos "
                "previstos para aquele dia saíram com atraso.",
                "es": "Nuestro sistema de envíos estuvo caído casi todo el día y los pedidos "
                "previstos para ese día salieron con retraso.",
                "ar": "تعطّل نظام الشحن لدينا معظم اليوم، فتأخّر إرسال الطلبات التي كان موعدها "
                "ذلك اليوم.",
            },
        )
    )
    streaming: Outage = field(
        default_factory=lambda: Outage(
            "streaming",
            _eastern(27, 19, 30),  # Thursday 27 March 2008, 19:30 to 22:30 US Eastern
            _eastern(27, 22, 30),
            "Streaming playback failures",
            "Streaming failed for many members: videos would not start or stopped partway.",
            {
                "de": "Bei vielen Mitgliedern ist das Streaming ausgefallen: Videos starteten "
                "nicht oder brachen mittendrin ab.",
                "fr": "Le streaming a été interrompu pour de nombreux membres : les vidéos ne "
                "démarraient pas ou s’arrêtaient en cours de route.",
                "ja": "多くの会員の方で動画が再生できない、または途中で止まる障害が発生しました。",
                "pt": "O streaming falhou para muitos assinantes: os vídeos não começavam ou "
                "paravam no meio.",
                "es": "El streaming falló para muchos miembros: los vídeos no se iniciaban o se "
                "detenían a mitad.",
                "ar": "تعطّل البث لدى كثير من المشتركين: لم تبدأ مقاطع الفيديو أو توقّفت في منتصفها.",
            },
        )
    )

    @property
    def period_end(self) -> datetime:
        return self.period_start + timedelta(weeks=self.weeks)


# The replay: how big each customer's history is, and when each step happens.
EVENTS_PER_CUSTOMER = 20
SHIPMENTS_PER_CUSTOMER = 2
# The morning after each outage, US Eastern: each step so many minutes after 08:00.
MORNING_AFTER = {"declare": 0, "impact": 5, "plan": 10, "approve": 30, "execute": 45, "send": 50}
# Billing once the claim window (and the late claims) is over; then two months on.
BILLING_AT = datetime(2008, 4, 10, 6, 0, tzinfo=US_EASTERN).astimezone(UTC)
LATER_AT = datetime(2008, 5, 27, 9, 0, tzinfo=US_EASTERN).astimezone(UTC)
LATER_FILE = "customers-2008-05-27.csv"


def scenario(customers: int, seed: int) -> Scenario:
    return Scenario(
        customers=customers,
        events=customers * EVENTS_PER_CUSTOMER,
        shipments=customers * SHIPMENTS_PER_CUSTOMER,
        seed=seed,
    )


def when(instant: datetime, fmt: str = "%d %b %H:%M") -> str:
    """A replayed instant as the progress bars name it (US Eastern, like the story)."""
    return instant.astimezone(US_EASTERN).strftime(fmt)


def morning_after(outage: Outage, step: str) -> datetime:
    """When ``step`` happens for ``outage``: the next morning, US Eastern."""
    day = (outage.end.astimezone(US_EASTERN) + timedelta(hours=12)).date()
    eight = datetime(day.year, day.month, day.day, 8, 0, tzinfo=US_EASTERN)
    return (eight + timedelta(minutes=MORNING_AFTER[step])).astimezone(UTC)

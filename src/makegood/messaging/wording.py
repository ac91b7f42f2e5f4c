"""When something happened, in the reader's own zone and words.

"Last night", "yesterday", "on Monday", "on Tuesday, March 25, 2008": the phrase
depends on the reader's local calendar, not on UTC. Weekday and date names come
from Babel (CLDR); the few relative phrases CLDR does not carry ("last night",
"this morning") are kept here per language. Every phrase is memoised: a campaign
asks the same few questions (one incident, a few zones and locales) thousands of
times, and Babel's formatting costs far more than a cache lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time

# A part of the day at most this long can be named ("last night"); a longer
# incident is named by its day ("yesterday").
PART_OF_DAY_LIMIT = timedelta(hours=12)


@dataclass(frozen=True)
class Phrases:
    last_night: str
    this_morning: str
    this_afternoon: str
    this_evening: str
    earlier_today: str
    yesterday: str
    on_weekday: str  # {weekday}
    on_date: str  # {date}
    # Languages whose preposition follows the weekday's gender (Portuguese: "no
    # sábado", "na segunda-feira"); index 0 is Monday. Used for weekdays and dates.
    weekday_overrides: tuple[tuple[int, str], ...] = ()
    date_overrides: tuple[tuple[int, str], ...] = ()


PHRASES: dict[str, Phrases] = {
    "en": Phrases(
        last_night="last night",
        this_morning="this morning",
        this_afternoon="this afternoon",
        this_evening="this evening",
        earlier_today="earlier today",
        yesterday="yesterday",
        on_weekday="on {weekday}",
        on_date="on {date}",
    ),
    "de": Phrases(
        last_night="gestern Abend",
        this_morning="heute Morgen",
        this_afternoon="heute Nachmittag",
        this_evening="heute Abend",
        earlier_today="heute",
        yesterday="gestern",
        on_weekday="am {weekday}",
        on_date="am {date}",
    ),
    "fr": Phrases(
        last_night="hier soir",
        this_morning="ce matin",
        this_afternoon="cet après-midi",
        this_evening="ce soir",
        earlier_today="aujourd’hui",
        yesterday="hier",
        on_weekday="{weekday}",
        on_date="le {date}",
    ),
    "es": Phrases(
        last_night="anoche",
        this_morning="esta mañana",
        this_afternoon="esta tarde",
        this_evening="esta noche",
        earlier_today="hoy",
        yesterday="ayer",
        on_weekday="el {weekday}",
        on_date="el {date}",
    ),
    "pt": Phrases(
        last_night="ontem à noite",
        this_morning="hoje de manhã",
        this_afternoon="hoje à tarde",
        this_evening="hoje à noite",
        earlier_today="hoje",
        yesterday="ontem",
        on_weekday="na {weekday}",
        on_date="na {date}",
        weekday_overrides=((5, "no {weekday}"), (6, "no {weekday}")),
        date_overrides=((5, "no {date}"), (6, "no {date}")),
    ),
    "ja": Phrases(
        last_night="昨夜",
        this_morning="今朝",
        this_afternoon="今日の午後",
        this_evening="今晩",
        earlier_today="本日",
        yesterday="昨日",
        on_weekday="{weekday}",
        on_date="{date}",
    ),
    "it": Phrases(
        last_night="ieri sera",
        this_morning="stamattina",
        this_afternoon="oggi pomeriggio",
        this_evening="stasera",
        earlier_today="oggi",
        yesterday="ieri",
        # "lunedì", "lunedì 24 marzo 2008": Italian names a past day without an article.
        on_weekday="{weekday}",
        on_date="{date}",
    ),
    "nl": Phrases(
        last_night="gisteravond",
        this_morning="vanochtend",
        this_afternoon="vanmiddag",
        this_evening="vanavond",
        earlier_today="vandaag",
        yesterday="gisteren",
        on_weekday="{weekday}",
        on_date="op {date}",
    ),
    "ko": Phrases(
        last_night="어젯밤",
        this_morning="오늘 아침",
        this_afternoon="오늘 오후",
        this_evening="오늘 저녁",
        earlier_today="오늘",
        yesterday="어제",
        # A weekday or a date needs the particle 에 ("월요일에"); 어제 and 오늘 do not.
        on_weekday="{weekday}에",
        on_date="{date}에",
    ),
    "zh": Phrases(
        last_night="昨晚",
        this_morning="今天上午",
        this_afternoon="今天下午",
        this_evening="今晚",
        earlier_today="今天",
        yesterday="昨天",
        on_weekday="{weekday}",
        on_date="{date}",
    ),
    "ar": Phrases(
        last_night="الليلة الماضية",
        this_morning="صباح اليوم",
        this_afternoon="بعد ظهر اليوم",
        this_evening="مساء اليوم",
        earlier_today="اليوم",
        yesterday="أمس",
        on_weekday="يوم {weekday}",
        on_date="يوم {date}",
    ),
}


@lru_cache(maxsize=64)
def babel_locale(tag: str) -> Locale:
    """A Babel locale for a BCP 47 tag; an unknown tag falls back to English."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale.parse("en_US")


def phrases(tag: str) -> Phrases:
    return PHRASES.get(babel_locale(tag).language, PHRASES["en"])


def part_of_day(hour: int) -> str:
    if hour < 5:
        return "night"
    if hour < 12:
        return "morning"
    if hour < 17:
        return "afternoon"
    return "evening"


@lru_cache(maxsize=4096)
def when(start: datetime, end: datetime | None, sent: datetime, zone: str, tag: str) -> str:
    """How the reader would say when ``start`` was, reading at ``sent``.

    A short span (``end`` given, at most 12 hours later) is named by its part of
    the day ("last night"); a long or open one by its day ("yesterday").
    """
    tz = ZoneInfo(zone)
    local, today = start.astimezone(tz), sent.astimezone(tz).date()
    words = phrases(tag)
    days = (today - local.date()).days
    short = end is not None and timedelta(0) <= end - start <= PART_OF_DAY_LIMIT
    part = part_of_day(local.hour)
    if days == 0:
        if not short:
            return words.earlier_today
        return {
            "night": words.last_night,
            "morning": words.this_morning,
            "afternoon": words.this_afternoon,
            "evening": words.this_evening,
        }[part]
    if days == 1:
        return words.last_night if short and part == "evening" else words.yesterday
    if 1 < days < 7:
        pattern = dict(words.weekday_overrides).get(local.weekday(), words.on_weekday)
        return pattern.format(weekday=weekday_name(local.date(), tag))
    pattern = dict(words.date_overrides).get(local.weekday(), words.on_date)
    return pattern.format(date=full_date(local.date(), tag))


def on_day(moment: datetime, sent: datetime, zone: str, tag: str) -> str:
    """The day of ``moment`` alone: "today", "yesterday", "on Monday", "on <date>"."""
    return when(moment, None, sent, zone, tag)


@lru_cache(maxsize=4096)
def weekday_name(day: date, tag: str) -> str:
    return format_date(day, "EEEE", locale=babel_locale(tag))


@lru_cache(maxsize=4096)
def full_date(day: date, tag: str) -> str:
    """'Tuesday, March 25, 2008' in the reader's language."""
    return format_date(day, "full", locale=babel_locale(tag))


@lru_cache(maxsize=4096)
def long_date(day: date, tag: str) -> str:
    """'March 25, 2008' in the reader's language."""
    return format_date(day, "long", locale=babel_locale(tag))


@lru_cache(maxsize=4096)
def local_time(moment: datetime, zone: str, tag: str) -> str:
    """The clock time of ``moment`` in the reader's zone, e.g. '9:30 PM'."""
    locale = babel_locale(tag)
    pattern = TIME_PATTERNS.get(locale.language, "short")
    return format_time(moment.astimezone(ZoneInfo(zone)), pattern, locale=locale)


# CLDR's short Korean time abbreviates the part of the day as "AM"/"PM"; letters
# spell it as people write it ("오후 7:30").
TIME_PATTERNS = {"ko": "aaaa h:mm"}


def sentence_start(text: str) -> str:
    """Capitalise only the first letter, so 'on Tuesday, March 25' keeps its case."""
    return text[:1].upper() + text[1:]

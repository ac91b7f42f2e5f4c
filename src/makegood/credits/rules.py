"""Pure rules of the ledger: which statement a credit lands on."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from zoneinfo import ZoneInfo


def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, clamped to the month's end."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def statement_date(next_bill_date: date, moment: datetime, zone: str) -> date:
    """The customer's next bill date on or after ``moment`` (their local date).

    A bill date already in the past is rolled forward a month at a time, keeping
    its day of the month, as the billing system would.
    """
    local_day = moment.astimezone(ZoneInfo(zone)).date()
    if next_bill_date >= local_day:
        return next_bill_date
    months = (local_day.year - next_bill_date.year) * 12 + local_day.month - next_bill_date.month
    candidate = add_months(next_bill_date, months)
    return candidate if candidate >= local_day else add_months(next_bill_date, months + 1)


def days_in_month(moment: datetime, zone: str) -> int:
    local = moment.astimezone(ZoneInfo(zone))
    return calendar.monthrange(local.year, local.month)[1]

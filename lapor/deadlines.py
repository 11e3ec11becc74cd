"""Deadlines in working days (SP4N-LAPOR!), with Indonesian holidays and cuti bersama."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import lokal

WIB = ZoneInfo("Asia/Jakarta")

VERIFY_WORKING_DAYS = 3  # verify and forward
RESPOND_WORKING_DAYS = 5  # the unit's first response after forwarding
CLOSE_QUIET_WORKING_DAYS = 10  # no reply from the citizen after a response

_MONTHS = (
    "Januari Februari Maret April Mei Juni Juli Agustus September Oktober "
    "November Desember"
).split()
_DAYS = "Senin Selasa Rabu Kamis Jumat Sabtu Minggu".split()


def local_date(moment: dt.datetime | None = None) -> dt.date:
    """The calendar date in Probolinggo (WIB) at ``moment`` (default: now)."""
    moment = moment or dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(WIB).date()


def add_working_days(start: dt.date, days: int) -> dt.date:
    """``days`` working days after ``start``, skipping weekends, holidays and cuti bersama."""
    return lokal.add_working_days(start, days)


def is_working_day(day: dt.date) -> bool:
    """True when government offices are open on ``day``."""
    return lokal.is_working_day(day)


def verify_due(filed_at: dt.datetime | None = None) -> dt.date:
    """The date by which a new complaint must be verified and forwarded."""
    return add_working_days(local_date(filed_at), VERIFY_WORKING_DAYS)


def format_date(day: dt.date) -> str:
    """Indonesian long date: 'Rabu, 30 Desember 2026'."""
    return f"{_DAYS[day.weekday()]}, {day.day} {_MONTHS[day.month - 1]} {day.year}"

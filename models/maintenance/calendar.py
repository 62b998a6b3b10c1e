"""The festival calendar behind the care tasks: configured festivals as Gregorian dates.

Account managers send festival greetings a few days ahead, so each configured festival has to become a Gregorian
date. A festival is a Gregorian month and day (National Day, 10/1) or a day of the Chinese lunisolar calendar
(Spring Festival lunar 1/1, Dragon Boat 5/5, Mid-Autumn 8/15, Chongyang 9/9, New Year's Eve 12/30).

Lunar dates come from `lunar-python` (MIT, no dependencies), which computes new moons and solar terms
astronomically in China's civil time instead of reading the widely copied 1900-2100 hex table; that table is a day
off in some months (Mid-Autumn 1978, for one). A lunar day that a month lacks (day 30 of a 29-day month, e.g. New
Year's Eve 12/30) falls on the month's last day, and a leap (intercalary) month never holds the festival. A
Gregorian 29 February falls on the 28th in other years. The calendar is a handful of dates a year, computed on the
driver.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from lunar_python import LunarMonth, Solar

CALENDARS = ("gregorian", "lunar")


@dataclass(frozen=True)
class Festival:
    name: str
    calendar: str          # gregorian | lunar
    month: int
    day: int
    lead_days: int = 7     # greetings are due from this many days before the festival

    def __post_init__(self) -> None:
        if self.calendar not in CALENDARS:
            raise ValueError(f"festival {self.name!r}: calendar must be gregorian or lunar, not {self.calendar!r}")
        if not 1 <= self.month <= 12:
            raise ValueError(f"festival {self.name!r}: month {self.month} is not 1..12")
        # A Gregorian day the month never has (31 April) would silently never occur; 2000 is a leap year, so
        # 29 February passes and falls on the 28th in other years.
        top = 30 if self.calendar == "lunar" else monthrange(2000, self.month)[1]
        if not 1 <= self.day <= top:
            raise ValueError(f"festival {self.name!r}: day {self.day} is not 1..{top} for {self.calendar} month "
                             f"{self.month}")
        if self.lead_days < 0:
            raise ValueError(f"festival {self.name!r}: lead_days {self.lead_days} must not be negative")


def _lunar(year: int, month: int, day: int) -> date:
    m = LunarMonth.fromYm(year, month)      # a positive month is the regular one; lunar-python numbers leap ones < 0
    s = Solar.fromJulianDay(m.getFirstJulianDay() + min(day, m.getDayCount()) - 1)
    return date(s.getYear(), s.getMonth(), s.getDay())


def _gregorian(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, monthrange(year, month)[1]))


def occurrences(f: Festival, start: date, end: date) -> list[date]:
    """Every Gregorian date of `f` within [start, end] (both included), sorted. Lunar year Y starts in late January
    or February of Gregorian year Y, so its late months (New Year's Eve) fall in Gregorian Y + 1: the window needs
    the lunar year before its first Gregorian year too."""
    to_date = _lunar if f.calendar == "lunar" else _gregorian
    days = {to_date(y, f.month, f.day) for y in range(start.year - 1, end.year + 1)}
    return sorted(d for d in days if start <= d <= end)


def upcoming(festivals: Iterable[Festival], as_of: date) -> list[tuple[Festival, date]]:
    """Each festival day from `as_of` to `as_of + lead_days` (both included), by date then name."""
    due = [(f, d) for f in festivals for d in occurrences(f, as_of, as_of + timedelta(days=f.lead_days))]
    return sorted(due, key=lambda fd: (fd[1], fd[0].name))

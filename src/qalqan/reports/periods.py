"""Calendar periods of reports and contracts: day, ISO week, month, quarter (UTC).

A contract settles per month or per quarter and a scheme counts per calendar month, so a period
is a calendar unit, never "the last 30 days". The same keys are made two ways — in Python for
period bounds and in polars for grouping — and a test checks they agree.

Examples
--------
>>> period_key(date(2026, 2, 14), "quarter"), period_key(date(2026, 2, 14), "month")
('2026Q1', '2026-02')
>>> [p.key for p in periods_between(date(2026, 1, 20), date(2026, 4, 2), "quarter")]
['2026Q1', '2026Q2']
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:  # polars is imported by the one function that needs it: the CLI starts without it
    import polars as pl

__all__ = [
    "PERIODS", "Period", "PeriodName", "add_months", "date_to_us", "parse_date", "period_bounds",
    "period_expr", "period_key", "periods_between", "us_to_date",
]

PeriodName = Literal["day", "week", "month", "quarter"]
PERIODS: tuple[PeriodName, ...] = ("day", "week", "month", "quarter")
US_PER_DAY = 86_400 * 1_000_000
_EPOCH = date(1970, 1, 1)


class Period(NamedTuple):
    """One calendar period: ``start`` inclusive, ``end`` exclusive."""

    key: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days


class PeriodError(ValueError):
    """A date or period name that cannot be read."""


def parse_date(text: str, option: str = "date") -> date:
    """``2026-02-01`` (a UTC calendar day); the error names the option."""
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise PeriodError(f"{option}: not a date {text!r}; write YYYY-MM-DD") from None


def date_to_us(d: date) -> int:
    """Start of the UTC day, in microseconds since the epoch (the record's ``ts_us``)."""
    return (d - _EPOCH).days * US_PER_DAY


def us_to_date(us: int) -> date:
    return _EPOCH + timedelta(days=us // US_PER_DAY)


def us_to_iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_months(d: date, n: int) -> date:
    """The first day of the month ``n`` months after ``d``'s month."""
    m = d.year * 12 + d.month - 1 + n
    return date(m // 12, m % 12 + 1, 1)


def period_bounds(d: date, period: PeriodName) -> Period:
    """The period that holds day ``d``."""
    if period == "day":
        start, end = d, d + timedelta(days=1)
    elif period == "week":
        start = d - timedelta(days=d.weekday())
        end = start + timedelta(days=7)
    elif period == "month":
        start, end = d.replace(day=1), add_months(d, 1)
    elif period == "quarter":
        start = date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
        end = add_months(start, 3)
    else:
        raise PeriodError(f"period: {period!r} is not one of {', '.join(PERIODS)}")
    return Period(period_key(start, period), start, end)


def period_key(d: date, period: PeriodName) -> str:
    if period == "day":
        return d.isoformat()
    if period == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    if period == "month":
        return f"{d.year}-{d.month:02d}"
    if period == "quarter":
        return f"{d.year}Q{(d.month - 1) // 3 + 1}"
    raise PeriodError(f"period: {period!r} is not one of {', '.join(PERIODS)}")


def periods_between(first: date, last: date, period: PeriodName) -> list[Period]:
    """Every period that holds a day of ``first``..``last`` (both included), in order."""
    out: list[Period] = []
    d = first
    while d <= last:
        p = period_bounds(d, period)
        out.append(p)
        d = p.end
    return out


def period_expr(day: pl.Expr, period: PeriodName) -> pl.Expr:
    """The same key as ``period_key``, for a polars ``Date`` column."""
    import polars as pl

    if period == "day":
        return day.dt.strftime("%Y-%m-%d")
    if period == "week":
        return day.dt.strftime("%G-W%V")
    if period == "month":
        return day.dt.strftime("%Y-%m")
    if period == "quarter":
        return pl.format("{}Q{}", day.dt.year(), day.dt.quarter())
    raise PeriodError(f"period: {period!r} is not one of {', '.join(PERIODS)}")

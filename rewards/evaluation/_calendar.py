"""Local-time reckoning shared by award and spend conditions.

Every rule about days and hours is read in the participant's own time zone, so an event at
23:30 UTC on a Friday is a Saturday purchase for a participant in Europe/Stockholm.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # position + 1 = ISO weekday
OCCASION_PERIODS = ("day", "week", "month")
CAP_PERIODS = ("day", "week", "month", "year", "lifetime")

REFUSED_TIME_WINDOW = "outside_time_window"
REFUSED_WEEKDAY = "weekday_not_allowed"


@lru_cache(maxsize=512)
def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"Unknown time zone {name!r}: expected an IANA name.") from error


def local_time(at: datetime, time_zone: str) -> datetime:
    require_aware(at)
    return at.astimezone(zone_named(time_zone))


def require_aware(at: datetime) -> None:
    # UTC, what the database driver gives, always has an offset: no need to ask it.
    if at.tzinfo is not UTC and at.utcoffset() is None:
        raise ValueError("Naive datetime: evaluation needs aware datetimes.")


def local_midnight(day: date, time_zone: str) -> datetime:
    """The moment ``day`` begins in ``time_zone``, in UTC. Where midnight falls in a daylight
    saving gap, the day begins at the first wall-clock time that exists."""
    return datetime(day.year, day.month, day.day, tzinfo=zone_named(time_zone)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Wall-clock window ``[start, end)`` in minutes since midnight. ``start > end`` crosses
    midnight (22:00-02:00); the part after midnight belongs to the day the window opened."""

    start_minute: int
    end_minute: int

    @property
    def crosses_midnight(self) -> bool:
        return self.start_minute > self.end_minute

    def as_json(self) -> dict[str, str]:
        return {"from": format_minute(self.start_minute), "to": format_minute(self.end_minute)}


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def weekday_and_time_refusal(
    local: datetime, weekdays: frozenset[int], window: TimeWindow | None
) -> str | None:
    """None when ``local`` (already in the participant's zone) is on an allowed weekday and
    inside the window, else the reason. With a window that crosses midnight, Saturday 01:00
    counts as Friday night: the weekday checked is the one on which the window opened."""
    weekday = local.isoweekday()
    if window is not None:
        minute = local.hour * 60 + local.minute
        if not window.crosses_midnight:
            if not window.start_minute <= minute < window.end_minute:
                return REFUSED_TIME_WINDOW
        elif minute < window.end_minute:
            weekday = 7 if weekday == 1 else weekday - 1
        elif minute < window.start_minute:
            return REFUSED_TIME_WINDOW
    if weekdays and weekday not in weekdays:
        return REFUSED_WEEKDAY
    return None


def occasion_in_year(month: int, day: int, year: int) -> date:
    """A birthday or name day in a given year; Feb 29 falls on Feb 28 in common years."""
    if month == 2 and day == 29 and not _is_leap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def in_occasion_period(on: date, month: int, day: int, period: str) -> bool:
    """Is ``on`` within the day, the Monday-Sunday week, or the calendar month of the occasion?
    The week of a Dec 31 birthday can reach into January, so neighbouring years are checked."""
    if period == "month":
        return on.month == month
    if period == "day":
        return on == occasion_in_year(month, day, on.year)
    for year in (on.year - 1, on.year, on.year + 1):
        occasion = occasion_in_year(month, day, year)
        week_start = occasion - timedelta(days=occasion.weekday())
        if week_start <= on <= week_start + timedelta(days=6):
            return True
    return False


def in_season(on: date, start: tuple[int, int], end: tuple[int, int]) -> bool:
    """Inclusive (month, day) season; ``start > end`` wraps the new year (Dec 15 - Jan 6)."""
    month_day = (on.month, on.day)
    if start <= end:
        return start <= month_day <= end
    return month_day >= start or month_day <= end


def period_start(period: str, at: datetime, time_zone: str) -> datetime | None:
    """Start (UTC) of the day, Monday-based week, month or year containing ``at`` in
    ``time_zone``; None for ``lifetime``."""
    if period == "lifetime":
        return None
    today = local_time(at, time_zone).date()
    if period == "day":
        start = today
    elif period == "week":
        start = today - timedelta(days=today.weekday())
    elif period == "month":
        start = today.replace(day=1)
    elif period == "year":
        start = date(today.year, 1, 1)
    else:
        raise ValueError(f"Unknown cap period {period!r}.")
    return local_midnight(start, time_zone)

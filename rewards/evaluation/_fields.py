"""Readers for the offer JSON: each checks one value, records a path-named message on failure
and returns None, so one pass reports every mistake in a document at once."""

import re
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any, NoReturn

from django.core.exceptions import ValidationError

from ._calendar import WEEKDAY_NAMES, TimeWindow

# Far above any real award and still far inside PostgreSQL's bigint after multiplication.
MAX_AMOUNT_MINOR = 10**12
MAX_CODE_LENGTH = 100

_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")


class Errors:
    def __init__(self) -> None:
        self.errors: list[ValidationError] = []

    def add(self, path: str, message: str, code: str = "invalid") -> None:
        text = f"{path}: {message}" if path else message
        self.errors.append(ValidationError(text, code=code))

    def refuse(self) -> NoReturn:
        """Raise what was recorded; callers reach it only after a reader returned None,
        which readers do only after recording an error."""
        raise ValidationError(self.errors)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_object(
    errors: Errors,
    path: str,
    value: Any,
    allowed: Collection[str],
    required: Collection[str] = (),
) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        if path:
            errors.add(path, f"must be an object, not {describe(value)}.", "type")
        else:
            errors.add("", f"Offer rules must be a JSON object, not {describe(value)}.", "type")
        return None
    unknown = sorted(str(key) for key in value if key not in allowed)
    for key in unknown:
        errors.add(
            join(path, key),
            f"unknown key. Allowed keys: {', '.join(sorted(allowed))}.",
            "unknown_key",
        )
    for key in required:
        if key not in value:
            errors.add(join(path, key), "is required.", "required")
    return value


def read_int(
    errors: Errors, path: str, value: Any, *, minimum: int, maximum: int = MAX_AMOUNT_MINOR
) -> int | None:
    # bool is an int in Python; a JSON true must not pass as 1.
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, f"must be a whole number, not {describe(value)}.", "type")
        return None
    if value < minimum:
        errors.add(path, f"must be at least {minimum}, not {value}.", "min_value")
        return None
    if value > maximum:
        errors.add(path, f"must be at most {maximum}, not {value}.", "max_value")
        return None
    return value


def read_bool(errors: Errors, path: str, value: Any) -> bool | None:
    if not isinstance(value, bool):
        errors.add(path, f"must be true or false, not {describe(value)}.", "type")
        return None
    return value


def read_choice(errors: Errors, path: str, value: Any, choices: Collection[str]) -> str | None:
    if not isinstance(value, str) or value not in choices:
        errors.add(
            path,
            f"unknown value {describe(value)}; expected one of {', '.join(choices)}.",
            "choice",
        )
        return None
    return value


def read_codes(errors: Errors, path: str, value: Any) -> frozenset[str] | None:
    if not isinstance(value, list):
        errors.add(path, f"must be a list of codes, not {describe(value)}.", "type")
        return None
    if not value:
        errors.add(path, "must list at least one code; leave the key out to allow any.", "empty")
        return None
    is_valid = True
    for index, code in enumerate(value):
        if not isinstance(code, str) or not code.strip() or code != code.strip():
            errors.add(
                join(path, index),
                f"must be a non-empty code without surrounding spaces, not {describe(code)}.",
                "code",
            )
            is_valid = False
        elif len(code) > MAX_CODE_LENGTH:
            errors.add(join(path, index), f"is longer than {MAX_CODE_LENGTH} characters.", "code")
            is_valid = False
    return frozenset(value) if is_valid else None


def read_weekdays(errors: Errors, path: str, value: Any) -> frozenset[int] | None:
    if not isinstance(value, list) or not value:
        errors.add(path, f"must be a non-empty list of {', '.join(WEEKDAY_NAMES)}.", "type")
        return None
    weekdays = set()
    for index, name in enumerate(value):
        if name not in WEEKDAY_NAMES:
            errors.add(
                join(path, index),
                f"unknown weekday {describe(name)}; expected one of {', '.join(WEEKDAY_NAMES)}.",
                "choice",
            )
            return None
        weekdays.add(WEEKDAY_NAMES.index(name) + 1)
    return frozenset(weekdays)


def read_time_of_day(errors: Errors, path: str, value: Any) -> int | None:
    match = _TIME_OF_DAY.match(value) if isinstance(value, str) else None
    if match is None:
        errors.add(
            path, f"must be a time HH:MM from 00:00 to 23:59, not {describe(value)}.", "time"
        )
        return None
    return int(match[1]) * 60 + int(match[2])


def read_time_window(errors: Errors, path: str, value: Any) -> TimeWindow | None:
    window = read_object(errors, path, value, ("from", "to"), required=("from", "to"))
    if window is None or "from" not in window or "to" not in window:
        return None
    start = read_time_of_day(errors, join(path, "from"), window["from"])
    end = read_time_of_day(errors, join(path, "to"), window["to"])
    if start is None or end is None:
        return None
    if start == end:
        errors.add(path, "from and to must differ; leave time_window out for the whole day.")
        return None
    return TimeWindow(start, end)


def read_date(errors: Errors, path: str, value: Any) -> date | None:
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    errors.add(path, f"must be a date YYYY-MM-DD, not {describe(value)}.", "date")
    return None


def read_moment(errors: Errors, path: str, value: Any) -> date | datetime | None:
    """A date (read in the participant's zone) or an ISO 8601 datetime with a UTC offset."""
    if isinstance(value, str) and _DATE.match(value):
        return read_date(errors, path, value)
    if isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None:
            if moment.utcoffset() is None:
                errors.add(path, f"datetime {value!r} needs a UTC offset such as +01:00 or Z.")
                return None
            return moment
    errors.add(
        path,
        f"must be a date YYYY-MM-DD or a datetime YYYY-MM-DDTHH:MM+HH:MM, not {describe(value)}.",
        "datetime",
    )
    return None


def read_month_day(errors: Errors, path: str, value: Any) -> tuple[int, int] | None:
    match = _MONTH_DAY.match(value) if isinstance(value, str) else None
    if match is not None:
        month, day = int(match[1]), int(match[2])
        try:
            date(2000, month, day)  # a leap year, so 02-29 is a real month-day
        except ValueError:
            pass
        else:
            return (month, day)
    errors.add(path, f"must be a month-day MM-DD such as 12-24, not {describe(value)}.", "date")
    return None

"""Validation of EventBridge schedule expressions (``cron(...)`` and ``rate(...)``).

EventBridge rejects a bad expression only at deploy time, minutes into ``pulumi up``;
checking the grammar here lets the settings report it up front with the other errors.
Grammar from the EventBridge user guide ("cron and rate expressions").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    extra: str  # special characters allowed beyond , - * /
    names: tuple[str, ...] = ()


_FIELDS = (
    _Field("minutes", 0, 59, ""),
    _Field("hours", 0, 23, ""),
    _Field("day-of-month", 1, 31, "?LW"),
    _Field("month", 1, 12, "", _MONTHS),
    _Field("day-of-week", 1, 7, "?L#", _DAYS),
    _Field("year", 1970, 2199, ""),
)


def _value_ok(token: str, field: _Field) -> bool:
    if token in field.names:
        return True
    return token.isdigit() and field.low <= int(token) <= field.high


def _field_problem(text: str, field: _Field) -> str | None:
    if text == "?":
        return None if "?" in field.extra else f"{field.name} cannot be ?"
    for item in text.split(","):
        base, _, step = item.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return f"{field.name} has a bad increment {item!r}"
        if base == "*":
            continue
        if "L" in field.extra and (base == "L" or (base.endswith("L") and _value_ok(base[:-1], field))):
            continue
        if "W" in field.extra and base.endswith("W") and _value_ok(base[:-1], field):
            continue
        if "#" in field.extra and "#" in base:
            day, _, nth = base.partition("#")
            if _value_ok(day, field) and nth in {"1", "2", "3", "4", "5"}:
                continue
            return f"{field.name} has a bad nth-day {base!r}"
        bounds = base.split("-")
        if len(bounds) > 2 or not all(_value_ok(bound, field) for bound in bounds):
            return f"{field.name} value {base!r} is outside {field.low}-{field.high}"
    return None


def schedule_expression_problem(expression: str) -> str | None:
    """What is wrong with ``expression`` as an EventBridge schedule, or None when it is valid."""
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            return "rate must be at least 1"
        if (value == 1) != (not unit.endswith("s")):
            return f"rate unit must be {'singular' if value == 1 else 'plural'} for {value}"
        return None
    cron = _CRON.match(expression)
    if not cron:
        return "not a schedule expression (expected cron(...) or rate(...))"
    parts = cron.group(1).split()
    if len(parts) != len(_FIELDS):
        return f"cron needs 6 fields (minutes hours day-of-month month day-of-week year), got {len(parts)}"
    for text, field in zip(parts, _FIELDS, strict=True):
        if problem := _field_problem(text, field):
            return problem
    day_of_month, day_of_week = parts[2], parts[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        return "exactly one of day-of-month and day-of-week must be ?"
    return None

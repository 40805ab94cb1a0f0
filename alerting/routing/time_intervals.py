"""Named time intervals that mute or activate a route (Alertmanager's ``time_intervals``): quiet hours and the like.

An interval is a list of periods; a period matches when every field it sets
matches (an unset field matches always): ``times`` (``HH:MM`` ranges, end
exclusive), ``weekdays`` (``monday:friday``), ``days_of_month`` (``1:5``,
``-1`` for the last day), ``months`` (``january:march`` or ``1:3``), in
``location`` (an IANA zone, default UTC).

>>> from datetime import datetime, timezone
>>> night = TimeInterval.model_validate({"name": "night", "periods": [
...     {"times": [{"start_time": "22:00", "end_time": "24:00"}, {"start_time": "00:00", "end_time": "07:00"}],
...      "location": "Asia/Shanghai"}]})
>>> night.contains(datetime(2026, 12, 5, 15, 30, tzinfo=timezone.utc))  # 23:30 in Shanghai
True
>>> night.contains(datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc))  # 11:00 in Shanghai
False
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from core.settings import Section

_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class TimeRange(Section):
    """``start_time`` to ``end_time`` (``HH:MM``, end exclusive, ``24:00`` allowed)."""

    start_time: str = Field(description="HH:MM")
    end_time: str = Field(description="HH:MM (exclusive; 24:00 is the end of the day)")

    @field_validator("start_time", "end_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        found = _HHMM.match(value)
        if not found or (found.group(1) == "24" and found.group(2) != "00"):
            raise ValueError(f"time {value!r} must be HH:MM between 00:00 and 24:00")
        return value

    def minutes(self) -> tuple[int, int]:
        """Start and end as minutes of the day."""
        (sh, sm), (eh, em) = (map(int, t.split(":")) for t in (self.start_time, self.end_time))
        return sh * 60 + sm, eh * 60 + em


class Period(Section):
    """One period of a time interval (every field it sets must match)."""

    times: list[TimeRange] | None = Field(default=None, description="Times of day")
    weekdays: list[str] | None = Field(default=None, description="monday, or ranges like monday:friday")
    days_of_month: list[str] | None = Field(default=None, description="1, 1:10, -1 (the last day)")
    months: list[str] | None = Field(default=None, description="january, january:march, or 1:3")
    location: str = Field(default="UTC", description="IANA time zone the fields are in, e.g. Asia/Shanghai")

    @field_validator("location")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"location {value!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)") from None
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            _range(item, _WEEKDAYS, "weekday")
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            _range(item, _MONTHS, "month")
        return value

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            _range(item, {}, "day of month")
        return value

    def contains(self, when: datetime) -> bool:
        """Whether the (aware) instant falls in this period."""
        local = when.astimezone(ZoneInfo(self.location))
        if self.times is not None:
            minute = local.hour * 60 + local.minute
            if not any(start <= minute < end for start, end in (t.minutes() for t in self.times)):
                return False
        if self.weekdays is not None and not _in_ranges(local.weekday(), self.weekdays, _WEEKDAYS, "weekday"):
            return False
        if self.months is not None and not _in_ranges(local.month, self.months, _MONTHS, "month"):
            return False
        if self.days_of_month is not None:
            last = calendar.monthrange(local.year, local.month)[1]
            days = [_range(item, {}, "day of month") for item in self.days_of_month]
            if not any(_day(a, last) <= local.day <= _day(b, last) for a, b in days):
                return False
        return True


class TimeInterval(Section):
    """A named time interval (``alerting.time_intervals``)."""

    name: str = Field(min_length=1, description="Referenced by routes' mute_time_intervals / active_time_intervals")
    periods: list[Period] = Field(min_length=1, description="The interval is the union of these periods")

    def contains(self, when: datetime) -> bool:
        """Whether the instant falls in any period."""
        return any(p.contains(when) for p in self.periods)


def _day(day: int, last: int) -> int:
    return day if day > 0 else last + 1 + day


def _range(text: str, names: dict[str, int], what: str) -> tuple[int, int]:
    def one(part: str) -> int:
        part = part.strip().lower()
        if part in names:
            return names[part]
        try:
            number = int(part)
        except ValueError:
            raise ValueError(f"{what} {text!r}: {part!r} is not a {what}") from None
        return number

    low, _, high = text.partition(":")
    return one(low), one(high or low)


def _in_ranges(value: int, items: list[str], names: dict[str, int], what: str) -> bool:
    return any(a <= value <= b for a, b in (_range(item, names, what) for item in items))

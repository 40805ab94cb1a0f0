"""How traffic volume moves with time: daily cycle, weekends, and the billing-SMS calendar.

Every daily shape averages 1 over a day, so a stream's base rate is its mean over a
weekday. Shapes follow the network's local time (``utc_offset_h``): a trough around
04:00, a peak in the late morning and another in the evening.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from simulator.catalog import SMS_KINDS

Shape = Callable[[float], float]


def _bump(hour: float, centre: float, width: float) -> float:
    """A bell around ``centre`` (hours), wrapping around midnight."""
    distance = (hour - centre + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (distance / width) ** 2)


def _people(hour: float) -> float:
    """When people call and use apps: low at night, peaks late morning and evening."""
    return 0.08 + _bump(hour, 11.0, 2.6) + 0.45 * _bump(hour, 15.5, 2.5) + 0.85 * _bump(hour, 20.0, 2.6)


def _office(hour: float) -> float:
    """Batch sends and CRM desks: business hours."""
    return 0.03 + _bump(hour, 10.5, 2.2) + 0.6 * _bump(hour, 15.0, 2.0)


def _marketing(hour: float) -> float:
    """Marketing SMS: daytime only (night sends are not allowed)."""
    return 0.01 + _bump(hour, 11.0, 1.8) + 0.8 * _bump(hour, 19.0, 1.8)


def _notification(hour: float) -> float:
    """Service notifications: around the clock, more when people are active."""
    return 0.25 + _people(hour)


def _complaints(hour: float) -> float:
    """Complaint tickets: hotline opening hours, a second wave after work."""
    return 0.03 + _bump(hour, 10.5, 2.2) + 0.8 * _bump(hour, 19.5, 2.0)


def _normalised(shape: Shape) -> Shape:
    mean = sum(shape(minute / 60.0) for minute in range(1440)) / 1440.0
    return lambda hour: shape(hour) / mean


#: Daily shape per SMS kind, in ``SMS_KINDS`` order.
_SMS_SHAPES: tuple[Shape, ...] = tuple(map(_normalised, (_people, _office, _notification, _marketing)))
_CALLS = _normalised(_people)
_COMPLAINTS = _normalised(_complaints)
_PEAK_LOAD = max(_people(minute / 60.0) for minute in range(1440))

CALLS_WEEKEND = 0.75
SMS_WEEKEND: tuple[float, ...] = (0.9, 1.0, 0.85, 0.6)
COMPLAINTS_WEEKEND = 0.8


def billing_factor(day_of_month: int) -> float:
    """Billing-reminder volume by day of month: the 1st, the 2nd-10th, the rest (mean 1 over 30 days)."""
    if day_of_month == 1:
        return 5.0
    if day_of_month <= 10:
        return 2.0
    return 0.35


class TrafficProfile:
    """Volume multipliers at a moment of simulated time (epoch seconds).

    >>> profile = TrafficProfile(utc_offset_h=0)
    >>> wednesday = datetime(2026, 11, 18, tzinfo=UTC).timestamp()
    >>> profile.calls(wednesday + 4 * 3600) < 0.2 < 1.5 < profile.calls(wednesday + 11 * 3600)
    True
    """

    def __init__(self, utc_offset_h: float) -> None:
        self.offset_s = utc_offset_h * 3600.0

    def _local(self, t: float) -> tuple[float, bool, int]:
        local = datetime.fromtimestamp(t + self.offset_s, UTC)
        hour = local.hour + local.minute / 60.0 + local.second / 3600.0
        return hour, local.weekday() >= 5, local.day

    def calls(self, t: float) -> float:
        """Call attempts."""
        hour, weekend, _ = self._local(t)
        return _CALLS(hour) * (CALLS_WEEKEND if weekend else 1.0)

    def sms(self, t: float) -> NDArray[np.float64]:
        """SMS per kind, in ``SMS_KINDS`` order; billing reminders follow the calendar."""
        hour, weekend, day = self._local(t)
        factors = [shape(hour) for shape in _SMS_SHAPES]
        if weekend:
            factors = [f * w for f, w in zip(factors, SMS_WEEKEND, strict=True)]
        factors[SMS_KINDS.index("billing_reminder")] *= billing_factor(day)
        return np.array(factors)

    def complaints(self, t: float) -> float:
        """Complaint tickets."""
        hour, weekend, _ = self._local(t)
        return _COMPLAINTS(hour) * (COMPLAINTS_WEEKEND if weekend else 1.0)

    def load(self, t: float) -> float:
        """Radio load relative to the busiest hour of a weekday, in (0, 1]."""
        hour, weekend, _ = self._local(t)
        return _people(hour) / _PEAK_LOAD * (CALLS_WEEKEND if weekend else 1.0)

"""The SMS budget: per-channel daily capacity by calendar template, and a per-recipient rate limit.

Operators plan SMS capacity by the calendar: the 1st of the month (bills go
out), the 2nd to the 10th, and the rest of the month. Each SMS channel gets a
daily message capacity per template (``first_day``, ``days_2_10``, ``rest``),
and every recipient at most ``per_recipient_per_hour`` messages an hour.
Within both an SMS is sent; past either a non-critical SMS goes into the
recipient's digest (sent when budget is back, the IM group still gets every
message); a critical SMS is sent anyway and the excess recorded with its
reason: nothing critical is dropped.

>>> from datetime import datetime, timezone
>>> budget = SmsBudget(SmsBudgetSettings(capacity={"first_day": 1, "days_2_10": 5, "rest": 5}))
>>> day1 = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
>>> budget.admit("106900001", "8613800000001", "warning", day1).action
'send'
>>> d = budget.admit("106900001", "8613800000002", "warning", day1); d.action, d.reason
('digest', 'channel 106900001 has sent its 1 SMS for 2026-12-01 (template first_day)')
>>> budget.admit("106900001", "8613800000002", "critical", day1).action
'send_over_budget'
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from core.settings import Section

Template = Literal["first_day", "days_2_10", "rest"]
#: Alert SMS per channel per day by template (a few percent of a channel's daily capacity).
DEFAULT_CAPACITY: dict[Template, int] = {"first_day": 2000, "days_2_10": 5000, "rest": 10000}


class SmsBudgetSettings(Section):
    """``alerting.sms_budget``: capacity per channel and day by calendar template, and a per-recipient limit."""

    capacity: dict[Template, int] = Field(
        default_factory=lambda: dict(DEFAULT_CAPACITY),
        description="Alert SMS per channel per day: on the 1st of the month, the 2nd-10th, and the rest",
    )
    per_channel: dict[str, dict[Template, int]] = Field(
        default_factory=dict, description="Channel (sender id) → its own capacity per template"
    )
    per_recipient_per_hour: int = Field(default=10, ge=1, description="At most this many alert SMS a recipient an hour")
    location: str = Field(default="Asia/Shanghai", description="Time zone the calendar days are counted in")

    @field_validator("capacity")
    @classmethod
    def _complete(cls, value: dict[Template, int]) -> dict[Template, int]:
        missing = {"first_day", "days_2_10", "rest"} - set(value)
        if missing:
            raise ValueError(f"capacity needs first_day, days_2_10 and rest; missing: {', '.join(sorted(missing))}")
        return value


def template_of(day: date) -> Template:
    """The calendar template in force on a day."""
    if day.day == 1:
        return "first_day"
    return "days_2_10" if day.day <= 10 else "rest"


def capacity_of(settings: SmsBudgetSettings, channel: str, day: date) -> int:
    """A channel's capacity on a day: its own table's entry for the day's template, else the default's."""
    table = settings.per_channel.get(channel, settings.capacity)
    return table.get(template_of(day), settings.capacity[template_of(day)])


@dataclass(frozen=True)
class BudgetUse:
    """An SMS channel's budget on one calendar day: the template in force, the capacity, the SMS counted so far."""

    channel: str
    day: date
    template: Template
    capacity: int
    sent_today: int


@dataclass(frozen=True)
class Decision:
    """What to do with one SMS: send, send though over budget (critical), or put into the digest."""

    action: Literal["send", "send_over_budget", "digest"]
    reason: str = ""
    #: A digest: when the budget allows SMS again (the next local day, or an hour on for the recipient).
    reopens_at: datetime | None = None


def day_start(now: datetime, location: str) -> datetime:
    """The start of ``now``'s calendar day in ``location`` (budgets are counted per local day)."""
    zone = ZoneInfo(location)
    return datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)


def decide(
    settings: SmsBudgetSettings, channel: str, severity: str, now: datetime, sent_today: int, sent_last_hour: int
) -> Decision:
    """One SMS's decision from what the channel sent today and the recipient in the last hour (kept elsewhere,
    e.g. counted in the ledger's outbox): send, send over budget when critical, or digest."""
    start = day_start(now, settings.location)
    day = start.date()
    capacity = capacity_of(settings, channel, day)
    if sent_today >= capacity:
        reason = f"channel {channel} has sent its {capacity} SMS for {day} (template {template_of(day)})"
        reopens = (start + timedelta(days=1)).astimezone(now.tzinfo)
    elif sent_last_hour >= settings.per_recipient_per_hour:
        reason = f"recipient had {sent_last_hour} SMS in the last hour (limit {settings.per_recipient_per_hour})"
        reopens = now + timedelta(hours=1)
    else:
        return Decision("send")
    if severity == "critical":
        return Decision("send_over_budget", reason)
    return Decision("digest", reason, reopens)


class SmsBudget:
    """Counts what each channel and recipient was sent (see the module docstring)."""

    def __init__(self, settings: SmsBudgetSettings) -> None:
        self.settings = settings
        self._zone = ZoneInfo(settings.location)
        self._sent: dict[tuple[str, date], int] = defaultdict(int)
        self._recent: dict[str, deque[float]] = defaultdict(deque)

    def capacity(self, channel: str, day: date) -> int:
        """The channel's capacity on that day."""
        return capacity_of(self.settings, channel, day)

    def admit(self, channel: str, recipient: str, severity: str, now: datetime) -> Decision:
        """Decide one SMS and count it when it is sent."""
        day = now.astimezone(self._zone).date()
        stamp = now.timestamp()
        recent = self._recent[recipient]
        while recent and recent[0] <= stamp - 3600:
            recent.popleft()
        capacity = self.capacity(channel, day)
        reason = ""
        if self._sent[(channel, day)] >= capacity:
            reason = f"channel {channel} has sent its {capacity} SMS for {day} (template {template_of(day)})"
        elif len(recent) >= self.settings.per_recipient_per_hour:
            reason = f"recipient had {len(recent)} SMS in the last hour (limit {self.settings.per_recipient_per_hour})"
        if reason and severity != "critical":
            return Decision("digest", reason)
        self._sent[(channel, day)] += 1
        recent.append(stamp)
        return Decision("send_over_budget", reason) if reason else Decision("send")

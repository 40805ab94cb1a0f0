"""Silences: matchers over a time window, created by a person with a comment, that mute matching alerts.

The ledger stores them (``alerting.ledger``); this module decides whether one
applies. A silence is *active* from ``starts_at`` (inclusive) to ``ends_at``
(exclusive) and mutes an alert whose labels match all its matchers.

>>> from datetime import datetime, timedelta, timezone
>>> now = datetime(2026, 12, 5, 12, tzinfo=timezone.utc)
>>> s = Silence("s1", ('region="north"',), now - timedelta(hours=1), now + timedelta(hours=1), "li.wei", "maintenance")
>>> s.mutes({"region": "north", "metric": "call_drop_rate"}, now), s.mutes({"region": "south"}, now)
(True, False)
>>> s.state(now + timedelta(hours=2))
'expired'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from alerting.routing.matchers import Matcher, matches_all


@dataclass(frozen=True)
class Silence:
    """One silence (as the ledger keeps it)."""

    id: str
    matchers: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    _parsed: tuple[Matcher, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError("a silence needs at least one matcher (a silence of everything is refused)")
        if self.ends_at <= self.starts_at:
            raise ValueError(f"silence {self.id}: ends_at must be after starts_at")
        object.__setattr__(self, "_parsed", tuple(Matcher.parse(m) for m in self.matchers))

    def state(self, now: datetime) -> Literal["pending", "active", "expired"]:
        """Where the silence is in its window at ``now``."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        """Whether the silence is active and matches the labels."""
        return self.state(now) == "active" and matches_all(self._parsed, labels)


def silenced_by(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> list[str]:
    """The ids of the active silences that mute an alert with these labels."""
    return [s.id for s in silences if s.mutes(labels, now)]

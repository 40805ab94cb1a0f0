"""Aggregation groups, with Alertmanager's timing: one notification per group of alerts, not one per alert.

Alerts that a route takes with the same group key (``Route.group_key``) form a
group. A new group is notified ``group_wait`` after its first alert (so an
outage's many alerts arrive as one message); after that, changes (a new alert,
one resolved) are notified at most every ``group_interval``, and an unchanged
group is notified again after ``repeat_interval``. A resolved alert leaves the
group once its resolution has been notified; an empty group ends.

Everything takes ``now``: the stage reads no clock, so it replays exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from alerting.routing.routes import Route

Status = Literal["firing", "resolved"]
GroupKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class GroupedAlert:
    """An alert as a group holds it."""

    alert_id: str
    labels: Mapping[str, str]
    status: Status


@dataclass(frozen=True)
class Flush:
    """A notification due for a group: its route, key, alerts and why now."""

    route: Route
    key: GroupKey
    alerts: tuple[GroupedAlert, ...]
    reason: Literal["first", "changed", "repeat"]


@dataclass
class _Group:
    route: Route
    alerts: dict[str, GroupedAlert] = field(default_factory=dict)
    next_at: float = 0.0
    last_sent_at: float | None = None
    sent: frozenset[tuple[str, Status]] = frozenset()


class Grouper:
    """The aggregation groups of all routes (see the module docstring)."""

    def __init__(self) -> None:
        self._groups: dict[GroupKey, _Group] = {}

    def add(self, route: Route, alert: GroupedAlert, now: float) -> GroupKey:
        """Put a firing or resolved alert into its group on ``route``; the group's key."""
        key: GroupKey = (route.path, route.group_key(alert.labels))
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(route, next_at=now + route.group_wait_s)
        group.alerts[alert.alert_id] = alert
        return key

    def next_due(self) -> float | None:
        """When the next group is due (None: no groups)."""
        return min((g.next_at for g in self._groups.values()), default=None)

    def due(self, now: float) -> list[Flush]:
        """The notifications due at ``now``; groups are advanced as if they were sent."""
        flushes: list[Flush] = []
        for key, group in list(self._groups.items()):
            if group.next_at > now:
                continue
            state = frozenset((a.alert_id, a.status) for a in group.alerts.values())
            route = group.route
            if group.last_sent_at is None:
                reason: Literal["first", "changed", "repeat"] | None = "first"
            elif state != group.sent:
                reason = "changed"
            elif now - group.last_sent_at >= route.repeat_interval_s:
                reason = "repeat"
            else:
                reason = None
            if reason is not None:
                flushes.append(Flush(route, key, tuple(group.alerts.values()), reason))
                group.sent, group.last_sent_at = state, now
                for alert_id in [a.alert_id for a in group.alerts.values() if a.status == "resolved"]:
                    del group.alerts[alert_id]
            if not group.alerts:
                del self._groups[key]
                continue
            group.next_at = now + route.group_interval_s
        return flushes

    def __len__(self) -> int:
        return len(self._groups)

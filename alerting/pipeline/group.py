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

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from alerting.ledger.groups import GroupRef
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


Reason = Literal["first", "changed", "repeat"]


def flush_reason(
    state: Mapping[str, str], sent: Mapping[str, str], last_sent_at: float | None, now: float, repeat_interval_s: float
) -> Reason | None:
    """Why a due group is notified now (None: it is not): first time, its alerts changed, or repeat."""
    if last_sent_at is None:
        return "first" if state else None
    if dict(state) != dict(sent):
        return "changed"
    if state and now - last_sent_at >= repeat_interval_s:
        return "repeat"
    return None


def group_ref(route: Route, labels: Mapping[str, str]) -> GroupRef:
    """The group an alert with ``labels`` joins on ``route``, for the ledger."""
    group_labels = dict(route.group_key(labels))
    digest = hashlib.blake2b(
        json.dumps([route.path, sorted(group_labels.items())]).encode(), digest_size=16
    ).hexdigest()
    return GroupRef(
        key=digest,
        route=route.path,
        receiver=route.receiver,
        labels=group_labels,
        group_wait_s=route.group_wait_s,
        group_interval_s=route.group_interval_s,
        repeat_interval_s=route.repeat_interval_s,
    )


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
            reason = flush_reason(dict(state), dict(group.sent), group.last_sent_at, now, route.repeat_interval_s)
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

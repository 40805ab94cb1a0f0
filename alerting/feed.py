"""The feed to InfluxDB: every alert transition, delivery attempt and escalation step in the ledger, as line
protocol; and every :data:`SNAPSHOT_S` seconds, a snapshot of the open alerts and of the SMS budget.

It reads the ledger's new rows by id at each tick; after a restart it starts
again from the first row, and InfluxDB keeps one point per series and time, so
writing a point twice changes nothing. A snapshot is stamped with the start of
the 30-second slot it was taken in: workers sharing a ledger, or a worker
restarted within the slot, overwrite that slot's points instead of adding some.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from alerting.labels import is_incident
from alerting.ledger import Ledger
from alerting.pipeline.plan import Planner
from core.influx_schema import (
    AGE_BUCKETS,
    OPEN_STATUSES,
    SEVERITY_LEVELS,
    age_bucket,
    alert_line,
    alerts_open_line,
    budget_line,
    delivery_line,
    escalation_line,
)

#: Seconds between two snapshots (open alerts, SMS budget).
SNAPSHOT_S = 30
#: The vendor of an attempt the ledger did not record one for (before migration 0005, or a vanished worker's claim).
UNKNOWN_VENDOR = "unknown"


def snapshot_slot(now: datetime) -> datetime:
    """The start of the :data:`SNAPSHOT_S` slot ``now`` is in (a snapshot's time).

    >>> snapshot_slot(datetime(2026, 12, 8, 2, 0, 59, 999999, tzinfo=UTC)).isoformat()
    '2026-12-08T02:00:30+00:00'
    """
    seconds = int(now.timestamp()) // SNAPSHOT_S * SNAPSHOT_S
    return datetime.fromtimestamp(seconds, tz=UTC)


def open_alert_lines(ledger: Ledger, now: datetime) -> list[str]:
    """``telewatch_alerts_open``: the open alerts at ``now`` by severity, status and age since first fired, one point
    for every combination (zeros included); ``correlated``: how many are correlated incidents."""
    count: Counter[tuple[str, str, str]] = Counter()
    correlated: Counter[tuple[str, str, str]] = Counter()
    for alert, fired_at in ledger.open_alerts_fired():
        cell = (alert.severity, alert.status, age_bucket((now - fired_at).total_seconds()))
        count[cell] += 1
        correlated[cell] += is_incident(alert.fingerprint)
    grid = [(s, st, age) for s in SEVERITY_LEVELS for st in OPEN_STATUSES for age, _ in AGE_BUCKETS]
    cells = grid + sorted(set(count) - set(grid))  # a severity outside the four is still counted
    ts = snapshot_slot(now)
    return [alerts_open_line(s, st, age, count[s, st, age], correlated[s, st, age], ts) for s, st, age in cells]


def budget_lines(ledger: Ledger, planner: Planner, now: datetime) -> list[str]:
    """``telewatch_budget``: every SMS channel's template, capacity and SMS counted today, as the budget counts."""
    ts = snapshot_slot(now)
    return [
        budget_line(use.channel, use.template, use.capacity, use.sent_today, ts)
        for use in planner.sms_budgets(now, ledger.count_queued)
    ]


class Feed:
    """Turns the ledger's new transitions, attempts and escalation steps into InfluxDB lines."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.last_transition = 0
        self.last_attempt = 0
        self.last_escalation = 0
        self.last_snapshot: datetime | None = None

    def lines(self) -> list[str]:
        """The lines of the rows added since the previous call."""
        found: list[str] = []
        for t in self.ledger.transitions_after(self.last_transition):
            labels = {k: str(v) for k, v in t.labels.items()}
            since = (t.at - t.fired_at).total_seconds()
            found.append(
                alert_line(labels, t.alert_id, t.from_status, t.to_status or "", t.by, t.via, t.at, since_fired_s=since)
            )
            self.last_transition = t.id
        for a in self.ledger.attempts_after(self.last_attempt):
            latency = (a.at - a.queued_at).total_seconds()
            vendor = a.vendor or UNKNOWN_VENDOR
            found.append(delivery_line(a.channel, a.recipient, a.outcome, a.attempt, latency, a.at, vendor=vendor))
            self.last_attempt = a.id
        for e in self.ledger.escalations_after(self.last_escalation):
            metric = str(e.labels.get("metric", ""))
            found.append(escalation_line(metric, e.severity, e.step, e.alert_id, e.targets, e.at, e.id % 1000))
            self.last_escalation = e.id
        return found

    def snapshot(self, planner: Planner, now: datetime) -> list[str]:
        """The open-alerts and SMS-budget snapshot lines, once per :data:`SNAPSHOT_S` slot (the first call, and
        then the first in each new slot); otherwise none."""
        slot = snapshot_slot(now)
        if slot == self.last_snapshot:
            return []
        found = open_alert_lines(self.ledger, now) + budget_lines(self.ledger, planner, now)
        self.last_snapshot = slot
        return found

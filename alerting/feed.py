"""The feed to InfluxDB: every alert transition and delivery attempt in the ledger, as line protocol.

It reads the ledger's new rows by id at each tick; after a restart it starts
again from the first row, and InfluxDB keeps one point per series and time, so
writing a point twice changes nothing.
"""

from __future__ import annotations

from alerting.ledger import Ledger
from core.influx_schema import alert_line, delivery_line


class Feed:
    """Turns the ledger's new transitions and attempts into InfluxDB lines."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.last_transition = 0
        self.last_attempt = 0

    def lines(self) -> list[str]:
        """The lines of the rows added since the previous call."""
        found: list[str] = []
        for t in self.ledger.transitions_after(self.last_transition):
            labels = {k: str(v) for k, v in t.labels.items()}
            found.append(alert_line(labels, t.alert_id, t.from_status, t.to_status or "", t.by, t.via, t.at))
            self.last_transition = t.id
        for a in self.ledger.attempts_after(self.last_attempt):
            latency = (a.at - a.queued_at).total_seconds()
            found.append(delivery_line(a.channel, a.recipient, a.outcome, a.attempt, latency, a.at))
            self.last_attempt = a.id
        return found

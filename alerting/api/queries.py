"""Reads the API and the pages share: the hotline's view of open and recently resolved alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

from alerting.hotline import OpenAlert
from alerting.ledger import Ledger
from alerting.owners import OwnersRegistry

#: A resolved incident is still worth telling a caller about for this long.
RECENTLY_RESOLVED = timedelta(hours=2)


def hotline_alerts(ledger: Ledger, registry: OwnersRegistry, now: datetime) -> list[OpenAlert]:
    """Open alerts and those resolved within :data:`RECENTLY_RESOLVED`, with who is handling each (by name)."""
    found: list[OpenAlert] = []
    for alert in ledger.alerts():
        if alert.status == "resolved" and (alert.resolved_at is None or now - alert.resolved_at > RECENTLY_RESOLVED):
            continue
        handled_by = ""
        if alert.status == "acknowledged":
            acks = [e for e in ledger.history(alert.id) if e.to_status == "acknowledged"]
            if acks:
                person = registry.people.get(acks[-1].by)
                handled_by = person.name if person is not None else acks[-1].by
        labels = {k: str(v) for k, v in alert.labels.items()}
        found.append(OpenAlert(str(alert.id), labels, alert.status, alert.started_at, handled_by))
    return found

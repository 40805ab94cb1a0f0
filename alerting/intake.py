"""Intake: records of the anomalies topic become alerts in the ledger (dedup by fingerprint) and join their groups.

An anomaly opens its series' alert or updates the open one; a recovery counts
the series' normal windows and resolves its alerts after
``alerting.resolve_after_windows``. A new or resolved alert joins the
aggregation group of every route that takes it. A batch's effects and its
consumer mark are written in one transaction: a record read again after a
crash changes nothing, and a crash mid-batch leaves nothing half done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from alerting.labels import alert_fingerprint, alert_labels, series_fingerprint
from alerting.ledger import Alert, Ledger
from alerting.pipeline.group import group_ref
from alerting.routing.routes import Router
from alerting.settings import AlertingSettings
from core.contracts import AnomaliesRecord, Anomaly, Recovery

log = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder(AnomaliesRecord)


@dataclass
class IntakeCounts:
    """What intake did (this process)."""

    anomalies: int = 0
    recoveries: int = 0
    opened: int = 0
    resolved: int = 0
    skipped: int = 0
    malformed: int = 0
    #: The last malformed records' reasons (for the status file), newest last.
    problems: list[str] = field(default_factory=list)


class Intake:
    """Applies batches of the anomalies topic to the ledger (see the module docstring)."""

    def __init__(self, ledger: Ledger, settings: AlertingSettings) -> None:
        self.ledger = ledger
        self.counts = IntakeCounts()
        self.reconfigure(settings)

    def reconfigure(self, settings: AlertingSettings) -> None:
        """Route and resolve with new settings from the next record on."""
        self.settings = settings
        self.router = Router(settings.route_tree())

    def take(self, source: str, records: Sequence[tuple[int, bytes]], now: datetime) -> None:
        """Apply ``(offset, payload)`` records of one partition (``source``: ``topic/partition``), in order."""
        if not records:
            return
        ledger = self.ledger
        with ledger.transaction():
            done = ledger.mark(source)
            for offset, payload in records:
                if done is not None and offset <= done:
                    self.counts.skipped += 1
                    continue
                try:
                    record = _decoder.decode(payload)
                except (msgspec.DecodeError, msgspec.ValidationError) as error:
                    self._malformed(source, offset, str(error))
                    continue
                if isinstance(record, Anomaly):
                    self._anomaly(record, now)
                else:
                    self._recovery(record, now)
            ledger.set_mark(source, records[-1][0], now)

    def _anomaly(self, anomaly: Anomaly, now: datetime) -> None:
        self.counts.anomalies += 1
        labels = alert_labels(anomaly)
        owned = self.settings.owners.owner_of(labels)
        escalates = owned is not None and owned[1].escalation is not None
        annotations: dict[str, Any] = {
            "lower": anomaly.lower,
            "upper": anomaly.upper,
            "score": anomaly.score,
            "severity": anomaly.severity,
            "detector": anomaly.detector,
            "description": "; ".join(e.description for e in anomaly.evidence if e.description),
            "ts": anomaly.ts.isoformat(),
        }
        observed = self.ledger.observe(
            alert_fingerprint(anomaly),
            labels,
            anomaly.value,
            now,
            expected=anomaly.expected,
            escalate_at=now if escalates else None,
            started_at=anomaly.started_at,
            annotations=annotations,
        )
        if observed.new:
            self.counts.opened += 1
            self._join_groups(observed.alert, "firing", now)

    def _recovery(self, recovery: Recovery, now: datetime) -> None:
        self.counts.recoveries += 1
        resolve_after = self.settings.resolve_after_windows
        for alert in self.ledger.open_alerts_of(series_fingerprint(recovery.series)):
            done = self.ledger.record_normal(
                alert.fingerprint, now, resolve_after, normal_windows=recovery.normal_windows
            )
            if done is not None and done.alert.status == "resolved":
                self.counts.resolved += 1
                self._join_groups(done.alert, "resolved", now)

    def _join_groups(self, alert: Alert, status: str, now: datetime) -> None:
        labels = {k: str(v) for k, v in alert.labels.items()}
        for route in self.router.routes_for(labels):
            self.ledger.join_group(group_ref(route, labels), alert.id, status, now)

    def _malformed(self, source: str, offset: int, reason: str) -> None:
        self.counts.malformed += 1
        problem = f"{source}@{offset}: {reason}"
        self.counts.problems = [*self.counts.problems[-9:], problem]
        log.warning("alerting: skipped a record the anomalies contract refuses: %s", problem)

"""The alerting worker: anomalies become alerts, alerts become messages to the named owners, and they are sent.

::

    telewatch.anomalies ──▶ Intake (dedup by fingerprint, join groups) ──▶ ledger
    every second ────────▶ Schedule (ack timeouts, escalation, group flushes: silence, inhibit, budget) ──▶ outbox
    continuously ────────▶ Delivery (SMS gateway, IM robots; retries, dead letters) ──▶ attempts, receipts
    every second ────────▶ Feed (transitions, delivery outcomes, escalation steps) ──▶ InfluxDB
    every 30 s ──────────▶ snapshots (open alerts by severity/status/age, SMS budget) ──▶ InfluxDB

The ledger holds all state, so the worker keeps no faust tables: a restart
resumes from the ledger's consumer marks, groups, escalation cursors and
outbox. Several workers may share the anomalies partitions on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from alerting.delivery import Delivery, utc_now
from alerting.feed import Feed
from alerting.intake import Intake
from alerting.ledger import Ledger
from alerting.notify.registry import Channels
from alerting.pipeline.plan import Planner
from alerting.pipeline.schedule import Schedule
from alerting.settings import AlertingSettings
from core.settings import Platform
from runtime.faust_bulk import ack_records
from runtime.outbox import Outgoing
from runtime.worker_shell import Worker

log = logging.getLogger(__name__)

#: Default faust app id (consumer group).
APP_ID = "telewatch-alerting"
#: Records per fetch.
MAX_BATCH = 1000
#: Seconds between two schedule ticks.
TICK_S = 1.0


class AlertingWorker(Worker):
    """Builds the alerting worker's faust app over a ledger, a planner and the notification channels."""

    stage = "alerting"
    max_batch = MAX_BATCH
    #: A worker that dies hands its partitions over within 10 s (faust's default is 60 s): alerts must not wait.
    app_overrides: ClassVar[dict[str, Any]] = {"broker_session_timeout": 10.0, "broker_heartbeat_interval": 1.0}

    def __init__(
        self,
        platform: Platform,
        settings: AlertingSettings,
        ledger: Ledger,
        planner: Planner,
        channels: Channels,
        *,
        worker_id: str,
        app_id: str = APP_ID,
        status_file: Path | None = None,
        status_every_s: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(platform, app_id=app_id, status_file=status_file, status_every_s=status_every_s)
        self.ledger = ledger
        self.clock = clock
        self.channels = channels
        self.intake = Intake(ledger, settings)
        self.schedule = Schedule(ledger, planner)
        self.delivery = Delivery(ledger, settings.delivery, settings.owners, channels, worker_id, clock)
        self.feed = Feed(ledger)
        self._stop = asyncio.Event()
        self._outbox_depth: dict[str, int] = {}
        self.shell.on_batches(platform.kafka.topics.anomalies.name, self._on_batch)
        self.app.timer(TICK_S)(self._tick)
        self.app.task(self._deliver)
        for problem in channels.problems():
            log.warning("alerting: cannot reach %s", problem)

    def reconfigure(self, settings: AlertingSettings, planner: Planner) -> None:
        """Route, group and escalate with new settings from the next record and tick on."""
        self.intake.reconfigure(settings)
        self.schedule.reconfigure(planner)

    async def _on_batch(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        batch = [(r.offset, r.value) for r in records if r.value is not None]
        async with self.shell.lock:
            await asyncio.to_thread(self.intake.take, f"{tp.topic}/{tp.partition}", batch, self.clock())
        ack_records(self.app, tp, records)

    async def _tick(self) -> None:
        if not self.shell.ready():
            return
        async with self.shell.lock:
            now = self.clock()
            await asyncio.to_thread(self.schedule.tick, now)
            lines = await asyncio.to_thread(self.feed.lines)
            lines += await asyncio.to_thread(self.feed.snapshot, self.schedule.planner, now)
            self._outbox_depth = await asyncio.to_thread(self.ledger.outbox_depth)
        if lines:
            await self.shell.outputs.send([Outgoing("influxdb", b"", "\n".join(lines).encode())])

    async def _deliver(self) -> None:
        try:
            await self.delivery.run(self._stop)
        finally:
            await self.channels.close()

    def status(self) -> dict[str, Any]:
        """Counters of this process, and the outbox by state."""
        i, s, d = self.intake.counts, self.schedule.counts, self.delivery.counts
        return {
            "anomalies": i.anomalies,
            "recoveries": i.recoveries,
            "opened": i.opened,
            "resolved": i.resolved,
            "skipped": i.skipped,
            "malformed": i.malformed,
            "problems": i.problems,
            "flushes": s.flushes,
            "escalations": s.escalations,
            "ack_timeouts": s.ack_timeouts,
            "sent": d.sent,
            "retried": d.retried,
            "dead": d.dead,
            "outbox": self._outbox_depth,
            "unreachable": self.channels.problems(),
        }

    def summary(self, status: dict[str, Any]) -> str:
        """Alerts opened and resolved, notifications sent, retried and given up."""
        return (
            f"{status['anomalies']} anomalies → {status['opened']} alerts opened, {status['resolved']} resolved; "
            f"{status['sent']} notifications sent, {status['retried']} retried, {status['dead']} given up"
        )

"""The detectors worker: a faust app judging metric points and correlating anomalies.

::

    telewatch.metrics ──▶ DetectStage (per partition: one detector per series) ──▶ telewatch.anomalies + InfluxDB
    telewatch.anomalies ──▶ CorrelateStage (surge + metric anomaly) ──▶ telewatch.anomalies (detector "correlation")

Both stages keep their state in faust tables with changelogs
(:class:`~runtime.partition_state.PartitionState`): a restarted worker goes
on with trained detectors. :meth:`DetectorsWorker.reconfigure` applies new
settings at each series' next point (``telewatch.wiring`` calls it when the
config file changes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.metrics import MetricDefinition
from core.settings import Platform
from detectors.correlate import CorrelateStage
from detectors.detect_stage import DetectStage
from detectors.settings import DetectorSettings
from runtime.worker_shell import Worker

#: Default faust app id (consumer group, table and changelog names).
APP_ID = "telewatch-detectors"
#: Records per fetch.
MAX_BATCH = 4096


class DetectorsWorker(Worker):
    """Builds the faust app of the detectors stage from its settings and the metric definitions."""

    stage = "detectors"
    max_batch = MAX_BATCH

    def __init__(
        self,
        platform: Platform,
        settings: DetectorSettings,
        metrics: Sequence[MetricDefinition],
        *,
        app_id: str = APP_ID,
        status_file: Path | None = None,
        status_every_s: float = 1.0,
    ) -> None:
        super().__init__(platform, app_id=app_id, status_file=status_file, status_every_s=status_every_s)
        topics = platform.kafka.topics
        self.detect = DetectStage(settings, metrics)
        self.detect_state = self.shell.table("detectors", topics.metrics.partitions, self.detect)
        self.correlate = CorrelateStage(settings.correlation)
        self.correlate_state = self.shell.table("correlation", topics.anomalies.partitions, self.correlate)
        self.shell.consume(topics.metrics.name, self.detect_state, self.detect.update)
        self.shell.consume(topics.anomalies.name, self.correlate_state, self.correlate.update)

    def reconfigure(self, settings: DetectorSettings) -> None:
        """Judge with new settings from each series' next point on (learned baselines stay where they can)."""
        self.detect.reconfigure(settings)
        self.correlate.reconfigure(settings.correlation)

    def status(self) -> dict[str, Any]:
        """Counters of this process."""
        c = self.detect.counters
        return {
            "points": c.points,
            "judged": c.judged,
            "anomalous": c.anomalous,
            "anomalies": c.anomalies,
            "silent": c.silent,
            "rebuilt": c.rebuilt,
            "correlated": self.correlate.incidents,
        }

    def summary(self, status: dict[str, Any]) -> str:
        """Judged points, anomalies, correlated incidents."""
        return (
            f"{status['judged']} points judged, {status['anomalies']} anomalies ({status['silent']} silent), "
            f"{status['correlated']} correlated incidents"
        )

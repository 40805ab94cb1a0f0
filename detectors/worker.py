"""The detectors worker: a faust app judging metric points and correlating anomalies.

::

    telewatch.metrics ──▶ DetectStage (per partition: one detector per series) ──▶ telewatch.anomalies + InfluxDB
    telewatch.anomalies ──▶ CorrelateStage (surge + metric anomaly) ──▶ telewatch.anomalies (detector "correlation")

Both stages keep their state in faust tables with changelogs
(:class:`~streams.partition_state.PartitionState`): a restarted worker goes
on with trained detectors. The configuration file is watched: a changed
``detectors:`` section takes effect at each series' next point; a file that
does not load is refused with its line and reason, and the running
configuration stays.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from detectors.correlate import CorrelateStage
from detectors.detect_stage import DetectStage
from telewatch.config import Config, load_config
from telewatch.config_loader import ConfigError
from telewatch.worker_runtime import (
    Outputs,
    OutputsApp,
    app_options,
    payloads,
    stage_table,
    write_status,
)

log = logging.getLogger(__name__)

#: Default faust app id (consumer group, table and changelog names).
APP_ID = "telewatch-detectors"
#: Records per fetch.
MAX_BATCH = 4096


class DetectorsWorker:
    """Builds the faust app of the detectors stage; ``config_path`` is watched for changes."""

    def __init__(
        self, config: Config, *, config_path: Path | None = None, app_id: str = APP_ID, status_file: Path | None = None
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.status_file = status_file
        self._mtime = _mtime(config_path)
        self.generation = 1
        self.reload_error: str | None = None
        topics = config.kafka.topics
        self.outputs = Outputs(config)
        self.app = OutputsApp(
            app_id, self.outputs, self.write_status, **app_options(config, "detectors", app_id, MAX_BATCH)
        )
        self._lock = asyncio.Lock()
        self.detect = DetectStage(config)
        self.detect_state = stage_table(self.app, "detectors", topics.metrics.partitions, self.detect)
        self.correlate = CorrelateStage(config.detectors.correlation)
        self.correlate_state = stage_table(self.app, "correlation", topics.anomalies.partitions, self.correlate)
        self.app.bulk_topic(topics.metrics.name, self._on_points)
        self.app.bulk_topic(topics.anomalies.name, self._on_anomalies)
        self._started = time.monotonic()
        self.app.timer(2.0)(self._watch_config)
        self.app.timer(1.0)(self._report)

    def changelog_topics(self) -> dict[str, int]:
        """The table changelog topics (name → partitions), to create compacted before the first start."""
        tables = (self.detect_state, self.correlate_state)
        return {t.changelog_topic_name: t.partitions for t in tables}

    async def _on_points(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        async with self._lock:
            await self.outputs.process(
                self.detect_state, tp, records, lambda state, fresh: self.detect.update(state, payloads(fresh))
            )

    async def _on_anomalies(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        async with self._lock:
            await self.outputs.process(
                self.correlate_state, tp, records, lambda state, fresh: self.correlate.update(state, payloads(fresh))
            )

    # -- hot reload ---------------------------------------------------------------------------
    async def _watch_config(self) -> None:
        mtime = _mtime(self.config_path)
        if mtime == self._mtime or self.config_path is None:
            return
        self._mtime = mtime
        self.reload(self.config_path)

    def reload(self, path: Path) -> bool:
        """Load ``path`` and apply its ``detectors:`` section; on any error keep the running one. Returns success."""
        try:
            new = load_config(path)
        except ConfigError as exc:
            self.reload_error = str(exc)
            log.error("configuration not reloaded, the running one stays: %s", exc)
            return False
        except OSError as exc:
            self.reload_error = f"{path}: {exc.strerror}"
            log.error("configuration not reloaded, the running one stays: %s", self.reload_error)
            return False
        ignored = [name for name in type(new).model_fields if name != "detectors" and getattr(new, name) != getattr(self.config, name)]  # fmt: skip
        if ignored:
            log.warning(
                "%s: only the detectors section is reloaded; restart for changes in: %s", path, ", ".join(ignored)
            )
        self.config = self.config.model_copy(update={"detectors": new.detectors})
        self.detect.reconfigure(self.config)
        self.correlate.reconfigure(self.config.detectors.correlation)
        self.generation += 1
        self.reload_error = None
        log.info("%s: detectors configuration reloaded (generation %d)", path, self.generation)
        return True

    # -- status -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counters of this process."""
        c = self.detect.counters
        return {
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self._started, 1),
            "points": c.points,
            "judged": c.judged,
            "anomalous": c.anomalous,
            "anomalies": c.anomalies,
            "silent": c.silent,
            "rebuilt": c.rebuilt,
            "correlated": self.correlate.incidents,
            "config_generation": self.generation,
            "reload_error": self.reload_error,
            **self.app.runtime_status(),
        }

    def write_status(self) -> dict[str, Any]:
        """Write the status file (if any) and return the status."""
        status = self.status()
        write_status(self.status_file, status)
        return status

    async def _report(self) -> None:
        status = self.write_status()
        if int(status["uptime_s"]) % 10 == 0:
            log.info(
                "detectors: %s points judged, %s anomalies (%s silent), %s correlated incidents",
                status["judged"],
                status["anomalies"],
                status["silent"],
                status["correlated"],
            )


def _mtime(path: Path | None) -> float | None:
    try:
        return None if path is None else path.stat().st_mtime
    except OSError:
        return None

"""The shell every worker runs in: its faust app and outputs, one lock for its batches, its stage tables,
a status file rewritten every second, a log line every ten, and its vitals in InfluxDB every ten
(``runtime.vitals``: records per topic, lag, InfluxDB sink, restarts).

A worker (``streams.worker``, ``detectors.worker``, ``alerting.worker``) is a
shell plus its stages: it declares each stage's table and the topic that feeds
it, and says what its status holds. Everything else is here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import msgspec
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from core.settings import Platform
from runtime.outbox import HasOutbox
from runtime.outputs import Outputs, OutputsApp, Stage, app_options, payloads, stage_table
from runtime.partition_state import PartitionState
from runtime.vitals import Lags, Vitals

S = TypeVar("S", bound=HasOutbox)

#: A worker's own status fields.
StatusFn = Callable[[], dict[str, Any]]
#: Handles one batch of a partition.
BatchHandler = Callable[[TP, list[ConsumerRecord[bytes, bytes]]], Any]

#: Seconds between two log lines of a worker's counters.
LOG_EVERY_S = 10


def write_status(path: Path | None, status: dict[str, Any]) -> None:
    """Replace ``path`` with ``status`` as JSON (atomically: readers never see half a file)."""
    if path is None:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(status))
    tmp.replace(path)


class WorkerShell:
    """A worker's app, outputs, lock, stage tables and status reporting (see the module docstring).

    ``status`` gives the worker's own counters; ``summary`` turns a status into
    the line logged every ``LOG_EVERY_S`` seconds. More status fields can be
    added with :meth:`add_status` (e.g. the config watcher's).
    """

    def __init__(
        self,
        platform: Platform,
        *,
        stage: str,
        app_id: str,
        max_batch: int,
        status: StatusFn,
        summary: Callable[[dict[str, Any]], str],
        status_file: Path | None = None,
        status_every_s: float = 1.0,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.stage = stage
        self.status_file = status_file
        self._last_log = 0.0
        self.started = time.monotonic()
        self.outputs = Outputs(platform)
        self.vitals = Vitals(stage, consumer=self._consumer, sink=lambda: self.outputs.sink, started=self.started)
        self.app = OutputsApp(
            app_id,
            self.outputs,
            self.write_status,
            on_stopping=self.vitals.stop,
            **(app_options(platform, stage, app_id, max_batch) | (options or {})),
        )
        #: Held while a batch or a tick changes state: one change at a time per worker.
        self.lock = asyncio.Lock()
        self.tables: list[PartitionState[Any]] = []
        self._status = [status]
        self._summary = summary
        self._log = logging.getLogger(f"telewatch.{stage}")
        self.app.timer(status_every_s)(self._report)
        self.app.timer(1.0)(self.vitals.tick)

    def _consumer(self) -> Lags:
        """The app's consumer: a BulkApp's is a BulkConsumer (it has ``lag``)."""
        return cast(Lags, self.app.consumer)

    def table(self, name: str, partitions: int, stage: Stage[S]) -> PartitionState[S]:
        """A changelogged table holding ``stage``'s per-partition state."""
        table = stage_table(self.app, name, partitions, stage)
        self.tables.append(table)
        return table

    def consume(self, topic: str, table: PartitionState[S], update: Callable[[S, list[bytes]], bytes]) -> None:
        """Feed each batch of ``topic`` to ``update`` (state, payloads → delta) under the lock, through the outputs."""

        async def on_batch(tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
            async with self.lock:
                await self.outputs.process(table, tp, records, _with_payloads(update))

        self.app.bulk_topic(topic, self.vitals.counting(topic, on_batch))

    def on_batches(self, topic: str, handler: BatchHandler) -> None:
        """Give the batches of ``topic`` to ``handler`` as they come (it takes the lock itself)."""
        self.app.bulk_topic(topic, self.vitals.counting(topic, handler))

    def changelog_topics(self) -> dict[str, int]:
        """The tables' changelog topics (name → partitions), to create compacted before the first start."""
        return {t.changelog_topic_name: t.partitions for t in self.tables}

    def add_status(self, status: StatusFn) -> None:
        """Report these fields too in the status file."""
        self._status.append(status)

    def ready(self) -> bool:
        """Started, not rebalancing or recovering, outputs running: state may be changed outside a batch."""
        app: Any = self.app
        return bool(app.started) and not app.rebalancing and not app.in_recovery and self.outputs.started

    def status(self) -> dict[str, Any]:
        """The worker's status: process, its own fields, the runtime's (InfluxDB sink, batches, partitions)."""
        fields: dict[str, Any] = {"pid": os.getpid(), "uptime_s": round(time.monotonic() - self.started, 1)}
        for status in self._status:
            fields.update(status())
        return {**fields, **self.app.runtime_status()}

    def write_status(self) -> dict[str, Any]:
        """Write the status file (if any) and return the status."""
        status = self.status()
        write_status(self.status_file, status)
        return status

    async def _report(self) -> None:
        status = self.write_status()
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_S:
            self._last_log = now
            self._log.info("%s: %s", self.stage, self._summary(status))


def _with_payloads(
    update: Callable[[S, list[bytes]], bytes],
) -> Callable[[S, Sequence[ConsumerRecord[bytes, bytes]]], bytes]:
    return lambda state, fresh: update(state, payloads(fresh))


class Worker:
    """Base of a worker: a :class:`WorkerShell` named by the class's ``stage``; subclasses add their stages.

    A subclass sets ``stage`` and ``max_batch`` (records per fetch), declares its
    tables and topics on ``self.shell``, and says what its status holds.
    """

    stage: ClassVar[str]
    max_batch: ClassVar[int]
    #: faust options of this worker beyond the shared ones (e.g. a shorter consumer-group session timeout).
    app_overrides: ClassVar[dict[str, Any]] = {}

    def __init__(
        self, platform: Platform, *, app_id: str, status_file: Path | None = None, status_every_s: float = 1.0
    ) -> None:
        self.shell = WorkerShell(
            platform, stage=self.stage, app_id=app_id, max_batch=self.max_batch, status=self.status,
            summary=self.summary, status_file=status_file, status_every_s=status_every_s, options=self.app_overrides,
        )  # fmt: skip
        self.app = self.shell.app

    def status(self) -> dict[str, Any]:
        """The worker's own counters (the shell adds process and runtime fields)."""
        raise NotImplementedError

    def summary(self, status: dict[str, Any]) -> str:
        """The counters of ``status`` worth a log line."""
        raise NotImplementedError

    def changelog_topics(self) -> dict[str, int]:
        """The table changelog topics (name → partitions), to create compacted before the first start."""
        return self.shell.changelog_topics()

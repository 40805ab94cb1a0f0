"""A worker process's vitals in InfluxDB (``telewatch_worker``), for a pipeline health dashboard.

Every ``VITALS_EVERY_S`` seconds (the first report a second after the app has
started, a last one at a clean stop) a worker writes, through its InfluxDB sink:

- per consumed topic: records consumed since the process started (each once:
  after a rebalance faust hands records out again from the last committed
  offset), records per second since the previous report, and the lag (records
  behind the end of the topic over the partitions the process has assigned,
  see :meth:`runtime.faust_bulk.BulkConsumer.lag`; left out while unknown);
- for the process: uptime, ``started`` (1 in its first report: restarts), and
  its InfluxDB sink's counters.

The lines are built by :func:`core.influx_schema.worker_lines` (``docs/INFLUXDB.md``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime
from typing import Final, Protocol

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from core.influx_schema import ProcessVitals, TopicVitals, worker_lines
from runtime.faust_bulk import BulkHandler
from runtime.influx_sink import SinkStats

log = logging.getLogger(__name__)

#: Seconds between two reports of a worker.
VITALS_EVERY_S: Final = 10.0


class Lags(Protocol):
    """The consumer of a worker (a :class:`runtime.faust_bulk.BulkConsumer`): its partitions and their lag."""

    def assignment(self) -> Collection[TP]:
        """The partitions assigned to this process."""

    def lag(self, tp: TP) -> int | None:
        """Records of ``tp`` behind the end of the partition; None if unknown."""


class LineSink(Protocol):
    """Where the lines go (an :class:`runtime.influx_sink.InfluxSink`)."""

    @property
    def stats(self) -> SinkStats:
        """The sink's counters."""

    def add(self, lines: Iterable[str]) -> int:
        """Queue lines for writing."""


def worker_id() -> str:
    """This process's ``worker`` tag: host name, PID and start time (Unix seconds), so that a restarted process
    with the same PID (PID 1 in a container) is another worker."""
    return f"{socket.gethostname()}-{os.getpid()}-{int(time.time())}"


def topic_lags(consumer: Lags | None, topics: Collection[str]) -> dict[str, int]:
    """Lag per topic of ``topics``: summed over the topic's assigned partitions, only when every one of them is
    known (an unknown one would make the sum too small) and at least one is assigned."""
    if consumer is None:
        return {}
    try:
        assigned = [tp for tp in consumer.assignment() if tp.topic in topics]
    except Exception:  # the consumer is not started, or stopped
        return {}
    lags: dict[str, list[int | None]] = {}
    for tp in assigned:
        lags.setdefault(tp.topic, []).append(consumer.lag(tp))
    return {topic: sum(n for n in known if n is not None) for topic, known in lags.items() if None not in known}


class Vitals:
    """Counts the records a worker's topics hand out and reports them with the rest (see the module docstring).

    ``consumer`` and ``sink`` give the worker's consumer and InfluxDB sink (None
    before they exist: no lag, or no report); ``started`` is the process start
    on ``clock``.
    """

    def __init__(
        self,
        stage: str,
        *,
        consumer: Callable[[], Lags | None],
        sink: Callable[[], LineSink | None],
        started: float,
        worker: str | None = None,
        every_s: float = VITALS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.stage = stage
        self.worker = worker or worker_id()
        self.every_s = every_s
        #: Records consumed per topic, and the highest offset handed out per partition.
        self.records: dict[str, int] = {}
        self._seen: dict[TP, int] = {}
        self.reports = 0
        self._consumer = consumer
        self._sink = sink
        self._started = started
        self._clock = clock
        self._wall = wall
        #: When the previous report was made and the records it counted.
        self._previous: tuple[float, dict[str, int]] = (started, {})
        self._stopped = False

    def counting(self, topic: str, handler: BulkHandler) -> BulkHandler:
        """``handler``, counting the records of ``topic`` it is handed; a record handed out again counts once."""
        self.records.setdefault(topic, 0)

        async def counted(tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
            seen = self._seen.get(tp, -1)
            if records and records[-1].offset > seen:  # a batch's offsets increase
                fresh = len(records) if records[0].offset > seen else sum(r.offset > seen for r in records)
                self.records[tp.topic] = self.records.get(tp.topic, 0) + fresh
                self._seen[tp] = records[-1].offset
            await handler(tp, records)

        return counted

    async def tick(self) -> None:
        """Report if ``every_s`` has passed since the previous report (the first tick reports)."""
        if self._stopped:
            return
        if self.reports == 0 or self._clock() - self._previous[0] >= self.every_s:
            self.report()

    def stop(self) -> None:
        """The last report, once the consumer has stopped (no lag: the partitions are released); no more after it."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.report(final=True)
        except Exception:  # the outputs must still be flushed and closed
            log.exception("%s: the last vitals report failed", self.stage)

    def report(self, *, final: bool = False) -> list[str]:
        """Write a report to the sink now; return its lines (none without a sink)."""
        sink = self._sink()
        if sink is None:
            return []
        now = self._clock()
        since, before = self._previous
        elapsed = max(now - since, 1e-9)
        lags = {} if final else topic_lags(self._consumer(), self.records)
        topics = {
            topic: TopicVitals(n, round((n - before.get(topic, 0)) / elapsed, 3), lags.get(topic))
            for topic, n in self.records.items()
        }
        stats = sink.stats
        process = ProcessVitals(
            uptime_s=round(now - self._started, 3),
            started=self.reports == 0,
            influx_buffered=stats.buffered,
            influx_written=stats.written,
            influx_dropped=stats.dropped_overflow + stats.dropped_rejected,
            influx_retried=stats.retried,
        )
        lines = worker_lines(self.stage, self.worker, process, topics, self._wall())
        sink.add(lines)
        self.reports += 1
        self._previous = (now, dict(self.records))
        return lines

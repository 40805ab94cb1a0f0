"""The streams worker: a faust app running both stages over Kafka.

::

    calls, sms, kpi, complaints ──▶ IngestStage (per input partition) ──▶ partials topic
                      │ bad / late events ──▶ dead-letter topic
    partials ──▶ MergeStage (per source) ──▶ metrics topic (keyed by series) + InfluxDB

Each stage's state lives in a faust table with a changelog
(:class:`~streams.partition_state.PartitionState`): one table per input topic
(co-partitioned with it) and one for the partials topic. Several workers with
the same ``app_id`` share the partitions; a killed one is replaced by the
others or by itself on restart, with the same results.

An *idle* input partition (caught up, and no records for
``streams.idle_timeout_s`` of wall time) advances its event clock with the wall clock, so its windows close and
the merge stage is not held up by a partition that has nothing to say.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import msgspec
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams.ingest_stage import IngestStage, IngestState, Record
from streams.partition_state import PartitionState
from streams.window_merge import MergeStage
from telewatch.config import INPUT_ROLES, Config
from telewatch.worker_runtime import (
    Outputs,
    OutputsApp,
    app_options,
    payloads,
    stage_table,
    write_status,
)

log = logging.getLogger(__name__)

#: Records per fetch (all partitions together).
MAX_BATCH = 16384
#: A state change's changelog delta should stay below this (half ``PartitionState.chunk_bytes``; a larger
#: one is written as a whole snapshot): a partition's batch is applied in parts of about this size, going
#: by the bytes per record of the source's recent deltas (about 30 for calls and SMS, 140 for KPI samples).
DELTA_TARGET_BYTES = 256 * 1024
#: Default faust app id (consumer group, table and changelog names).
APP_ID = "telewatch-streams"


@dataclass
class _Input:
    role: str
    topic: str
    stage: IngestStage
    state: PartitionState[IngestState]
    #: Delta bytes per record of the recent changes (a moving average).
    delta_per_record: float = 64.0

    def part_size(self) -> int:
        """Records per state change (see ``DELTA_TARGET_BYTES``)."""
        return max(256, int(DELTA_TARGET_BYTES / self.delta_per_record))

    def measured(self, records: int, delta: bytes) -> None:
        """Update the bytes per record with a change of ``records`` records."""
        if records:
            self.delta_per_record = 0.8 * self.delta_per_record + 0.2 * max(len(delta) / records, 1.0)


class StreamsWorker:
    """Builds the faust app of the streams stage from the configuration."""

    def __init__(self, config: Config, *, app_id: str = APP_ID, status_file: Path | None = None) -> None:
        self.config = config
        self.app_id = app_id
        self.status_file = status_file
        settings = config.streams
        topics = config.kafka.topics
        self.outputs = Outputs(config)
        self.app = OutputsApp(
            app_id, self.outputs, self._write_status, **app_options(config, "streams", app_id, MAX_BATCH)
        )
        self._lock = asyncio.Lock()
        self._last_batch: dict[TP, float] = {}
        self.inputs: dict[str, _Input] = {}
        for role in INPUT_ROLES:
            topic = topics.by_role()[role]
            stage = IngestStage(role, topic.name, topic.partitions, settings, config.validation.max_future_skew_s)
            state = stage_table(self.app, f"windows-{role}", topic.partitions, stage)
            self.inputs[topic.name] = _Input(role, topic.name, stage, state)
            self.app.bulk_topic(topic.name, self._on_input)
        self.merge = MergeStage(settings, list(INPUT_ROLES))
        self.merge_state = stage_table(self.app, "merge", topics.partials.partitions, self.merge)
        self.app.bulk_topic(topics.partials.name, self._on_partials)
        self._started = time.monotonic()
        self._reported = (self._started, 0)
        self.app.timer(1.0)(self._tick)
        self.app.timer(1.0)(self._report)

    def changelog_topics(self) -> dict[str, int]:
        """The table changelog topics (name → partitions), to create compacted before the first start."""
        tables = [i.state for i in self.inputs.values()] + [self.merge_state]
        return {t.changelog_topic_name: t.partitions for t in tables}

    # -- batches and ticks ----------------------------------------------------------------------
    async def _on_input(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        source = self.inputs[tp.topic]
        async with self._lock:
            self._last_batch[tp] = time.monotonic()
            now = time.time()

            def update(state: IngestState, fresh: Sequence[ConsumerRecord[bytes, bytes]]) -> bytes:
                delta = source.stage.update(state, tp.partition, cast(Sequence[Record], fresh), now)
                source.measured(len(fresh), delta)
                return delta

            at = 0
            while at < len(records):
                size = source.part_size()
                await self.outputs.process(source.state, tp, records[at : at + size], update)
                at += size

    async def _on_partials(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        async with self._lock:
            await self.outputs.process(
                self.merge_state, tp, records, lambda state, fresh: self.merge.update(state, payloads(fresh))
            )

    def _ready(self) -> bool:
        app: Any = self.app
        return bool(app.started) and not app.rebalancing and not app.in_recovery and self.outputs.started

    async def _tick(self) -> None:
        """Close the windows of idle input partitions by the wall clock."""
        idle_s = self.config.streams.idle_timeout_s
        if not self._ready():
            return
        now = time.monotonic()
        assigned = [tp for tp in self.app.consumer.assignment() if tp.topic in self.inputs]
        for tp in sorted(assigned):
            if now - self._last_batch.setdefault(tp, now) < idle_s:
                continue
            source = self.inputs[tp.topic]
            # Idle means caught up: a partition with a backlog is only waiting for its turn.
            end = self.app.consumer.highwater(tp)
            if end is None or source.state.applied_offset(tp) + 1 < end:
                continue
            clock = time.time() - idle_s
            async with self._lock:
                if not self._ready() or tp not in self.app.consumer.assignment():
                    return
                await self.outputs.drain(tp)
                await self.outputs.flush(source.state.current(tp))
                tick = _ticker(source.stage, tp.partition, clock)
                if await source.state.change(tp, tick):
                    await self.outputs.flush(source.state.current(tp))

    # -- status -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counters of this process: events in, dead letters, late, duplicates, points out."""
        events = sum(i.stage.counters.events for i in self.inputs.values())
        rejected: dict[str, int] = {}
        for i in self.inputs.values():
            for reason, n in i.stage.counters.rejected.items():
                rejected[reason] = rejected.get(reason, 0) + n
        now = time.monotonic()
        since, before = self._reported
        merge = self.merge.counters
        return {
            "pid": os.getpid(),
            "uptime_s": round(now - self._started, 1),
            "events": events,
            "events_per_s": round((events - before) / max(now - since, 1e-9), 1),
            "by_source": {i.role: msgspec.structs.asdict(_counters(i.stage)) for i in self.inputs.values()},
            "counted": sum(i.stage.counters.counted for i in self.inputs.values()),
            "duplicates": sum(i.stage.counters.duplicates for i in self.inputs.values()),
            "late": sum(i.stage.counters.late for i in self.inputs.values()),
            "dead_letters": rejected,
            "partials": merge.partials,
            "resent_partials": merge.resent_partials,
            "windows": merge.windows,
            "points": merge.points,
            # Windows still to close here (input partitions) and closed ones awaiting other partitions (merge).
            "open_windows": sum(len(s.aggregator.open) for i in self.inputs.values() for s in i.state.loaded()),
            "pending_windows": sum(len(m.pending) for s in self.merge_state.loaded() for m in s.sources.values()),
            "series": len(merge.series),
            # Encoded state (snapshots + deltas) held by the changelogged tables, besides the live state.
            "state_bytes": sum(i.state.held_bytes() for i in self.inputs.values()) + self.merge_state.held_bytes(),
            **self.app.runtime_status(),
        }

    async def _report(self) -> None:
        status = self._write_status()
        self._reported = (time.monotonic(), status["events"])
        if int(status["uptime_s"]) % 10 == 0:
            log.info(
                "streams: %s events (%s/s), %s dead letters, %s late, %s duplicates; %s points, %s series",
                status["events"],
                status["events_per_s"],
                sum(status["dead_letters"].values()),
                status["late"],
                status["duplicates"],
                status["points"],
                status["series"],
            )

    def _write_status(self) -> dict[str, Any]:
        status = self.status()
        write_status(self.status_file, status)
        return status


class _CountersView(msgspec.Struct):
    events: int
    counted: int
    duplicates: int
    late: int
    rejected: dict[str, int]


def _counters(stage: IngestStage) -> _CountersView:
    c = stage.counters
    return _CountersView(c.events, c.counted, c.duplicates, c.late, dict(c.rejected))


def _ticker(stage: IngestStage, partition: int, clock: float) -> Callable[[IngestState], bytes | None]:
    return lambda state: stage.tick(state, partition, clock)

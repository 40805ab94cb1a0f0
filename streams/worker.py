"""The streams worker: a faust app running both stages over Kafka.

::

    calls, sms, kpi, complaints ──▶ IngestStage (per input partition) ──▶ partials topic
                      │ bad / late events ──▶ dead-letter topic
    partials ──▶ MergeStage (per source) ──▶ metrics topic (keyed by series) + InfluxDB

Each stage's state lives in a faust table with a changelog
(:class:`~runtime.partition_state.PartitionState`): one table per input topic
(co-partitioned with it) and one for the partials topic. Several workers with
the same ``app_id`` share the partitions; a killed one is replaced by the
others or by itself on restart, with the same results.

An *idle* input partition (caught up, and no records for
``streams.idle_timeout_s`` of wall time) advances its event clock with the wall clock, so its windows close and
the merge stage is not held up by a partition that has nothing to say.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import msgspec
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from core.settings import INPUT_ROLES, Platform, ValidationSettings
from runtime.partition_state import PartitionState
from runtime.worker_shell import Worker
from streams.ingest_stage import IngestStage, IngestState, Record
from streams.settings import StreamsSettings
from streams.window_merge import MergeStage

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


class StreamsWorker(Worker):
    """Builds the faust app of the streams stage from its settings."""

    stage = "streams"
    max_batch = MAX_BATCH

    def __init__(
        self,
        platform: Platform,
        settings: StreamsSettings,
        validation: ValidationSettings,
        *,
        app_id: str = APP_ID,
        status_file: Path | None = None,
        status_every_s: float = 1.0,
    ) -> None:
        super().__init__(platform, app_id=app_id, status_file=status_file, status_every_s=status_every_s)
        self.settings = settings
        topics = platform.kafka.topics
        self.outputs = self.shell.outputs
        self._last_batch: dict[TP, float] = {}
        self.inputs: dict[str, _Input] = {}
        for role in INPUT_ROLES:
            topic = topics.by_role()[role]
            stage = IngestStage(role, topic.name, topic.partitions, settings, validation.max_future_skew_s)
            state = self.shell.table(f"windows-{role}", topic.partitions, stage)
            self.inputs[topic.name] = _Input(role, topic.name, stage, state)
            self.shell.on_batches(topic.name, self._on_input)
        self.merge = MergeStage(settings, list(INPUT_ROLES))
        self.merge_state = self.shell.table("merge", topics.partials.partitions, self.merge)
        self.shell.consume(topics.partials.name, self.merge_state, self.merge.update)
        self._reported = (time.monotonic(), 0)
        self.app.timer(1.0)(self._tick)

    # -- batches and ticks ----------------------------------------------------------------------
    async def _on_input(self, tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        source = self.inputs[tp.topic]
        async with self.shell.lock:
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

    async def _tick(self) -> None:
        """Close the windows of idle input partitions by the wall clock."""
        idle_s = self.settings.idle_timeout_s
        if not self.shell.ready():
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
            async with self.shell.lock:
                if not self.shell.ready() or tp not in self.app.consumer.assignment():
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
        self._reported = (now, events)
        merge = self.merge.counters
        return {
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
        }

    def summary(self, status: dict[str, Any]) -> str:
        """Events, dead letters, late, duplicates, points, series."""
        return (
            f"{status['events']} events ({status['events_per_s']}/s), {sum(status['dead_letters'].values())} "
            f"dead letters, {status['late']} late, {status['duplicates']} duplicates; {status['points']} points, "
            f"{status['series']} series"
        )


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

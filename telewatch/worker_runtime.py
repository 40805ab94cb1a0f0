"""What the faust workers (``streams.worker``, ``detectors.worker``) share: app options, outputs, status file.

Both keep what a batch sends in an outbox that is durable with their state,
and send it through an :class:`Outputs` (Kafka topics by role, and the
InfluxDB sink) once the state change is acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import faust
import msgspec
from aiokafka import AIOKafkaProducer
from faust.types import TP, Message

from streams.faust_bulk import TANSU_SETTINGS
from streams.influx_sink import InfluxSink
from streams.influx_writer import build_writer
from streams.ingest_stage import Outgoing
from streams.partition_state import PartitionState
from streams.replay_delta import HasOutbox
from telewatch.config import Config

S = TypeVar("S", bound=HasOutbox)


class Stage(Protocol[S]):
    """A stage whose state a :class:`PartitionState` keeps: its snapshot and delta codec."""

    def load(self, snapshot: bytes | None) -> S:
        """A state from a snapshot (``None``: empty)."""

    def apply_delta(self, state: S, delta: bytes) -> None:
        """Replay one change."""

    def dump(self, state: S) -> bytes:
        """The whole state."""


def stage_table(app: faust.App, name: str, partitions: int, stage: Stage[S]) -> PartitionState[S]:
    """The changelogged table of a stage's per-partition state (snapshots once the deltas reach its size)."""
    return PartitionState(
        app, name, partitions=partitions, load=stage.load, apply_delta=stage.apply_delta, dump=stage.dump,
        snapshot_ratio=1.0,
    )  # fmt: skip


def payloads(messages: Sequence[Message]) -> list[bytes]:
    """The values of a batch of raw (bytes) messages."""
    return [cast(bytes, m.value) for m in messages]


def app_options(config: Config, stage: str, app_id: str, max_batch: int) -> dict[str, Any]:
    """faust options of a worker app: brokers, a data dir under the stack home, batch size, Tansu's quirks."""
    datadir = config.stack.home_path() / stage / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    return {
        "broker": [f"kafka://{server}" for server in config.bootstrap_servers()],
        "datadir": str(datadir),
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": 1.0,
        # Bounds a batch, so its changelog delta stays one record.
        "broker_max_poll_records": max_batch,
        **(dict(TANSU_SETTINGS) if config.kafka.mode == "embedded" else {}),
    }


class Outputs:
    """A producer for the topic roles and a sink for InfluxDB lines."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.topics = {role: t.name for role, t in config.kafka.topics.by_role().items()}
        self.producer: AIOKafkaProducer | None = None
        self.sink: InfluxSink | None = None

    @property
    def started(self) -> bool:
        """Whether :meth:`start` has run."""
        return self.producer is not None

    async def start(self) -> None:
        """Start the producer and the InfluxDB sink."""
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.config.bootstrap_servers(), acks="all", linger_ms=5, max_batch_size=256 * 1024
        )
        await self.producer.start()
        self.sink = InfluxSink(build_writer(self.config.influxdb, self.config.influxdb_url()))
        await self.sink.start()

    async def stop(self) -> None:
        """Flush and close both."""
        if self.sink is not None:
            await self.sink.close()
        if self.producer is not None:
            await self.producer.stop()

    async def send(self, outbox: list[Outgoing]) -> None:
        """Send every record; returns when Kafka has acknowledged them (InfluxDB lines are buffered)."""
        assert self.producer is not None and self.sink is not None, "start() first"
        futures = []
        for record in outbox:
            if record.target == "influxdb":
                self.sink.add(record.value.decode().split("\n"))
            else:
                futures.append(await self.producer.send(self.topics[record.target], record.value, key=record.key))
        await asyncio.gather(*futures)

    async def process(
        self,
        table: PartitionState[S],
        tp: TP,
        messages: list[Message],
        update: Callable[[S, Sequence[Message]], bytes],
    ) -> None:
        """Run a batch through a stage: send what a restored state had not sent, apply the batch
        (durably, then acked), send its outbox."""
        await self.flush(table.current(tp))
        await table.process(tp, messages, update)
        await self.flush(table.current(tp))

    async def flush(self, state: HasOutbox) -> None:
        """Send an outbox whose change is durable (again, if a crash came before it was known to be sent)."""
        if state.outbox and not state.outbox_sent:
            await self.send(state.outbox)
            state.outbox_sent = True

    def sink_status(self) -> dict[str, Any] | None:
        """The InfluxDB sink's counters."""
        if self.sink is None:
            return None
        s = self.sink.stats
        return {
            "written": s.written,
            "retried": s.retried,
            "dropped_overflow": s.dropped_overflow,
            "dropped_rejected": s.dropped_rejected,
            "buffered": s.buffered,
            "last_error": s.last_error,
        }


def write_status(path: Path | None, status: dict[str, Any]) -> None:
    """Replace ``path`` with ``status`` as JSON (atomically: readers never see half a file)."""
    if path is None:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(status))
    tmp.replace(path)

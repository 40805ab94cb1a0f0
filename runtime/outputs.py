"""What every worker sends through: app options, stage tables, and the outputs (Kafka topics, InfluxDB).

A worker keeps what a batch sends in an outbox that is durable with its state,
and sends it through an :class:`Outputs` (Kafka topics by role, and the
InfluxDB sink) once the state change is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar, cast

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from core.settings import Platform
from runtime.faust_bulk import TANSU_SETTINGS, BulkApp
from runtime.influx_sink import InfluxSink
from runtime.influx_writer import build_writer
from runtime.outbox import HasOutbox, Outgoing, change_sending, mark_sent, unsent
from runtime.partition_state import PartitionState, Pending
from runtime.state_format import seal, unseal

S = TypeVar("S", bound=HasOutbox)


class Stage(Protocol[S]):
    """A stage whose state a :class:`PartitionState` keeps: its snapshot and delta codec, and their format."""

    #: Format version of the snapshots ``dump`` writes (bump it when their layout changes).
    state_format: int

    def load(self, snapshot: bytes | None) -> S:
        """A state from a snapshot (``None``: empty)."""

    def apply_delta(self, state: S, delta: bytes) -> None:
        """Replay one change."""

    def dump(self, state: S) -> bytes:
        """The whole state."""


def stage_table(app: faust.App, name: str, partitions: int, stage: Stage[S]) -> PartitionState[S]:
    """The changelogged table of a stage's per-partition state (snapshots once the deltas reach its size).

    Snapshots carry the stage's ``state_format``; one of another format is refused (see ``runtime.state_format``).
    """

    def load(snapshot: bytes | None) -> S:
        return stage.load(None if snapshot is None else unseal(name, stage.state_format, snapshot))

    return PartitionState(
        app, name, partitions=partitions, load=load, apply_delta=stage.apply_delta,
        dump=lambda state: seal(stage.state_format, stage.dump(state)), snapshot_ratio=1.0,
    )  # fmt: skip


def payloads(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[bytes]:
    """The values of a batch of records."""
    return [cast(bytes, r.value) for r in records]


def app_options(config: Platform, stage: str, app_id: str, max_batch: int) -> dict[str, Any]:
    """faust options of a worker app: brokers, a data dir under the stack home, batch size, Tansu's quirks."""
    datadir = config.stack.home_path() / stage / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    return {
        "broker": [f"kafka://{server}" for server in config.bootstrap_servers()],
        "datadir": str(datadir),
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": 1.0,
        # Records per fetch, all partitions together (the streams worker applies a batch in parts).
        "broker_max_poll_records": max_batch,
        **(dict(TANSU_SETTINGS) if config.kafka.mode == "embedded" else {}),
    }


#: Batches of one partition whose changelog write and outbox may be in the background at once.
MAX_IN_FLIGHT = 4
#: Longest wait at stop for the batches in the background (what is not sent then is sent again after a restart).
DRAIN_TIMEOUT_S = 30.0


class Outputs:
    """A producer for the topic roles and a sink for InfluxDB lines, and the background work of batches."""

    def __init__(self, config: Platform) -> None:
        self.config = config
        self.topics = {role: t.name for role, t in config.kafka.topics.by_role().items()}
        self.producer: AIOKafkaProducer | None = None
        self.sink: InfluxSink | None = None
        #: Called (once) when a batch's background work fails: the worker must stop.
        self.on_failure: Callable[[BaseException], Awaitable[None]] | None = None
        self._failure: asyncio.Future[None] | None = None
        self._tails: dict[TP, asyncio.Future[None]] = {}
        self._in_flight: dict[TP, list[asyncio.Future[None]]] = {}

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
        """Finish the batches in the background, then flush and close both."""
        # A failure was reported when it happened; a write that never completes must not hold the stop.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), DRAIN_TIMEOUT_S)
        if self.sink is not None:
            await self.sink.close()
        if self.producer is not None:
            await self.producer.stop()

    async def send(self, outbox: list[Outgoing]) -> None:
        """Send every record; returns when Kafka has acknowledged them and InfluxDB has written the lines
        (unless InfluxDB is in an outage: then they stay buffered, see ``InfluxSink.written``)."""
        assert self.producer is not None and self.sink is not None, "start() first"
        futures = []
        ticket = None
        for record in outbox:
            if record.target == "influxdb":
                ticket = self.sink.add(record.value.decode().split("\n"))
            else:
                futures.append(await self.producer.send(self.topics[record.target], record.value, key=record.key))
        await asyncio.gather(*futures)
        if ticket is not None:
            await self.sink.written(ticket)

    async def process(
        self,
        table: PartitionState[S],
        tp: TP,
        records: list[ConsumerRecord[bytes, bytes]],
        update: Callable[[S, Sequence[ConsumerRecord[bytes, bytes]]], bytes],
    ) -> None:
        """Run a batch through a stage without waiting for the broker.

        Applies the batch and starts its changelog write, then returns; in the
        background, in batch order per partition: wait for the write, ack the
        input records, send the batch's outbox. Waits only when
        ``MAX_IN_FLIGHT`` batches of ``tp`` are still in the background. What a
        restored state had not sent goes first.
        """
        state = table.current(tp)
        tail = self._tails.get(tp)
        if tail is None or tail.done():
            await self.flush(state)
        elif len(self._in_flight.setdefault(tp, [])) >= MAX_IN_FLIGHT:
            await self._in_flight[tp][0]
        pending, outbox = change_sending(state, lambda: table.begin(tp, records, update))
        task = asyncio.ensure_future(self._complete(tail, table, pending, state, outbox))
        self._tails[tp] = task
        in_flight = self._in_flight.setdefault(tp, [])
        in_flight.append(task)
        task.add_done_callback(lambda done: self._completed(tp, done))

    async def _complete(
        self,
        before: asyncio.Future[None] | None,
        table: PartitionState[S],
        pending: Pending[Any],
        state: S,
        outbox: list[Outgoing],
    ) -> None:
        if before is not None:
            await before
        await table.finish(pending)
        if outbox:
            await self.send(outbox)
        mark_sent(state, len(outbox))

    def _completed(self, tp: TP, task: asyncio.Future[None]) -> None:
        in_flight = self._in_flight.get(tp, [])
        if task in in_flight:
            in_flight.remove(task)
        if task.cancelled() or task.exception() is None:
            return
        if self.on_failure is not None and self._failure is None:  # the first failure is the one to report
            self._failure = asyncio.ensure_future(self.on_failure(cast(BaseException, task.exception())))

    def in_flight(self) -> int:
        """Batches whose changelog write or outbox is still in the background."""
        return sum(len(tasks) for tasks in self._in_flight.values())

    async def drain(self, tp: TP | None = None) -> None:
        """Wait until the background work of ``tp`` (or of every partition) is done; raise its failure."""
        tails = [self._tails[tp]] if tp in self._tails else [] if tp is not None else list(self._tails.values())
        await asyncio.gather(*tails)

    async def flush(self, state: HasOutbox) -> None:
        """Send what a state's outbox holds that this process has not sent (its change is durable)."""
        outbox = unsent(state)
        if outbox:
            await self.send(outbox)
            mark_sent(state, len(outbox))

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


class OutputsApp(BulkApp):
    """A worker's faust app: its outputs start before the consumer, and are flushed and closed after it stops.

    A failure in a batch's background work (see :class:`Outputs`) crashes the app.
    ``on_stopping`` runs once the consumer has stopped, before the outputs are
    flushed and closed (e.g. to send last lines); ``on_stopped`` runs last (e.g.
    to write a final status file).
    """

    def __init__(
        self,
        id: str,
        outputs: Outputs,
        on_stopped: Callable[[], object],
        *,
        on_stopping: Callable[[], object] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(id, **options)
        self.outputs = outputs
        self.on_stopping = on_stopping
        self.on_stopped = on_stopped
        outputs.on_failure = self.crash

    async def on_start(self) -> None:
        """Start the outputs, then the app (consumer included)."""
        await self.outputs.start()
        await super().on_start()

    async def on_stop(self) -> None:
        """Stop the app, then finish, flush and close the outputs."""
        await super().on_stop()
        if self.on_stopping is not None:
            self.on_stopping()
        await self.outputs.stop()
        self.on_stopped()

    def runtime_status(self) -> dict[str, Any]:
        """The status fields every worker reports: InfluxDB sink, batches in the background, assigned partitions."""
        try:
            assigned = list(self.consumer.assignment())
        except Exception:  # the consumer is not started yet
            assigned = []
        return {
            "influxdb": self.outputs.sink_status(),
            "batches_in_flight": self.outputs.in_flight(),
            "assigned": sorted(f"{tp.topic}/{tp.partition}" for tp in assigned),
        }

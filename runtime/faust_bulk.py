"""A bulk fast path inside faust: whole per-partition batches for chosen topics.

faust delivers every record on its own (``Consumer._drain_messages`` awaits two
tasks per message, then Conductor → channel → queue → Stream → Event), which
caps a worker near 10,000 messages/s; this path reads about 200,000/s on the
dev machine (JSON decode, count, changelog write). :class:`BulkApp` keeps
faust's consumer group, partition assignment, tables and their changelogs,
recovery and offset commits, but hands each fetched batch of a *bulk* topic
partition to one handler call::

    app = BulkApp("counter", broker="kafka://127.0.0.1:9092")

    async def on_batch(tp: TP, records: list[ConsumerRecord]) -> None:
        ...  # apply the batch, make its effect durable
        ack_records(app, tp, records)  # only then (maybe later): faust may commit them

    app.bulk_topic("events", on_batch)

The hook (faust-streaming 0.15.3; re-check on upgrade, these are internals):

- :class:`BulkConsumer` overrides ``Consumer._wait_next_records``, the step of
  ``Consumer.getmany`` that fetches one ``{TP: [record]}`` map. It takes the
  bulk partitions out of the map, sets the read offsets, registers offset
  gaps, and awaits the handler once per partition with aiokafka's records as
  they are (a faust ``Message`` per record would cost more than the stages'
  own work); faust's own per-message path gets the rest (changelog
  topics during recovery, topics of ordinary agents). Bulk records fetched for
  a partition that a rebalance has meanwhile paused are dropped like faust
  does, then fetched again (``seek_wait``): faust's seek to the committed
  offsets after recovery skips partitions that never committed one.
- :class:`BulkTransport` is the aiokafka transport with ``Consumer = BulkConsumer``,
  installed by ``BulkApp._new_transport``.
- ``BulkConsumer.lag`` reads aiokafka's fetch state of a partition (highwater
  and position) on faust's consumer thread's ``AIOKafkaConsumer``; if that
  moves, it answers None (the lag is left out of ``telewatch_worker``).
- ``BulkApp.bulk_topic`` adds the topic to the conductor (``app.topics``) when
  the app starts, so the consumer subscribes to it, the group assigns its
  partitions, the assignor co-partitions it with tables of the same partition
  count, and ``Consumer.ack`` accepts its messages (acks are enabled).

Handlers run one at a time, in the fetch loop: the next fetch waits until they
return. A handler that raises stops the worker. A handler may return before
its batch is durable and ack it later (:func:`ack_records`): a faust
``Message`` for the last record of each batch is tracked as unacknowledged
until then, so a rebalance or a shutdown waits for batches in flight (faust's
``wait_empty``).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

#: The faust-streaming release whose internals this module overrides.
FAUST_VERSION: Final = "0.15.3"
if faust.__version__ != FAUST_VERSION:  # pragma: no cover
    warnings.warn(
        f"runtime.faust_bulk was written against faust-streaming {FAUST_VERSION}, not {faust.__version__}: "
        "re-check Consumer._wait_next_records, Consumer.ack and App._new_transport",
        stacklevel=1,
    )

#: Handler of one fetched batch of one bulk topic partition (aiokafka's records, in offset order).
BulkHandler = Callable[[TP, list[ConsumerRecord[bytes, bytes]]], Awaitable[None]]

#: Defaults of every :class:`BulkApp` (an option passed to it wins): in-memory
#: tables (their changelogs are the durable copy), no leader topic, and never a
#: web server on all interfaces (faust binds 0.0.0.0:6066 by default, and the
#: ``worker`` command turns the web server on unless ``--without-web`` is given).
BULK_APP_DEFAULTS: Final[Mapping[str, Any]] = {
    "store": "memory://",
    "topic_disable_leader": True,
    "web_enabled": False,
    "web_bind": "127.0.0.1",
    "web_host": "127.0.0.1",
}

#: Extra options for the Tansu broker. Its ListOffsets answer is wrong after a
#: multi-record batch, and table recovery reads the changelogs' end offsets, so
#: the producer sends one record per batch (``producer_max_batch_size`` is in
#: bytes; a record larger than a batch still goes alone). Its group joins take
#: half the session timeout, hence short timeouts.
TANSU_SETTINGS: Final[Mapping[str, Any]] = {
    "producer_max_batch_size": 1,
    "broker_session_timeout": 6.0,
    "broker_heartbeat_interval": 1.0,
    "broker_rebalance_timeout": 6.0,
}


class BulkConsumer(aiokafka_driver.Consumer):
    """faust's aiokafka consumer, delivering bulk topics a partition batch at a time."""

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109 (faust's signature)
        """Fetch like faust, hand bulk partitions to their handlers, return the rest."""
        records, active = await super()._wait_next_records(timeout)
        handlers = bulk_handlers(self.app)
        if not records or not handlers:
            return records, active
        bulk = [tp for tp in records if tp.topic in handlers]
        if not bulk:
            return records, active
        rest = {tp: batch for tp, batch in records.items() if tp.topic not in handlers}
        generation = self.app.consumer_generation_id
        dropped: list[TP] = []
        for i, tp in enumerate(bulk):
            # What faust's getmany checks per record: a stopped flow or a new
            # generation means a rebalance started.
            if self.should_stop or not self.flow_active or self.app.consumer_generation_id != generation:
                dropped.extend(bulk[i:])
                break
            if active is None or tp in active or tp in self._buffered_partitions:
                await self._deliver(tp, records[tp], handlers[tp.topic])
            else:
                dropped.append(tp)
        if dropped and not self.should_stop:
            await self._refetch({tp: records[tp][0].offset for tp in dropped})
        return rest, active

    def lag(self, tp: TP) -> int | None:
        """Records of ``tp`` not yet handed out: its highwater minus the consumer's position (0 when caught up).

        None while either is unknown: no fetch answer since the partition was
        assigned, or a position awaiting its reset (it is not assigned: None too).
        Both are read from aiokafka's state of the partition, the one its
        ``highwater()`` and ``position()`` read, without a call to faust's
        consumer thread: ``position()`` would wait there for a reset, holding one
        of the two workers that also run the fetches and commits.
        """
        try:
            state = self._thread._ensure_consumer()._subscription.subscription.assignment.state_value(tp)
            if state is None or state.highwater is None or not state.has_valid_position:
                return None
            return max(0, int(state.highwater) - int(state.position))
        except Exception:  # not started, unsubscribed, or an aiokafka whose internals moved: unknown
            return None

    async def _refetch(self, offsets: Mapping[TP, int]) -> None:
        # faust drops records of partitions paused while they were fetched (in a
        # rebalance the active set it lends the consumer thread can empty during
        # the fetch, and aiokafka reads an empty set as "all partitions"). Its
        # seek to the committed offsets after recovery brings them back only
        # where an offset > 0 was committed; so seek back to them here.
        assigned = self.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if offsets:
            self.log.info("Fetching again records dropped in a rebalance: %r", offsets)
            # Revoked meanwhile: the next owner starts at the committed offset.
            with contextlib.suppress(IllegalStateError):
                await self.seek_wait(offsets)

    async def _deliver(self, tp: TP, records: Sequence[Any], handler: BulkHandler) -> None:
        read = self._read_offset[tp]
        if read is not None and records[0].offset < read:
            records = [r for r in records if r.offset >= read]  # as faust: already read → dropped
            if not records:
                return
        await self._add_gaps(tp, read, records)
        last = self._to_message(tp, records[-1])
        self._read_offset[tp] = last.offset
        self._unacked_messages.add(last)  # wait_empty() waits for the batch (ack_records releases it)
        monitor = self.app.monitor
        monitor.track_tp_end_offset(tp, self.highwater(tp))
        monitor.stream_inbound_time[tp] = time.monotonic()  # keeps faust's livelock check quiet
        # Unlike faust's per-message path, no commit every ``broker_commit_every``
        # acks here: that would wait for the broker in the fetch loop. Offsets are
        # committed by faust's timer (``broker_commit_interval``) and on rebalance/stop.
        await handler(tp, list(records))

    async def _add_gaps(self, tp: TP, read: int | None, records: Sequence[Any]) -> None:
        # Offsets missing from the log (compaction, transaction markers) count as
        # acknowledged, or faust would never commit past them. Same rule as
        # faust's _drain_messages for the first record; exact inside the batch.
        first = records[0].offset
        if read and first - read > 1:
            await self._add_gap(tp, read + 1, first - 1)
        if records[-1].offset - first + 1 == len(records):
            return
        previous = first
        for record in records:
            if record.offset - previous > 1:
                await self._add_gap(tp, previous + 1, record.offset - 1)
            previous = record.offset


class BulkTransport(aiokafka_driver.Transport):
    """The aiokafka transport whose consumer is a :class:`BulkConsumer`."""

    Consumer = BulkConsumer


class BulkApp(faust.App):
    """A faust App whose bulk topics skip the per-message path (see the module docstring)."""

    def __init__(self, id: str, **options: Any) -> None:
        super().__init__(id, **{**BULK_APP_DEFAULTS, **options})
        self.bulk_handlers: dict[str, BulkHandler] = {}
        self._bulk_topics: list[Any] = []

    def bulk_topic(self, name: str, handler: BulkHandler) -> Any:
        """Subscribe to topic ``name``; each fetched batch of a partition goes to ``handler``.

        Register before the worker starts. The handler must ack every message
        (:func:`ack_messages`) once its effect is durable; faust commits acked offsets.
        """
        if name in self.bulk_handlers:
            raise ValueError(f"topic {name!r} already has a bulk handler")
        topic = self.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            acks=True,
        )
        self.bulk_handlers[name] = handler
        self._bulk_topics.append(topic)
        return topic

    async def on_start(self) -> None:
        """Register the bulk topics with the conductor (here, so no loop is bound at import)."""
        await super().on_start()
        for topic in self._bulk_topics:
            self.topics.add(topic)

    def _new_transport(self) -> Any:
        url = self.conf.broker_consumer[0]
        if url.scheme not in ("kafka", "aiokafka"):
            raise ValueError(f"BulkApp needs a kafka:// broker, not {url}")
        return BulkTransport(self.conf.broker_consumer, self)


def bulk_handlers(app: Any) -> Mapping[str, BulkHandler]:
    """The bulk handlers of ``app`` by topic name (none for a plain faust App)."""
    handlers: Mapping[str, BulkHandler] = getattr(app, "bulk_handlers", {})
    return handlers


class HasOffset(Protocol):
    """A record with its offset (aiokafka's ``ConsumerRecord``)."""

    @property
    def offset(self) -> int:
        """Offset in its partition."""


def ack_records(app: faust.App, tp: TP, records: Iterable[HasOffset]) -> int:
    """Acknowledge records of one bulk partition (faust may commit them); return how many were new.

    Same bookkeeping as faust's ``Consumer.ack``, once per batch; also releases
    the batches whose last record is acknowledged from faust's ``wait_empty``.
    """
    consumer: Any = app.consumer
    acked_index: set[int] = consumer._acked_index[tp]
    committed = consumer._committed_offset[tp]
    offsets = _offsets(records)
    last = offsets[-1] if isinstance(offsets, range) else max(offsets, default=-1)
    new: Sequence[int] = []
    with ack_lock:
        if app.topics.acks_enabled_for(tp.topic):
            if committed is not None and offsets and offsets[0] < committed:
                offsets = [offset for offset in offsets if offset >= committed]
            # Usually none was acked before: then no test per offset.
            new = offsets if acked_index.isdisjoint(offsets) else [o for o in offsets if o not in acked_index]
        if new:
            acked_index.update(new)
            consumer._acked[tp].extend(new)
            consumer._n_acked += len(new)
        # One message per batch in flight, so this set stays small.
        unacked = consumer._unacked_messages
        for message in [m for m in unacked if m.tp == tp and m.offset <= last]:
            message.acked = True
            unacked.discard(message)
    notify(consumer._waiting_for_ack)
    return len(new)


def _offsets(records: Iterable[HasOffset]) -> Sequence[int]:
    """The records' offsets; a ``range`` when they are consecutive, as a fetched batch usually is (no Python
    work per record: this ran for every event)."""
    if isinstance(records, Sequence) and records:
        first, last = records[0].offset, records[-1].offset
        if last - first + 1 == len(records):  # offsets in a partition's batch only increase
            return range(first, last + 1)
    return [record.offset for record in records]


async def ensure_topics(
    bootstrap_servers: str,
    partitions: Mapping[str, int],
    *,
    compacted: Iterable[str] = (),
    replication_factor: int = 1,
) -> list[str]:
    """Create the topics of ``partitions`` (name → count) that do not exist; return those created.

    ``compacted`` names get ``cleanup.policy=compact`` (table changelogs).
    """
    compact = set(compacted)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in partitions if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name,
                        num_partitions=partitions[name],
                        replication_factor=replication_factor,
                        topic_configs={"cleanup.policy": "compact"} if name in compact else {},
                    )
                    for name in missing
                ]
            )
        return missing
    finally:
        await admin.close()

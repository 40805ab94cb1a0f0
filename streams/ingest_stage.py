"""Stage 1 of the streams worker: one input partition's events into closed-window partials.

:class:`IngestStage` is the pure logic (no Kafka): decode and validate a batch,
count it into windows (:class:`~streams.aggregation.PartitionAggregator`),
turn bad and late events into dead letters, and close windows into a
:class:`~streams.partials.Partial`. Every change to the state is also returned
as a *delta* (bytes) that :class:`~runtime.partition_state.PartitionState`
writes to a table changelog; replaying the deltas rebuilds the state exactly.

What a batch sends (the partial, dead letters) is not sent straight away: it
is put in the state's *outbox*, written to the changelog with the delta, and
sent once that write is acknowledged. A worker killed in between sends the
outbox again after it restarts, with the same content: nothing is lost, and
the merge stage recognises the partial by its ``seq``. Dead letters are
at-least-once (keyed ``topic/partition/offset``, so duplicates are visible).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import msgspec

from core.contracts import INPUT_CONTRACTS, Event
from runtime.outbox import Outgoing, start_batch
from streams.aggregation import PartitionAggregator, SourcePlan, WindowCube, add_events
from streams.partials import CubeWire, Partial, cube_from_wire, cube_to_wire, encode_partial
from streams.settings import StreamsSettings
from streams.validation import EventDecoder, Rejection, dead_letter


class Record(Protocol):
    """What the stage needs of an input message (faust's ``Message`` has these)."""

    @property
    def offset(self) -> int:
        """Offset in the input partition."""

    @property
    def value(self) -> bytes:
        """The payload."""


@dataclass
class IngestState:
    """The windows of one input partition, what it has not reported yet, and its outbox."""

    aggregator: PartitionAggregator
    #: Partials sent so far.
    seq: int = 0
    #: Late events and dead letters since the last partial.
    late: WindowCube = field(default_factory=WindowCube)
    rejects: dict[str, int] = field(default_factory=dict)
    outbox: list[Outgoing] = field(default_factory=list)
    #: In memory only: leading outbox records sent by this process (a restored state: none).
    outbox_sent: int = 0


class _Delta(msgspec.Struct, array_like=True, frozen=True):
    drop_outbox: int
    windows: list[tuple[int, CubeWire]]
    ids: list[tuple[int, str]]
    watermark: float
    last_ts: float
    closed_until: float
    late: CubeWire | None
    rejects: dict[str, int]
    emitted: bool
    outbox: list[Outgoing]


class _Snapshot(msgspec.Struct, array_like=True, frozen=True):
    windows: list[tuple[int, CubeWire]]
    ids: list[tuple[int, list[str]]]
    watermark: float
    last_ts: float
    closed_until: float
    seq: int
    late: CubeWire
    rejects: dict[str, int]
    outbox: list[Outgoing]


@dataclass
class IngestCounters:
    """What this process has seen (for the console and status file; not part of the durable state)."""

    events: int = 0
    counted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


_value = operator.attrgetter("value")
_encoder = msgspec.msgpack.Encoder()
_delta_decoder = msgspec.msgpack.Decoder(_Delta)
_snapshot_decoder = msgspec.msgpack.Decoder(_Snapshot)
_json = msgspec.json.Encoder()


class IngestStage:
    """Windowing of one input topic (``source`` role), partition by partition."""

    #: Format version of this stage's snapshots (see ``runtime.state_format``).
    state_format = 1

    def __init__(self, source: str, topic: str, partitions: int, settings: StreamsSettings, max_future_skew_s: float):
        self.source = source
        self.topic = topic
        self.partitions = partitions
        self.settings = settings
        self.plan = SourcePlan(settings.for_source(source))
        self.decoder = EventDecoder(INPUT_CONTRACTS[source], max_future_skew_s)
        self.counters = IngestCounters()

    def new_state(self) -> IngestState:
        """An empty partition state."""
        s = self.settings
        return IngestState(PartitionAggregator(self.plan, s.window_s, s.allowed_lateness_s, s.dedup_horizon_s))

    # -- changes (each returns the delta that replays it) ------------------------------------
    def update(self, state: IngestState, partition: int, records: Sequence[Record], now: float) -> bytes:
        """Apply a batch of input records (``now``: the receive time, epoch seconds)."""
        dropped = start_batch(state)
        outbox: list[Outgoing] = []
        rejects: dict[str, int] = {}
        batch = self.decoder.decode_many(map(_value, records), now)
        for at, rejection in batch.rejections:
            rejects[rejection.reason] = rejects.get(rejection.reason, 0) + 1
            outbox.append(self._dead_letter(rejection, partition, records[at], now))
        events = batch.events
        aggregator = state.aggregator
        result = aggregator.add(events, batch.stamps)
        late_cube = None
        if result.late:
            late_cube = WindowCube()
            add_events(self.plan, late_cube, result.late)
            state.late.merge(late_cube)
            for ev, at in zip(result.late, result.late_at, strict=True):
                rejection = self._late(ev, result.closed_until)
                outbox.append(self._dead_letter(rejection, partition, records[batch.positions[at]], now))
            rejects["late"] = rejects.get("late", 0) + len(result.late)
        for reason, n in rejects.items():
            state.rejects[reason] = state.rejects.get(reason, 0) + n
        counted = len(events) - len(result.late) - result.duplicates
        self._count(len(records), counted, result.duplicates, rejects)
        emitted = self._close(state, partition, None, outbox)
        state.outbox.extend(outbox)
        return _encoder.encode(
            _Delta(
                drop_outbox=dropped,
                windows=[(start, cube_to_wire(cube)) for start, cube in result.windows.items()],
                ids=result.new_ids,
                watermark=aggregator.watermark,
                last_ts=aggregator.last_ts,
                closed_until=aggregator.closed_until,
                late=None if late_cube is None else cube_to_wire(late_cube),
                rejects=rejects,
                emitted=emitted,
                outbox=outbox,
            )
        )

    def tick(self, state: IngestState, partition: int, clock: float) -> bytes | None:
        """Close what an idle partition's clock (``clock``, event time) has passed; ``None``: nothing changed."""
        before = state.aggregator.closed_until
        if state.aggregator.progress_at(clock) <= before:
            return None
        dropped = start_batch(state)
        outbox: list[Outgoing] = []
        self._close(state, partition, clock, outbox)
        state.outbox.extend(outbox)
        return _encoder.encode(
            _Delta(
                drop_outbox=dropped,
                windows=[],
                ids=[],
                watermark=state.aggregator.watermark,
                last_ts=state.aggregator.last_ts,
                closed_until=state.aggregator.closed_until,
                late=None,
                rejects={},
                emitted=True,
                outbox=outbox,
            )
        )

    def _close(self, state: IngestState, partition: int, clock: float | None, outbox: list[Outgoing]) -> bool:
        aggregator = state.aggregator
        before = aggregator.closed_until
        closed = aggregator.close_due(clock)
        if aggregator.closed_until == before:
            return False
        state.seq += 1
        partial = Partial(
            source=self.source,
            topic=self.topic,
            partition=partition,
            partitions=self.partitions,
            window_s=aggregator.window_s,
            seq=state.seq,
            closed_until=aggregator.closed_until,
            windows=[(start, cube_to_wire(cube)) for start, cube in closed],
            late=cube_to_wire(state.late),
            rejects=state.rejects,
        )
        state.late, state.rejects = WindowCube(), {}
        outbox.append(Outgoing("partials", self.source.encode(), encode_partial(partial)))
        return True

    def _dead_letter(self, rejection: Rejection, partition: int, record: Record, now: float) -> Outgoing:
        letter = dead_letter(
            rejection, topic=self.topic, partition=partition, offset=record.offset, payload=record.value, now=now
        )
        return Outgoing("deadletter", f"{self.topic}/{partition}/{record.offset}".encode(), _json.encode(letter))

    def _late(self, event: Event, closed_until: float) -> Rejection:
        window_s = self.settings.window_s
        start = int(event.ts.timestamp() // window_s) * window_s
        closed_at = datetime.fromtimestamp(closed_until, tz=UTC).isoformat()
        return Rejection(
            "late",
            f"$.ts: {event.ts.isoformat()} belongs to the window starting "
            f"{datetime.fromtimestamp(start, tz=UTC).isoformat()}, closed when this partition reached {closed_at} "
            f"(allowed lateness {self.settings.allowed_lateness_s} s); raise streams.allowed_lateness_s "
            "if such delays are normal for this source",
            "$.ts",
        )

    def _count(self, events: int, counted: int, duplicates: int, rejects: dict[str, int]) -> None:
        c = self.counters
        c.events += events
        c.counted += counted
        c.duplicates += duplicates
        for reason, n in rejects.items():
            if reason == "late":
                c.late += n
            c.rejected[reason] = c.rejected.get(reason, 0) + n

    # -- durability ------------------------------------------------------------------------
    def apply_delta(self, state: IngestState, delta: bytes) -> None:
        """Replay one change recorded by :meth:`update` or :meth:`tick`."""
        d = _delta_decoder.decode(delta)
        del state.outbox[: d.drop_outbox]
        aggregator = state.aggregator
        for start, wire in d.windows:
            aggregator.merge_window(start, cube_from_wire(wire))
        for minute, ident in d.ids:
            aggregator.seen.setdefault(minute, set()).add(ident)
        aggregator.watermark = d.watermark
        aggregator.last_ts = d.last_ts
        if d.late is not None:
            state.late.merge(cube_from_wire(d.late))
        for reason, n in d.rejects.items():
            state.rejects[reason] = state.rejects.get(reason, 0) + n
        if d.emitted:
            aggregator.close_until(d.closed_until)
            state.seq += 1
            state.late, state.rejects = WindowCube(), {}
        aggregator.closed_until = d.closed_until
        aggregator.forget_old_ids()
        state.outbox.extend(d.outbox)

    def dump(self, state: IngestState) -> bytes:
        """The whole state (a snapshot)."""
        aggregator = state.aggregator
        return _encoder.encode(
            _Snapshot(
                windows=[(start, cube_to_wire(cube)) for start, cube in sorted(aggregator.open.items())],
                ids=[(minute, list(ids)) for minute, ids in aggregator.seen.items()],
                watermark=aggregator.watermark,
                last_ts=aggregator.last_ts,
                closed_until=aggregator.closed_until,
                seq=state.seq,
                late=cube_to_wire(state.late),
                rejects=state.rejects,
                outbox=state.outbox,
            )
        )

    def load(self, snapshot: bytes | None) -> IngestState:
        """A state from a snapshot (``None``: empty)."""
        state = self.new_state()
        if snapshot is None:
            return state
        s = _snapshot_decoder.decode(snapshot)
        aggregator = state.aggregator
        aggregator.open = {start: cube_from_wire(wire) for start, wire in s.windows}
        aggregator.seen = {minute: set(ids) for minute, ids in s.ids}
        aggregator.watermark = s.watermark
        aggregator.last_ts = s.last_ts
        aggregator.closed_until = s.closed_until
        state.seq = s.seq
        state.late = cube_from_wire(s.late)
        state.rejects = dict(s.rejects)
        state.outbox = list(s.outbox)
        return state

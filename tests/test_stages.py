"""The two streams stages without Kafka: input partitions → partials → merged metric points.

A small changelog is modelled as a list of deltas per partition; "crashing" a
stage rebuilds its state from that list (snapshot + deltas), as faust's table
recovery does, and sends its outbox again. The merged points must equal a
batch recomputation whether or not crashes happen.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import msgspec
import pytest

from core.contracts import INPUT_CONTRACTS, DeadLetter, Event, MetricPoint
from fixtures.recompute import events_of, naive
from runtime.outbox import Outgoing, change_sending, mark_sent, unsent
from simulator import FileSink, SimulatorSettings, run_simulation
from streams import sketch
from streams.ingest_stage import IngestStage, IngestState
from streams.settings import StreamsSettings
from streams.window_merge import MergeStage, MergeState, points_of

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
PARTITIONS = 4
SETTINGS = StreamsSettings(window_s=60, allowed_lateness_s=120)
NOW = START.timestamp() + 3600

S = TypeVar("S", IngestState, MergeState)


class Stage(Protocol[S]):
    def load(self, snapshot: bytes | None) -> S: ...
    def apply_delta(self, state: S, delta: bytes) -> None: ...
    def dump(self, state: S) -> bytes: ...


@dataclass
class Durable(Generic[S]):
    """One partition's state and its changelog (a snapshot and the deltas after it)."""

    stage: Stage[S]
    state: S
    snapshot: bytes | None = None
    deltas: list[bytes] = field(default_factory=list)

    def record(self, delta: bytes | None) -> None:
        if delta is None:
            return
        self.deltas.append(delta)
        if len(self.deltas) == 5:
            self.snapshot, self.deltas = self.stage.dump(self.state), []

    def crash(self) -> None:
        self.state = self.stage.load(self.snapshot)
        for delta in self.deltas:
            self.stage.apply_delta(self.state, delta)


@dataclass
class Record:
    offset: int
    value: bytes


@dataclass
class Pipeline:
    role: str
    crash_rate: float = 0.0
    #: Changes a partition's outbox is sent after (0: right after its own).
    lag: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    merged: list[Outgoing] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    in_flight: dict[int, deque[list[Outgoing]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ingest = IngestStage(self.role, f"t.{self.role}", PARTITIONS, SETTINGS, max_future_skew_s=300)
        self.merge = MergeStage(SETTINGS, [self.role])
        self.parts = [Durable(self.ingest, self.ingest.new_state()) for _ in range(PARTITIONS)]
        self.merger = Durable(self.merge, self.merge.new_state())

    def run(self, payloads: list[bytes]) -> None:
        by_partition: list[list[Record]] = [[] for _ in range(PARTITIONS)]
        for payload in payloads:
            part = by_partition[partition_of(payload)]
            part.append(Record(len(part), payload))
        for at in range(0, max(map(len, by_partition)), 100):
            for number, durable in enumerate(self.parts):
                batch = by_partition[number][at : at + 100]
                if batch:
                    self.step(durable, partial(self.ingest.update, partition=number, records=batch, now=NOW))
        for number, durable in enumerate(self.parts):  # the end of input: every partition idles past it all
            self.step(durable, partial(self.ingest.tick, partition=number, clock=NOW + 10 * 86400))
        self.drain()

    def step(self, durable: Durable[IngestState], change: Callable[[IngestState], bytes | None]) -> None:
        """One change of a partition; its outbox is sent after ``lag`` more changes (as the worker's
        background sends trail its batches), the oldest first."""
        queue = self.in_flight.setdefault(id(durable), deque())
        if not queue:
            self.send(durable.state, unsent(durable.state))  # what a restored state had not sent
        delta, added = change_sending(durable.state, lambda: change(durable.state))
        durable.record(delta)
        queue.append(added)
        dice = self.rng.random()
        if dice < self.crash_rate / 2:
            durable.crash()  # the delta is durable, its outbox (and those in flight) not sent yet
            queue.clear()
        while len(queue) > self.lag:
            self.send(durable.state, queue.popleft())
        if self.crash_rate / 2 <= dice < self.crash_rate:
            durable.crash()  # the outbox was sent, but no later delta says so: it is sent again
            queue.clear()

    def drain(self) -> None:
        for durable in self.parts:
            queue = self.in_flight.get(id(durable), deque())
            while queue:
                self.send(durable.state, queue.popleft())
            self.send(durable.state, unsent(durable.state))  # a state restored by the last crash

    def send(self, state: IngestState, outbox: list[Outgoing]) -> None:
        if not outbox:
            return
        partials = [o.value for o in outbox if o.target == "partials"]
        self.dead += [msgspec.json.decode(o.value, type=DeadLetter) for o in outbox if o.target == "deadletter"]
        mark_sent(state, len(outbox))
        if partials:
            merger = self.merger
            self.flush_merged()
            merger.record(self.merge.update(merger.state, partials))
            dice = self.rng.random()
            if dice < self.crash_rate / 2:
                merger.crash()
            self.flush_merged()
            if self.crash_rate / 2 <= dice < self.crash_rate:
                merger.crash()

    def flush_merged(self) -> None:
        state = self.merger.state
        self.merged += unsent(state)
        mark_sent(state)


def partition_of(payload: bytes) -> int:
    """Partition by region like a keyed producer (bad payloads: by their bytes)."""
    try:
        region = msgspec.json.decode(payload)["region"]
    except (msgspec.DecodeError, KeyError, TypeError):
        region = payload
    return zlib.crc32(str(region).encode()) % PARTITIONS


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    settings = SimulatorSettings.model_validate(
        {
            "rate": 120,
            "incidents": {"schedule": [{"kind": "complaint_surge", "start_offset_s": 300, "duration_s": 300}]},
            "faults": {"duplicate": 0.01, "late": 0.005, "out_of_order": 0.01, "clock_skew": 0.002},
        }
    )
    asyncio.run(run_simulation(settings, FileSink(out), START, 15 * 60))
    return out


def latest(outgoing: list[Outgoing]) -> dict[tuple[str, datetime], MetricPoint]:
    """Points by (series, window); a point sent again replaces the first (what consumers keep)."""
    return {(p.series, p.window_start): p for p in points_of(outgoing)}


@pytest.mark.parametrize("role", ["calls", "sms", "kpi", "complaints"])
@pytest.mark.parametrize(("crash_rate", "lag"), [(0.0, 0), (0.3, 0), (0.3, 3)])
def test_merged_points_equal_batch_recomputation(simulated: Path, role: str, crash_rate: float, lag: int) -> None:
    payloads = (simulated / f"{role}.jsonl").read_bytes().splitlines()
    pipeline = Pipeline(role, crash_rate, lag)
    pipeline.run(payloads)

    late_ids = {event_id(role, d.payload) for d in pipeline.dead if d.reason in ("late", "clock_skew")}
    if role in ("calls", "sms"):
        assert late_ids, "the simulator's late events must be dead-lettered as late"
    faults = [msgspec.json.decode(line) for line in (simulated / "faults.jsonl").read_bytes().splitlines()]
    injected = sum(1 for f in faults if f["role"] == role and f["kind"] == "late")
    late_letters = len({(d.partition, d.offset) for d in pipeline.dead if d.reason == "late"})  # resends once
    assert late_letters <= injected + 5, "only the injected late events are late (wrong clocks must not close windows)"
    events = events_of(simulated, role)
    unique: dict[str, Event] = {}
    for ev in events:
        unique.setdefault(ev.event_id(), ev)
    kept = [e for e in unique.values() if e.event_id() not in late_ids]
    expected = naive(SETTINGS.for_source(role), kept, SETTINGS.window_s)
    got = latest(pipeline.merged)
    zeros = {key for key, p in got.items() if p.count == 0}
    assert set(got) - zeros == set(expected)
    for key, value in expected.items():
        if got[key].metric.endswith("_p95"):
            assert got[key].value == pytest.approx(value, rel=2 * sketch.RELATIVE_ACCURACY, abs=1e-9), key
        else:
            assert got[key].value == pytest.approx(value, rel=1e-12), key
    for key in zeros:
        assert got[key].metric == "complaint_count" and got[key].value == 0.0
    if crash_rate == 0:
        assert len(points_of(pipeline.merged)) == len(got), "without crashes every point is sent once"
    elif role in ("calls", "sms"):  # enough partials that some crash follows a send
        assert pipeline.merge.counters.resent_partials > 0, "crashes must have made partials be sent again"


def event_id(role: str, payload: str) -> str:
    return msgspec.json.decode(payload.encode(), type=INPUT_CONTRACTS[role]).event_id()

"""Stage 2 of the streams worker: partials of all input partitions into metric points.

For each source (input topic) :class:`MergeStage` adds up the partial windows
sent by its partitions (:mod:`streams.partials`). A window is *complete* once
every partition's progress has passed its end; it is then rolled up into one
metric point per series, in window order. Complete windows also give:

- a 0 point for each *count* series (e.g. complaints per category) seen within
  ``quiet_series_s`` but silent in this window: no complaints is a value;
- late events per series (``telewatch_late``) and dead letters per reason
  (``telewatch_deadletter``), attached to the window the partition had just
  closed when it reported them.

The logic is deterministic (no clock): the merge state's delta is simply the
batch of partials, and replaying it rebuilds the state and its outbox. The
outbox holds the metric points (metrics topic, keyed by series) and the
InfluxDB lines; a point sent again after a crash has the same series and
window, so consumers keep the newest window per series and InfluxDB overwrites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import msgspec

from core.contracts import MetricPoint
from core.influx_schema import deadletter_line, late_line, metric_line
from core.series import parse_series_key
from runtime import replay_delta
from runtime.outbox import Outgoing
from streams.aggregation import SourcePlan, WindowCube, rollup
from streams.partials import CubeWire, Partial, cube_from_wire, cube_to_wire, decode_partial
from streams.settings import StreamsSettings

NEG_INF: Final = float("-inf")


@dataclass
class SourceMerge:
    """The merge state of one source."""

    topic: str
    partitions: int
    window_s: int
    #: Input partition → its progress (every window ending at or before it has closed there).
    progress: dict[int, float] = field(default_factory=dict)
    #: Input partition → seq of the last partial taken.
    last_seq: dict[int, int] = field(default_factory=dict)
    pending: dict[int, WindowCube] = field(default_factory=dict)
    late: dict[int, WindowCube] = field(default_factory=dict)
    rejects: dict[int, dict[str, int]] = field(default_factory=dict)
    #: Windows starting before this have been rolled up.
    emitted_until: float = NEG_INF
    #: Count series → start of the last window it had events in.
    last_seen: dict[str, int] = field(default_factory=dict)


@dataclass
class MergeState:
    """The merge state of one partials partition and its outbox."""

    sources: dict[str, SourceMerge] = field(default_factory=dict)
    outbox: list[Outgoing] = field(default_factory=list)
    outbox_sent: int = 0


@dataclass
class MergeCounters:
    """What this process has produced (for the console and status file)."""

    partials: int = 0
    resent_partials: int = 0
    windows: int = 0
    points: int = 0
    series: set[str] = field(default_factory=set)


class _SourceWire(msgspec.Struct, array_like=True, frozen=True):
    name: str
    topic: str
    partitions: int
    window_s: int
    progress: dict[int, float]
    last_seq: dict[int, int]
    pending: list[tuple[int, CubeWire]]
    late: list[tuple[int, CubeWire]]
    rejects: dict[int, dict[str, int]]
    emitted_until: float
    last_seen: dict[str, int]


class _Snapshot(msgspec.Struct, array_like=True, frozen=True):
    sources: list[_SourceWire]
    outbox: list[Outgoing]


_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(_Snapshot)
_json = msgspec.json.Encoder()


class MergeStage(replay_delta.ReplayStage[MergeState]):
    """Completes windows across input partitions and rolls them up (see the module docstring)."""

    #: Format version of this stage's snapshots (see ``runtime.state_format``).
    state_format = 1

    def __init__(self, settings: StreamsSettings, sources: Sequence[str]) -> None:
        self.settings = settings
        self.plans: dict[str, SourcePlan] = {source: SourcePlan(settings.for_source(source)) for source in sources}
        self.count_metrics = {m.name for m in settings.metrics if m.kind == "count"}
        self.counters = MergeCounters()

    def new_state(self) -> MergeState:
        """An empty merge state."""
        return MergeState()

    def take(self, state: MergeState, payloads: Sequence[bytes], replay: bool) -> None:
        touched: set[str] = set()
        for payload in payloads:
            partial = decode_partial(payload)
            if partial.source not in self.plans:
                raise ValueError(f"partial for unknown source {partial.source!r}; known: {', '.join(self.plans)}")
            source = state.sources.get(partial.source)
            if source is None:
                source = state.sources[partial.source] = SourceMerge(
                    partial.topic, partial.partitions, partial.window_s
                )
            if self._add(source, partial, replay):
                touched.add(partial.source)
        for name in sorted(touched):
            self._complete(name, state.sources[name], state.outbox, replay)

    def _add(self, source: SourceMerge, partial: Partial, replay: bool) -> bool:
        counters = self.counters
        if partial.seq <= source.last_seq.get(partial.partition, 0):
            if not replay:
                counters.resent_partials += 1
            return False
        if not replay:
            counters.partials += 1
        source.last_seq[partial.partition] = partial.seq
        source.partitions = partial.partitions
        source.window_s = partial.window_s
        source.progress[partial.partition] = max(source.progress.get(partial.partition, NEG_INF), partial.closed_until)
        for start, wire in partial.windows:
            # Before emitted_until only if the partition count grew under a running source: the window has gone.
            bucket = start if start >= source.emitted_until else int(source.emitted_until)
            cube = source.pending.get(bucket)
            if cube is None:
                source.pending[bucket] = cube_from_wire(wire)
            else:
                cube.merge(cube_from_wire(wire))
        report_at = int(max(partial.closed_until - partial.window_s, source.emitted_until))
        if partial.late.events:
            source.late.setdefault(report_at, WindowCube()).merge(cube_from_wire(partial.late))
        if partial.rejects:
            totals = source.rejects.setdefault(report_at, {})
            for reason, n in partial.rejects.items():
                totals[reason] = totals.get(reason, 0) + n
        return True

    def _complete(self, name: str, source: SourceMerge, outbox: list[Outgoing], replay: bool) -> None:
        if len(source.progress) < source.partitions:
            return
        upto = min(source.progress.values())
        window_s = source.window_s
        waiting = [*source.pending, *source.late, *source.rejects]
        start = source.emitted_until
        if start == NEG_INF:
            if not waiting or upto == NEG_INF:
                source.emitted_until = upto
                return
            start = float(min(waiting))
        while start + window_s <= upto:
            self._emit(name, source, int(start), outbox, replay)
            start += window_s
            if not source.last_seen:  # nothing to fill with zeros: skip empty windows
                later = [s for s in (*source.pending, *source.late, *source.rejects) if s >= start]
                start = max(start, float(min(later)) if later else upto)
        source.emitted_until = max(source.emitted_until, upto)

    def _emit(self, name: str, source: SourceMerge, start: int, outbox: list[Outgoing], replay: bool) -> None:
        plan = self.plans[name]
        window_s = source.window_s
        points = rollup(plan, source.pending.pop(start, WindowCube()), start, window_s)
        points += self._zeros(source, points, start)
        lines = [metric_line(point) for point in points]
        late = source.late.pop(start, None)
        if late is not None:
            lines += [late_line(p.series, p.count, p.window_start) for p in rollup(plan, late, start, window_s)]
        ts = datetime.fromtimestamp(start, tz=UTC)
        for reason, n in sorted(source.rejects.pop(start, {}).items()):
            lines.append(deadletter_line(source.topic, reason, n, ts))
        outbox.extend(Outgoing("metrics", p.series.encode(), _json.encode(p)) for p in points)
        if lines:
            outbox.append(Outgoing("influxdb", b"", "\n".join(lines).encode()))
        if not replay:
            counters = self.counters
            counters.windows += 1
            counters.points += len(points)
            counters.series.update(p.series for p in points)

    def _zeros(self, source: SourceMerge, points: list[MetricPoint], start: int) -> list[MetricPoint]:
        """Track count series and give each one seen lately, but silent in this window, a 0 point."""
        quiet_s = self.settings.quiet_series_s
        if not quiet_s:
            return []
        present = set()
        for point in points:
            if point.metric in self.count_metrics:
                source.last_seen[point.series] = start
                present.add(point.series)
        window_start = datetime.fromtimestamp(start, tz=UTC)
        window_end = datetime.fromtimestamp(start + source.window_s, tz=UTC)
        zeros = []
        for series, seen in list(source.last_seen.items()):
            if series in present:
                continue
            if start - seen >= quiet_s:
                del source.last_seen[series]
                continue
            metric, dims = parse_series_key(series)
            zeros.append(MetricPoint(metric=metric, series=series, dims=dims, window_start=window_start,
                                     window_end=window_end, value=0.0, count=0))  # fmt: skip
        return zeros

    # -- durability ------------------------------------------------------------------------
    def dump(self, state: MergeState) -> bytes:
        """The whole state (a snapshot)."""
        return _encoder.encode(
            _Snapshot(
                sources=[_source_wire(name, s) for name, s in sorted(state.sources.items())],
                outbox=state.outbox,
            )
        )

    def load(self, snapshot: bytes | None) -> MergeState:
        """A state from a snapshot (``None``: empty)."""
        state = self.new_state()
        if snapshot is None:
            return state
        s = _snapshot_decoder.decode(snapshot)
        for w in s.sources:
            state.sources[w.name] = SourceMerge(
                topic=w.topic,
                partitions=w.partitions,
                window_s=w.window_s,
                progress=dict(w.progress),
                last_seq=dict(w.last_seq),
                pending={start: cube_from_wire(c) for start, c in w.pending},
                late={start: cube_from_wire(c) for start, c in w.late},
                rejects={start: dict(r) for start, r in w.rejects.items()},
                emitted_until=w.emitted_until,
                last_seen=dict(w.last_seen),
            )
        state.outbox = list(s.outbox)
        return state


def _source_wire(name: str, s: SourceMerge) -> _SourceWire:
    return _SourceWire(
        name=name,
        topic=s.topic,
        partitions=s.partitions,
        window_s=s.window_s,
        progress=s.progress,
        last_seq=s.last_seq,
        pending=[(start, cube_to_wire(c)) for start, c in sorted(s.pending.items())],
        late=[(start, cube_to_wire(c)) for start, c in sorted(s.late.items())],
        rejects=s.rejects,
        emitted_until=s.emitted_until,
        last_seen=s.last_seen,
    )


def points_of(outbox: Sequence[Outgoing]) -> list[MetricPoint]:
    """The metric points in an outbox (tests and tools)."""
    decode = msgspec.json.Decoder(MetricPoint).decode
    return [decode(o.value) for o in outbox if o.target == "metrics"]


def count_by_target(outbox: Sequence[Outgoing]) -> Mapping[str, int]:
    """How many records of each target an outbox holds."""
    counts: dict[str, int] = {}
    for o in outbox:
        counts[o.target] = counts.get(o.target, 0) + 1
    return counts

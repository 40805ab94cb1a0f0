"""Windowed KPI aggregation of one input partition, and the roll-up of windows into metric points.

Per event the hot path does one tuple build and one dict increment per *cube*
rather than one update per metric and series: a source's ratio and count
metrics share one count cube keyed by every field they group or filter on,
and each percentile / mean metric keeps one value cube. Metric points are
derived from the cubes when a window closes. Cubes merge by addition, so the
windows of several partitions combine into the same points one partition
would give.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.contracts import Event, MetricPoint, id_getter
from core.metrics import Filter, MetricDefinition
from core.series import series_key
from streams import sketch

Key = tuple[Any, ...]


def _getter(fields: Sequence[str]) -> Callable[[Any], Key]:
    get = operator.attrgetter(*fields)
    if len(fields) == 1:
        return lambda ev: (get(ev),)
    return get


def _matcher(filt: Filter, fields: Sequence[str]) -> Callable[[Key], bool]:
    """A predicate on a cube key (whose values are in ``fields`` order) for one filter."""
    checks = [(fields.index(name), frozenset(values)) for name, values in filt.items()]
    return lambda key: all(str(key[i]) in allowed for i, allowed in checks)


def _event_matcher(filt: Filter) -> Callable[[Any], bool]:
    """A predicate on an event for one filter (values compare as text, as in the configuration)."""
    checks = [(operator.attrgetter(name), frozenset(values)) for name, values in filt.items()]
    if len(checks) == 1:  # the usual case, without the loop
        get, allowed = checks[0]
        return lambda ev: (value := get(ev)) in allowed or str(value) in allowed
    return lambda ev: all((value := get(ev)) in allowed or str(value) in allowed for get, allowed in checks)


@dataclass(frozen=True)
class _ValueSpec:
    metric: MetricDefinition
    fields: tuple[str, ...]
    key: Callable[[Any], Key]
    value: Callable[[Any], Any]
    #: The metric's filter on an event (``None``: every event).
    where: Callable[[Any], bool] | None


class SourcePlan:
    """How the metrics of one source topic are accumulated and rolled up."""

    def __init__(self, metrics: Sequence[MetricDefinition]) -> None:
        self.metrics = list(metrics)
        counted = [m for m in self.metrics if m.kind in ("ratio", "count")]
        names: list[str] = []
        for metric in counted:
            for name in [*(d for dims in metric.dimensions for d in dims), *metric.where, *(metric.numerator or {}),
                         *metric.denominator]:  # fmt: skip
                if name not in names:
                    names.append(name)
        self.count_fields = tuple(names)
        self.count_key = _getter(self.count_fields) if self.count_fields else None
        self.value_specs = [self._value_spec(m) for m in self.metrics if m.kind in ("percentile", "mean")]

    @staticmethod
    def _value_spec(metric: MetricDefinition) -> _ValueSpec:
        assert metric.field is not None
        fields: list[str] = []
        for name in [d for dims in metric.dimensions for d in dims]:
            if name not in fields:
                fields.append(name)
        return _ValueSpec(
            metric=metric,
            fields=tuple(fields),
            key=_getter(fields),
            value=operator.attrgetter(metric.field),
            where=_event_matcher(metric.where) if metric.where else None,
        )


@dataclass
class WindowCube:
    """The accumulators of one window: counts per count-cube key, values per metric."""

    counts: dict[Key, int] = field(default_factory=dict)
    #: metric name → key → histogram (percentile) or [sum, n] (mean).
    values: dict[str, dict[Key, Any]] = field(default_factory=dict)
    events: int = 0

    def merge(self, other: WindowCube) -> None:
        """Add another partition's cube of the same window into this one."""
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        for name, cube in other.values.items():
            mine = self.values.setdefault(name, {})
            for key, acc in cube.items():
                if isinstance(acc, dict):
                    sketch.merge_into(mine.setdefault(key, {}), acc)
                else:
                    total = mine.setdefault(key, [0.0, 0])
                    total[0] += acc[0]
                    total[1] += acc[1]
        self.events += other.events


def add_events(plan: SourcePlan, cube: WindowCube, events: Sequence[Event]) -> None:
    """Accumulate events (all in this cube's window) into ``cube``."""
    cube.events += len(events)
    if plan.count_key is not None:
        counts = cube.counts
        for key, n in Counter(map(plan.count_key, events)).items():
            counts[key] = counts.get(key, 0) + n
    bucket_of = sketch.bucket_of
    for spec in plan.value_specs:
        accs = cube.values.get(spec.metric.name)
        if accs is None:
            accs = cube.values[spec.metric.name] = {}
        value_of, key_of, where = spec.value, spec.key, spec.where
        percentile = spec.metric.kind == "percentile"
        for ev in events:
            value = value_of(ev)
            if value is None:
                continue
            if where is not None and not where(ev):
                continue
            key = key_of(ev)
            acc = accs.get(key)
            if percentile:
                if acc is None:
                    acc = accs[key] = {}
                bucket = bucket_of(value)
                acc[bucket] = acc.get(bucket, 0) + 1
            else:
                if acc is None:
                    acc = accs[key] = [0.0, 0]
                acc[0] += value
                acc[1] += 1


def _dims(names: Sequence[str], fields: Sequence[str], key: Key) -> dict[str, str] | None:
    values = {}
    for name in names:
        value = key[fields.index(name)]
        if value is None or value == "":
            return None
        values[name] = str(value)
    return values


def rollup(plan: SourcePlan, cube: WindowCube, window_start: float, window_s: float) -> list[MetricPoint]:
    """The metric points of one closed window, one per series."""
    start = datetime.fromtimestamp(window_start, tz=UTC)
    end = datetime.fromtimestamp(window_start + window_s, tz=UTC)
    points: list[MetricPoint] = []
    for metric in plan.metrics:
        if metric.kind in ("ratio", "count"):
            points += _rollup_counts(plan, metric, cube, start, end)
        else:
            points += _rollup_values(plan, metric, cube, start, end)
    return points


def _rollup_counts(
    plan: SourcePlan, metric: MetricDefinition, cube: WindowCube, start: datetime, end: datetime
) -> list[MetricPoint]:
    fields = plan.count_fields
    where = _matcher(metric.where, fields)
    numerator = _matcher(metric.numerator or {}, fields)
    denominator = _matcher(metric.denominator, fields)
    points = []
    for names in metric.dimensions:
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for key, n in cube.counts.items():
            if not where(key):
                continue
            dims = _dims(names, fields, key)
            if dims is None:
                continue
            acc = groups.setdefault(tuple(sorted(dims.items())), [0, 0])
            if metric.kind == "count":
                acc[0] += n
            else:
                if denominator(key):
                    acc[1] += n
                    if numerator(key):
                        acc[0] += n
        for dim_items, (num, den) in groups.items():
            dims = dict(dim_items)
            series = series_key(metric.name, dims)
            if metric.kind == "count":
                points.append(MetricPoint(metric=metric.name, series=series, dims=dims, window_start=start,
                                          window_end=end, value=float(num), count=num))  # fmt: skip
            elif den > 0:
                points.append(MetricPoint(metric=metric.name, series=series, dims=dims, window_start=start,
                                          window_end=end, value=num / den, numerator=float(num),
                                          denominator=float(den), count=den))  # fmt: skip
    return points


def _rollup_values(
    plan: SourcePlan, metric: MetricDefinition, cube: WindowCube, start: datetime, end: datetime
) -> list[MetricPoint]:
    spec = next(s for s in plan.value_specs if s.metric is metric)
    accs = cube.values.get(metric.name, {})
    points = []
    for names in metric.dimensions:
        groups: dict[tuple[tuple[str, str], ...], Any] = {}
        for key, acc in accs.items():
            dims = _dims(names, spec.fields, key)
            if dims is None:
                continue
            group_key = tuple(sorted(dims.items()))
            if metric.kind == "percentile":
                sketch.merge_into(groups.setdefault(group_key, {}), acc)
            else:
                total = groups.setdefault(group_key, [0.0, 0])
                total[0] += acc[0]
                total[1] += acc[1]
        for dim_items, acc in groups.items():
            dims = dict(dim_items)
            if metric.kind == "percentile":
                assert metric.percentile is not None
                value, count = sketch.quantile(acc, metric.percentile / 100), sum(acc.values())
            else:
                value, count = acc[0] / acc[1], acc[1]
            points.append(MetricPoint(metric=metric.name, series=series_key(metric.name, dims), dims=dims,
                                      window_start=start, window_end=end, value=value, count=count))  # fmt: skip
    return points


@dataclass
class AddResult:
    """What a batch did: its contribution per window, the ids it added, and what it did not count."""

    #: The batch's own cubes per window start (already merged into the open windows).
    windows: dict[int, WindowCube] = field(default_factory=dict)
    #: (minute bucket, event id) of every counted event, for de-duplication.
    new_ids: list[tuple[int, str]] = field(default_factory=list)
    late: list[Event] = field(default_factory=list)
    #: Where each late event is in the batch.
    late_at: list[int] = field(default_factory=list)
    #: The progress the late events were judged against, as it stood at the batch's end.
    closed_until: float = float("-inf")
    duplicates: int = 0


class PartitionAggregator:
    """Tumbling windows of one input partition: de-duplication, lateness, closing.

    The watermark is the newest event time seen (see below). Windows close when the
    partition's *progress* passes their end: progress is the window boundary at
    or before ``watermark - allowed lateness`` (or a wall-clock time, see
    :meth:`close_due`), and only moves forward. An event for a window that
    progress has passed (as the watermark stands when the event arrives) is
    late. Ids are remembered for ``dedup_horizon_s`` of event time.

    A few events from an element with a wrong clock must not close everybody
    else's windows early, so an event moves the watermark to its time only when
    that is at most ``confirm_step_s`` ahead, or when the event that arrived
    before it is within ``confirm_step_s`` of it (a jump in time counts once a
    second event confirms it). The watermark never moves back. (A slow stream's watermark may lag;
    that only delays closing, and idle partitions close by the wall clock.)
    """

    def __init__(self, plan: SourcePlan, window_s: int, lateness_s: int, dedup_horizon_s: int) -> None:
        self.plan = plan
        self.window_s = window_s
        self.lateness_s = lateness_s
        self.dedup_horizon_s = dedup_horizon_s
        self.open: dict[int, WindowCube] = {}
        #: Every window ending at or before this has closed (a multiple of ``window_s``).
        self.closed_until = float("-inf")
        self.watermark = float("-inf")
        #: Time of the last event in arrival order (duplicates aside).
        self.last_ts = float("-inf")
        self.confirm_step_s = max(1.0, lateness_s / 4)
        self.seen: dict[int, set[str]] = {}

    def add(self, events: Sequence[Event], stamps: Sequence[float] | None = None) -> AddResult:
        """Count a batch of events into their windows (``stamps``: their ``ts`` as epoch seconds, if known)."""
        result = AddResult()
        by_window: dict[int, list[Event]] = {}
        window_s = self.window_s
        seen = self.seen
        dedup = self.dedup_horizon_s > 0
        new_ids = result.new_ids
        watermark, last_ts, step = self.watermark, self.last_ts, self.confirm_step_s
        if stamps is None:
            stamps = [ev.ts.timestamp() for ev in events]
        ident_of = id_getter(type(events[0])) if events else Event.event_id
        late, late_at = result.late, result.late_at
        # Judged against the watermark as it moves through the batch, so an event is late or not
        # whatever batch it arrives in (a partition's first batch included).
        lateness = self.lateness_s
        closed = max(self.closed_until, self.progress_at(watermark))
        duplicates = 0
        for i, (ev, ts) in enumerate(zip(events, stamps, strict=True)):
            start = int(ts // window_s) * window_s
            if dedup:
                minute = int(ts // 60)
                bucket = seen.get(minute)
                if bucket is None:
                    bucket = seen[minute] = set()
                ident = ident_of(ev)
                if ident in bucket:
                    duplicates += 1
                    continue
                bucket.add(ident)
                new_ids.append((minute, ident))
            # A small step forward is believed; a jump only when the event before it agrees (within a step).
            if ts > watermark and (ts - watermark <= step or abs(ts - last_ts) <= step):
                watermark = ts
                progress = (int(ts - lateness) // window_s) * window_s  # progress_at(ts), without a call per event
                if progress > closed:
                    closed = progress
            last_ts = ts
            if start + window_s <= closed:
                late.append(ev)
                late_at.append(i)
                continue
            window = by_window.get(start)
            if window is None:
                by_window[start] = [ev]
            else:
                window.append(ev)
        self.watermark, self.last_ts = watermark, last_ts
        result.duplicates, result.closed_until = duplicates, closed
        for start, window_events in by_window.items():
            cube = result.windows[start] = WindowCube()
            add_events(self.plan, cube, window_events)
            self.merge_window(start, cube)
        self.forget_old_ids()
        return result

    def merge_window(self, start: int, cube: WindowCube) -> None:
        """Add a cube into open window ``start`` (a batch's contribution, or one replayed from a changelog)."""
        mine = self.open.get(start)
        if mine is None:
            self.open[start] = _copy(cube)
        else:
            mine.merge(cube)

    def forget_old_ids(self) -> None:
        """Drop remembered ids older than the de-duplication horizon."""
        oldest = int((self.watermark - self.dedup_horizon_s) // 60) if self.watermark > float("-inf") else None
        if oldest is None:
            return
        for bucket in [b for b in self.seen if b < oldest]:
            del self.seen[bucket]

    def progress_at(self, clock: float) -> float:
        """The window boundary at or before ``clock - allowed lateness``."""
        if clock == float("-inf"):
            return clock
        return float((int(clock - self.lateness_s) // self.window_s) * self.window_s)

    def close_due(self, clock: float | None = None) -> list[tuple[int, WindowCube]]:
        """Advance progress to the watermark's (or ``clock``'s, if later) and close the windows it passes, oldest first."""
        now = self.watermark if clock is None else max(clock, self.watermark)
        self.closed_until = max(self.closed_until, self.progress_at(now))
        return self.close_until(self.closed_until)

    def close_until(self, progress: float) -> list[tuple[int, WindowCube]]:
        """Close the open windows ending at or before ``progress`` (oldest first)."""
        self.closed_until = max(self.closed_until, progress)
        due = sorted(s for s in self.open if s + self.window_s <= self.closed_until)
        return [(s, self.open.pop(s)) for s in due]

    def close_all(self) -> list[tuple[int, WindowCube]]:
        """Close every open window (end of a bounded input)."""
        closed = sorted(self.open.items())
        self.open.clear()
        if closed:
            self.closed_until = max(self.closed_until, float(closed[-1][0] + self.window_s))
        return closed


def _copy(cube: WindowCube) -> WindowCube:
    copy = WindowCube()
    copy.merge(cube)
    return copy

"""Windowed aggregation equals a naive batch computation over the same simulated events."""

from __future__ import annotations

import asyncio
import math
import zlib
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator import FileSink, SimulatorSettings, run_simulation
from streams import sketch
from streams.aggregation import PartitionAggregator, SourcePlan, WindowCube, rollup
from streams.contracts import INPUT_CONTRACTS, Event, MetricPoint
from streams.metric_config import MetricDefinition, StreamsSettings
from streams.series import series_key
from streams.validation import EventDecoder, Rejection

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
WINDOW, LATENESS, PARTITIONS = 60, 120, 4


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    settings = SimulatorSettings.model_validate(
        {
            "rate": 150,
            "incidents": {"schedule": [{"kind": "cell_outage", "start_offset_s": 300, "duration_s": 600}]},
            # Clock-skewed events are rejected by the validator before aggregation (tested in test_contracts).
            "faults": {"duplicate": 0.01, "late": 0.005, "out_of_order": 0.01, "clock_skew": 0.0},
        }
    )
    asyncio.run(run_simulation(settings, FileSink(out), START, 20 * 60))
    return out


def events_of(directory: Path, role: str) -> list[Event]:
    decoder = EventDecoder(INPUT_CONTRACTS[role], max_future_skew_s=1e12)
    decoded = [decoder.decode(line, now=0.0) for line in (directory / f"{role}.jsonl").read_bytes().splitlines()]
    return [e for e in decoded if not isinstance(e, Rejection)]


def streamed(metrics: list[MetricDefinition], events: list[Event]) -> tuple[list[MetricPoint], set[str], int]:
    """Split by key hash into partitions, aggregate each in batches, merge closed windows, roll up."""
    plan = SourcePlan(metrics)
    partitions = [PartitionAggregator(plan, WINDOW, LATENESS, 600) for _ in range(PARTITIONS)]
    merged: dict[int, WindowCube] = defaultdict(WindowCube)
    late: set[str] = set()
    duplicates = 0
    for index in range(0, len(events), 500):
        for number, aggregator in enumerate(partitions):
            batch = [e for e in events[index : index + 500] if zlib.crc32(e.region.encode()) % PARTITIONS == number]
            result = aggregator.add(batch)
            late |= {e.event_id() for e in result.late}
            duplicates += result.duplicates
            for start, cube in aggregator.close_due():
                merged[start].merge(cube)
    for aggregator in partitions:
        for start, cube in aggregator.close_all():
            merged[start].merge(cube)
    points = [p for start, cube in sorted(merged.items()) for p in rollup(plan, cube, start, WINDOW)]
    return points, late, duplicates


def naive(metrics: list[MetricDefinition], events: list[Event]) -> dict[tuple[str, datetime], float]:
    """Straightforward group-by per metric, dimension set and window."""
    groups: dict[tuple[str, float], list[Event]] = defaultdict(list)
    out: dict[tuple[str, datetime], float] = {}
    for metric in metrics:
        groups.clear()
        for ev in events:
            if not all(str(getattr(ev, f)) in v for f, v in metric.where.items()):
                continue
            for names in metric.dimensions:
                dims = {n: getattr(ev, n) for n in names}
                if any(v is None for v in dims.values()):
                    continue
                window = ev.ts.timestamp() // WINDOW * WINDOW
                groups[(series_key(metric.name, {k: str(v) for k, v in dims.items()}), window)].append(ev)
        for (series, window), members in groups.items():
            stamp = datetime.fromtimestamp(window, tz=UTC)
            if metric.kind == "count":
                out[(series, stamp)] = float(len(members))
            elif metric.kind == "ratio":
                den = [e for e in members if all(str(getattr(e, f)) in v for f, v in metric.denominator.items())]
                num = [e for e in den if all(str(getattr(e, f)) in v for f, v in (metric.numerator or {}).items())]
                if den:
                    out[(series, stamp)] = len(num) / len(den)
            else:
                assert metric.field is not None
                values = [getattr(e, metric.field) for e in members if getattr(e, metric.field) is not None]
                if not values:
                    continue
                if metric.kind == "mean":
                    out[(series, stamp)] = sum(values) / len(values)
                else:
                    assert metric.percentile is not None
                    exact = sorted(values)[max(1, math.ceil(metric.percentile / 100 * len(values))) - 1]
                    out[(series, stamp)] = exact
    return out


@pytest.mark.parametrize("role", ["calls", "sms", "kpi", "complaints"])
def test_streamed_points_equal_batch_recomputation(simulated: Path, role: str) -> None:
    metrics = StreamsSettings().for_source(role)
    events = events_of(simulated, role)
    points, late, duplicates = streamed(metrics, events)
    unique: dict[str, Event] = {}
    for ev in events:
        unique.setdefault(ev.event_id(), ev)
    kept = [e for e in unique.values() if e.event_id() not in late]
    expected = naive(metrics, kept)
    got = {(p.series, p.window_start): p for p in points}
    assert set(got) == set(expected)
    for key, value in expected.items():
        point = got[key]
        if point.metric.endswith("_p95"):
            assert point.value == pytest.approx(value, rel=2 * sketch.RELATIVE_ACCURACY, abs=1e-9), key
        else:
            assert point.value == pytest.approx(value, rel=1e-12), key
    assert duplicates == len(events) - len(unique)
    if role in ("calls", "sms"):
        assert late, "the simulator's late events (10-60 min old) must be counted late, not silently merged"


def test_ratio_points_carry_the_volume_behind_them(simulated: Path) -> None:
    metrics = [m for m in StreamsSettings().for_source("calls") if m.name == "call_setup_success_rate"]
    points, _, _ = streamed(metrics, events_of(simulated, "calls"))
    for point in points:
        assert point.denominator is not None and point.numerator is not None
        assert point.value == point.numerator / point.denominator and point.count == point.denominator


def test_cell_outage_shows_in_the_cell_series(simulated: Path) -> None:
    truth = (simulated / "incidents.jsonl").read_text().splitlines()
    assert len(truth) == 1 and '"cell_outage"' in truth[0]
    cell = truth[0].split('"cell_id":"')[1].split('"')[0]
    metrics = [m for m in StreamsSettings().for_source("calls") if m.name == "call_setup_success_rate"]
    points, _, _ = streamed(metrics, events_of(simulated, "calls"))
    series = [p for p in points if p.dims.get("cell_id") == cell]
    during = [p.value for p in series if 6 * 60 <= (p.window_start - START).total_seconds() < 14 * 60]
    before = [p.value for p in series if (p.window_start - START).total_seconds() < 5 * 60]
    assert max(during) < min(before) - 0.2


def test_event_for_a_closed_window_is_late() -> None:
    metrics = StreamsSettings().for_source("complaints")
    aggregator = PartitionAggregator(SourcePlan(metrics), WINDOW, LATENESS, 600)
    decoder = EventDecoder(INPUT_CONTRACTS["complaints"])

    def complaint(ts: str, ticket: str) -> Event:
        payload = (
            f'{{"ts": "{ts}", "ticket_id": "{ticket}", "region": "north", "category": "network", '
            f'"scenario": "network.no_signal", "subscriber": "138****0000"}}'
        )
        event = decoder.decode(payload.encode(), now=2e9)
        assert not isinstance(event, Rejection)
        return event

    assert aggregator.add([complaint("2026-11-02T10:00:10Z", "t1")]).late == []
    aggregator.add([complaint("2026-11-02T10:03:30Z", "t2")])  # watermark passes 10:01 + 120 s
    closed = aggregator.close_due()
    assert [start for start, _ in closed] == [int(datetime(2026, 11, 2, 10, 0, tzinfo=UTC).timestamp())]
    late = aggregator.add([complaint("2026-11-02T10:00:50Z", "t3")]).late
    assert [e.event_id() for e in late] == ["t3"]
    assert aggregator.add([complaint("2026-11-02T10:03:31Z", "t2")]).duplicates == 1

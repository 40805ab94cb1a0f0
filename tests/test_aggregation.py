"""Windowed aggregation equals a naive batch computation over the same simulated events."""

from __future__ import annotations

import asyncio
import zlib
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.contracts import INPUT_CONTRACTS, Event, MetricPoint
from core.metrics import MetricDefinition
from fixtures.recompute import events_of, naive
from simulator import FileSink, SimulatorSettings, run_simulation
from streams import sketch
from streams.aggregation import PartitionAggregator, SourcePlan, WindowCube, rollup
from streams.settings import StreamsSettings
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


@pytest.mark.parametrize("role", ["calls", "sms", "kpi", "complaints"])
def test_streamed_points_equal_batch_recomputation(simulated: Path, role: str) -> None:
    metrics = StreamsSettings().for_source(role)
    events = events_of(simulated, role)
    points, late, duplicates = streamed(metrics, events)
    unique: dict[str, Event] = {}
    for ev in events:
        unique.setdefault(ev.event_id(), ev)
    kept = [e for e in unique.values() if e.event_id() not in late]
    expected = naive(metrics, kept, WINDOW)
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


def test_late_events_do_not_depend_on_how_the_stream_is_batched(simulated: Path) -> None:
    metrics = StreamsSettings().for_source("calls")
    events = events_of(simulated, "calls")

    def late_ids(batch_size: int) -> list[str]:
        aggregator = PartitionAggregator(SourcePlan(metrics), WINDOW, LATENESS, 600)
        late: list[str] = []
        for index in range(0, len(events), batch_size):
            late += [e.event_id() for e in aggregator.add(events[index : index + batch_size]).late]
            aggregator.close_due()
        return late

    one_by_one = late_ids(1)
    assert one_by_one, "the simulator's late events are there"
    assert late_ids(len(events)) == one_by_one, "one batch from the start: late events judged as they come"
    assert late_ids(777) == one_by_one


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


def test_one_event_from_a_wrong_clock_does_not_close_windows_early() -> None:
    metrics = StreamsSettings().for_source("calls")
    aggregator = PartitionAggregator(SourcePlan(metrics), WINDOW, LATENESS, 600)
    decoder = EventDecoder(INPUT_CONTRACTS["calls"])
    base = datetime(2026, 11, 2, 10, 0, tzinfo=UTC).timestamp()

    def call(offset_s: float, ident: str) -> Event:
        ts = datetime.fromtimestamp(base + offset_s, tz=UTC).isoformat()
        payload = f'{{"ts": "{ts}", "call_id": "{ident}", "region": "north", "cell_id": "n1", "network": "4G", "result": "answered"}}'
        event = decoder.decode(payload.encode(), now=2e9)
        assert not isinstance(event, Rejection)
        return event

    batch = [call(i, f"c{i}") for i in range(0, 30)]
    batch.insert(10, call(3600, "skewed"))  # an hour ahead, then the stream goes on at 10:00
    batch.insert(20, call(6000, "skewed-2"))  # two wrong clocks in a row do not confirm each other
    batch.insert(21, call(8400, "skewed-3"))
    batch.insert(22, call(-2400, "late"))  # and a late event does not pull the watermark back
    result = aggregator.add(batch)
    assert [e.event_id() for e in result.late] == ["late"], "late against the watermark of the events before it"
    assert aggregator.close_due() == [], "no window closed: the wrong clocks moved nothing"
    assert aggregator.add([call(31, "c31")]).late == []
    assert aggregator.watermark == base + 31, "wrong clocks do not move it"


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
    aggregator.add([complaint("2026-11-02T10:03:30Z", "t2")])  # one event 200 s on: not yet believed
    assert aggregator.close_due() == []
    aggregator.add([complaint("2026-11-02T10:03:29Z", "t2b")])  # confirmed: the watermark passes 10:01 + 120 s
    closed = aggregator.close_due()
    assert [start for start, _ in closed] == [int(datetime(2026, 11, 2, 10, 0, tzinfo=UTC).timestamp())]
    late = aggregator.add([complaint("2026-11-02T10:00:50Z", "t3")]).late
    assert [e.event_id() for e in late] == ["t3"]
    assert aggregator.add([complaint("2026-11-02T10:03:31Z", "t2")]).duplicates == 1

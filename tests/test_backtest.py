"""``telewatch backtest``: recorded points, the backtest figures, and the HTML report.

A real backtest runs over a short simulation with scheduled incidents of
several kinds (points made by the streams stages in-process); the figures
themselves are checked on small hand-made cases whose flags are known.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.contracts import MetricPoint
from core.series import parse_series_key
from detectors.series_detector import Verdict
from simulator import SimulatorSettings
from telewatch.backtest.recorded_points import (
    PointsFormatError,
    StageCounts,
    parse_csv,
    points_from_simulation,
    read_points,
    simulate_to,
    write_points,
)
from telewatch.backtest.report import render_report, write_report
from telewatch.backtest.run import GroundTruth, is_related, is_rollup, read_incidents, run_backtest
from telewatch.config import Config

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


class Stub:
    """A detector whose flags are known: anomalous above 10 (a missing window: when ``loud``), flagged from the
    second anomalous window in a row. The shipped detectors are tuned elsewhere; the figures must not move with them."""

    kind = "value"

    def __init__(self, loud: bool = False) -> None:
        self.loud = loud
        self.previous = False

    def feed(self, ts: float, value: float, volume: float | None = None) -> Verdict:
        return self._verdict(ts, value, value > 10)

    def feed_missing(self, ts: float) -> Verdict:
        return self._verdict(ts, math.nan, self.loud)

    def _verdict(self, ts: float, value: float, anomalous: bool) -> Verdict:
        flagged, self.previous = anomalous and self.previous, anomalous
        return Verdict(ts, value, 5.0, 4.0, 6.0, 1.0 if anomalous else 0.0, anomalous, flagged)


def stubbed(loud: bool = False) -> Callable[[str], Stub]:
    return lambda series: Stub(loud)


def kpi_point(series: str, minute: int, value: float) -> MetricPoint:
    metric, dims = parse_series_key(series)
    start = T0 + timedelta(minutes=minute)
    return MetricPoint(
        metric=metric,
        series=series,
        dims=dims,
        window_start=start,
        window_end=start + timedelta(minutes=1),
        value=value,
        count=1,
    )


def wavy(minute: int) -> float:
    """A steady series with a little regular noise."""
    return 5.0 + 0.1 * (minute % 3)


CELL = "probe_ms|element=r-c01|kpi=x|region=r"
REGION = "probe_ms|kpi=x|region=r"
OTHER = "probe_ms|kpi=y|region=q"


def spiky(series: str, spikes: set[int], minutes: int = 180, skip: frozenset[int] = frozenset()) -> list[MetricPoint]:
    return [kpi_point(series, m, wavy(m) + (20.0 if m in spikes else 0.0)) for m in range(minutes) if m not in skip]


def truth(incident_id: str, start: int, end: int, series: list[str]) -> GroundTruth:
    return GroundTruth(
        id=incident_id, kind="cell_outage", start=T0 + timedelta(minutes=start), end=T0 + timedelta(minutes=end),
        series=series,
    )  # fmt: skip


# -- the figures, on hand-made cases ----------------------------------------------------------------------
def test_figures_of_a_hand_made_case() -> None:
    points = [
        *spiky(CELL, set(range(100, 110))),  # the incident's own series
        *spiky(REGION, set(range(100, 105))),  # its roll-up
        *spiky(OTHER, {150, 151, 152, 154, 155, 156}),  # a false alarm
    ]
    incidents = [
        truth("inc-1", 100, 110, [CELL]),
        truth("inc-2", 40, 50, ["probe_ms|kpi=z|region=q"]),  # no points at all: missed
    ]
    result = run_backtest(points, incidents=incidents, progress=False, detector_factory=stubbed())

    assert result.window_s == 60
    missed, detected = result.incidents  # by start
    assert detected.detected and detected.first_flag_series == CELL
    # anomalous from minute 100, flagged at 101: the flag is raised when window 101 ends, 2 windows in.
    assert detected.ttd_windows == pytest.approx(2.0)
    assert detected.first_flag_at == T0 + timedelta(minutes=101)
    assert not missed.detected and missed.ttd_windows is None and missed.note == "no points on its series"
    assert result.recall == pytest.approx(0.5)

    labels = {(e.series, e.label, e.incident_id) for e in result.episodes}
    assert labels == {(CELL, "incident", "inc-1"), (REGION, "incident", "inc-1"), (OTHER, "false", None)}
    assert result.precision == pytest.approx(2 / 3)
    false = next(e for e in result.episodes if e.label == "false")
    assert false.start == (T0 + timedelta(minutes=151)).timestamp()  # flagged from the second anomalous window
    assert false.end == (T0 + timedelta(minutes=157)).timestamp()
    assert false.flagged_points == 4  # 151, 152, 155, 156: one episode, the flags are 2 windows apart
    series_days = 3 * 180 / 1440
    assert result.series_days == pytest.approx(series_days)
    assert result.false_alarms_per_series_day == pytest.approx(1 / series_days)
    assert result.median_ttd_windows == pytest.approx(2.0)
    kinds = {k.kind: k for k in result.by_kind()}
    assert kinds["cell_outage"].incidents == 2 and kinds["cell_outage"].detected == 1
    assert result.series[CELL].incidents == ["inc-1"]
    assert set(result.traces) == {CELL, REGION, OTHER}

    summary = json.loads(json.dumps(result.to_json()))["summary"]
    assert summary["recall"] == pytest.approx(0.5) and summary["false_alarms"] == 1

    # The first hour only learned: inc-2 (minute 40) is left out, and so are its series-days.
    learned = run_backtest(points, incidents=incidents, progress=False, detector_factory=stubbed(), learn_s=3600)
    assert [i.id for i in learned.incidents] == ["inc-1"] and learned.unscored_incidents == 1
    assert learned.recall == 1.0 and learned.precision == pytest.approx(2 / 3)
    assert learned.series_days == pytest.approx(3 * 120 / 1440)
    assert "Learning period" in render_report(learned)


def test_flags_apart_are_separate_episodes_and_missing_windows_are_fed() -> None:
    gap = frozenset(range(60, 64))
    points = [*spiky(CELL, {100, 101, 102, 120, 121, 122}, skip=gap)]
    result = run_backtest(points, incidents=[], progress=False, detector_factory=stubbed())
    stats = result.series[CELL]
    assert stats.points == 180 - len(gap) and stats.missing == len(gap)
    assert stats.cadence_windows == 1
    assert len(result.episodes) == 2 and {e.label for e in result.episodes} == {"false"}
    assert result.recall is None and result.precision == 0.0

    busy = [kpi_point(OTHER, m, wavy(m)) for m in range(180) if m not in gap]  # silence is anomalous here
    result = run_backtest(
        busy, incidents=[truth("inc-1", 60, 64, [OTHER])], progress=False, detector_factory=stubbed(True)
    )
    assert result.incidents[0].detected and [e.label for e in result.episodes] == ["incident"]


def test_sparse_series_are_judged_at_their_own_cadence() -> None:
    """A KPI reported every 5 windows: its missing slots are those of its cadence, and flags 5 windows apart merge."""
    points = [kpi_point(OTHER, m, wavy(m // 5) + (20.0 if 400 <= m < 430 else 0.0)) for m in range(0, 600, 5)]
    result = run_backtest(
        points, incidents=[truth("inc-1", 400, 430, [OTHER])], progress=False, detector_factory=stubbed()
    )
    assert result.series[OTHER].cadence_windows == 5 and result.series[OTHER].missing == 0
    assert [e.label for e in result.episodes] == ["incident"]
    assert result.incidents[0].detected

    # A region KPI whose 3 cells report at minutes 0, 1 and 2 of every 5: gaps of 1, 1 and 3 are its rhythm.
    rhythm = [kpi_point(OTHER, m, wavy(m)) for m in range(600) if m % 5 < 3 and not 300 <= m < 310]
    stats = run_backtest(rhythm, progress=False, detector_factory=stubbed(True)).series[OTHER]
    assert stats.cadence_windows == 3 and stats.missing == 4  # from 297 to 310: slots 300, 303, 306 and 309


def test_rollups_and_related_series() -> None:
    cell = "call_drop_rate|cell_id=north-c01|region=north"
    assert is_rollup("call_drop_rate|region=north", cell)
    assert not is_rollup("call_setup_success_rate|region=north", cell)
    assert not is_rollup("call_drop_rate|cell_id=north-c02|region=north", cell)
    incident = GroundTruth(
        id="inc-1", kind="core_congestion", start=T0, end=T0 + timedelta(minutes=10),
        series=["call_setup_time_p95|region=north"], scope={"region": "north"},
    )  # fmt: skip
    assert is_related("call_setup_success_rate|region=north", incident)  # the kind moves it too
    assert is_related("call_setup_success_rate|cell_id=north-c09|region=north", incident)
    assert not is_related("call_setup_success_rate|region=south", incident)
    assert not is_related("sms_delivery_success_rate|channel=106900001", incident)
    outage = GroundTruth(
        id="inc-2", kind="cell_outage", start=T0, end=T0 + timedelta(minutes=10), series=[cell],
        scope={"region": "north", "cell_id": "north-c01"},
    )  # fmt: skip
    assert is_related("network_kpi|element=north-c01|kpi=prb_utilisation|region=north", outage)
    assert not is_related("network_kpi|element=north-c02|kpi=prb_utilisation|region=north", outage)


# -- recorded points --------------------------------------------------------------------------------------
def test_points_round_trip_through_jsonl(tmp_path: Path) -> None:
    points = spiky(CELL, {5}, minutes=10)
    for name in ("points.jsonl", "points.jsonl.gz"):
        assert write_points(tmp_path / name, points) == 10
        assert read_points(tmp_path / name) == points


def test_csv_columns_and_influxdb_exports(tmp_path: Path) -> None:
    plain = (
        "window_start,series,value,numerator,denominator,count\n"
        "2026-11-02T08:01:00Z,call_drop_rate|region=north,0.02,2,100,100\n"
        "2026-11-02T08:00:00Z,call_drop_rate|region=north,0.01,1,100,100\n"
        "1793606520,call_drop_rate|region=north,0.03,3,100,100\n"
    )
    points = parse_csv(io.StringIO(plain))
    assert [p.value for p in points] == [0.01, 0.02, 0.03]  # sorted by time; epoch seconds read as such
    assert points[0].window_end - points[0].window_start == timedelta(minutes=1)  # the spacing of the points
    assert points[0].dims == {"region": "north"} and points[0].denominator == 100.0 and points[0].count == 100

    influx_v1 = (  # curl .../query -H 'Accept: application/csv': name,tags,time (ns) and the selected columns
        "name,tags,time,value,denominator,count,series\n"
        "telewatch_metric,,1793606400000000000,0.97,400,400,call_setup_success_rate|region=north\n"
        "telewatch_metric,,1793606460000000000,0.98,,12i,call_setup_success_rate|region=north\n"
    )
    first, second = parse_csv(io.StringIO(influx_v1))
    assert first.window_start == T0 and first.metric == "call_setup_success_rate"
    assert second.denominator is None and second.count == 12

    flux = (  # influx query --raw: annotations, one field per row, a blank line between tables
        "#datatype,string,long,dateTime:RFC3339,double,string,string,string\n"
        ",result,table,_time,_value,_field,_measurement,series\n"
        ",_result,0,2026-11-02T08:00:00Z,0.97,value,telewatch_metric,call_setup_success_rate|region=north\n"
        ",_result,0,2026-11-02T08:00:00Z,400,denominator,telewatch_metric,call_setup_success_rate|region=north\n"
        "\n"
        "#datatype,string,long,dateTime:RFC3339,double,string,string,string\n"
        ",result,table,_time,_value,_field,_measurement,series\n"
        ",_result,1,2026-11-02T08:00:00Z,400,count,telewatch_metric,call_setup_success_rate|region=north\n"
    )
    (point,) = parse_csv(io.StringIO(flux), window_s=60)
    assert (point.value, point.denominator, point.count) == (0.97, 400.0, 400)

    path = tmp_path / "points.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as stream:
        stream.write(plain)
    assert [p.value for p in read_points(path)] == [0.01, 0.02, 0.03]
    with pytest.raises(PointsFormatError, match="no series column"):
        parse_csv(io.StringIO("time,value\n2026-11-02T08:00:00Z,1\n"))
    with pytest.raises(PointsFormatError, match="no time zone"):
        parse_csv(io.StringIO("time,series,value\n2026-11-02T08:00:00,m|a=b,1\n"))


# -- a real backtest over a simulation --------------------------------------------------------------------
SCHEDULE = [
    {"kind": "sms_channel_outage", "start_offset_s": 2.5 * 3600, "duration_s": 1800, "channel": "106900001"},
    {"kind": "cell_outage", "start_offset_s": 3.5 * 3600, "duration_s": 2400, "cell_id": "north-c02"},
    {"kind": "core_congestion", "start_offset_s": 4.6 * 3600, "duration_s": 1200, "region": "south"},
    {"kind": "complaint_surge", "start_offset_s": 5.0 * 3600, "duration_s": 2400, "region": "north"},
]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("backtest-sim")
    settings = SimulatorSettings.model_validate(
        {
            "seed": 11,
            "rate": 40,
            "speed": "max",
            "topology": {"regions": ["north", "south"], "cells_per_region": 3},
            "incidents": {"random": {"per_day": 0}, "schedule": SCHEDULE},
        }
    )
    simulate_to(out, settings, T0, 6 * 3600)
    return out


def test_backtest_of_a_simulation_writes_the_report(simulated: Path, tmp_path: Path) -> None:
    config = Config()
    counts = StageCounts()
    points = points_from_simulation(simulated, config.streams, counts=counts)
    assert counts.events > 0 and counts.dead_letters.get("clock_skew", 0) >= 0
    assert points and all(p.window_start < T0 + timedelta(hours=6) for p in points)
    windows: dict[str, list[datetime]] = {p.series: [] for p in points}
    for p in points:
        windows[p.series].append(p.window_start)
    assert all(w == sorted(set(w)) for w in windows.values()), "one point per series and window, in order"

    incidents = read_incidents(simulated / "incidents.jsonl")
    assert [i.kind for i in incidents] == [s["kind"] for s in SCHEDULE]
    result = run_backtest(points, config, incidents, progress=False)

    assert [i.id for i in result.incidents] == [i.id for i in incidents]
    assert result.points == len(points) and result.window_s == config.streams.window_s
    for outcome in result.incidents:
        assert outcome.detected == (outcome.ttd_windows is not None)
        assert outcome.series_with_points <= len(outcome.series)
        if outcome.detected:
            assert outcome.first_flag_series in outcome.series and outcome.ttd_windows is not None
            assert outcome.ttd_windows >= 0
    for figure in (result.recall, result.precision):
        assert figure is not None and 0.0 <= figure <= 1.0
    assert sum(s.flagged for s in result.series.values()) >= len(result.episodes)

    report = write_report(result, tmp_path / "report.html", command="telewatch backtest --simulate 6h")
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "telewatch backtest --simulate 6h" in text
    assert "<script" not in text and not re.search(r"(src|href)=['\"]?https?:", text), "self-contained"
    table = text[text.index("<h2>Incidents</h2>") : text.index("<h2>False alarms")]
    for incident in incidents:
        assert f"<td>{incident.id}</td>" in table and incident.kind in table
    plotted = re.findall(r"<div class='series'><h3>([^<]+)</h3>", text)
    assert plotted and text.count("<svg") >= len(plotted)
    assert set(plotted) <= set(result.traces)
    for outcome in result.incidents:  # each incident's catching series (or nearest miss) is plotted
        if outcome.first_flag_series is not None:
            assert outcome.first_flag_series in plotted
    assert not re.search(r"1[3-9]\d\*{4}\d{4}", text), "no subscriber numbers"


def test_report_caps_the_plotted_series() -> None:
    points = [p for k in range(5) for p in spiky(f"network_kpi|kpi=k{k}|region=r", {100, 101, 102})]
    result = run_backtest(points, incidents=[], progress=False, detector_factory=stubbed())
    text = render_report(result, max_series=2)
    assert len(re.findall(r"<div class='series'>", text)) == 2
    assert "3 more series with an incident or a flag are not plotted" in text
    assert "Ground truth" not in text  # incidents were given (none)
    assert "none given" in render_report(run_backtest(points, progress=False, detector_factory=stubbed()))

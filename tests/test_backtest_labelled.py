"""``telewatch backtest`` on labelled series (``timestamp,value,label`` CSV): point-adjusted figures on hand-made
cases with known answers, the best-threshold scan against brute force, CSV errors, and the command end to end."""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from core.contracts import MetricPoint
from detectors.series_detector import Verdict
from telewatch.backtest.labelled import run_labelled
from telewatch.backtest.labelled_csv import LabelledFormatError, LabelledSeries, is_labelled, read_labelled
from telewatch.backtest.point_adjust import best_threshold, episodes, point_adjusted
from telewatch.backtest.recorded_points import write_points
from telewatch.cli import app

T0 = 1_700_000_000.0
STEP = 300.0


def bools(text: str) -> np.ndarray:
    """``"0011"`` → a boolean array."""
    return np.array([c == "1" for c in text], dtype=np.bool_)


# -- point adjustment ------------------------------------------------------------------------------------
def test_a_segment_flagged_within_the_delay_is_detected_whole() -> None:
    f = point_adjusted(bools("00111100"), bools("00001000"), delay=3)
    assert (f.tp, f.fn, f.fp, f.segments, f.detected_segments) == (4, 0, 0, 1, 1)
    assert (f.precision, f.recall, f.f1) == (1.0, 1.0, 1.0)


def test_a_segment_flagged_too_late_is_missed_whole_and_its_late_flag_is_no_false_positive() -> None:
    f = point_adjusted(bools("00111100"), bools("00000100"), delay=3)
    assert (f.tp, f.fn, f.fp, f.detected_segments) == (0, 4, 0, 0)
    assert f.precision is None and f.recall == 0.0 and f.f1 == 0.0
    assert point_adjusted(bools("00111100"), bools("00000100"), delay=4).tp == 4  # the 4th point is in reach


def test_flags_outside_segments_are_false_positives() -> None:
    f = point_adjusted(bools("00110000"), bools("10100011"), delay=7)
    assert (f.tp, f.fn, f.fp, f.flagged) == (2, 0, 3, 4)
    assert f.precision == pytest.approx(2 / 5) and f.recall == 1.0 and f.f1 == pytest.approx(4 / 7)
    assert f.unlabelled_flag_share == pytest.approx(3 / 6)
    assert f.episodes == 2  # 0-2 (gap of one point merged), 6-7


def test_episodes_merge_gaps_of_one_point() -> None:
    assert episodes(bools("1010011000101")) == [(0, 3), (5, 7), (10, 13)]
    assert episodes(bools("1001")) == [(0, 1), (3, 4)]
    assert episodes(bools("0000")) == []


class Above:
    """A detector that flags values above 10 and scores value / 20."""

    kind = "value"

    def feed(self, ts: float, value: float, volume: float | None = None) -> Verdict:
        return Verdict(ts, value, 0.0, None, None, value / 20, value > 10, value > 10)

    def feed_missing(self, ts: float) -> Verdict:  # pragma: no cover - never called for labelled series
        raise AssertionError("labelled series have no missing slots")


def series(name: str, values: list[float], labels: str) -> LabelledSeries:
    ts = T0 + STEP * np.arange(len(values), dtype=np.float64)
    return LabelledSeries(name, f"{name}.csv", ts, np.asarray(values, dtype=np.float64), bools(labels))


def test_several_series_are_pooled_over_all_their_points() -> None:
    # a: a 4-point segment flagged at its 2nd point (found), one false positive;
    # b: a 2-point segment never flagged (missed), a 1-point segment flagged (found).
    a = series("a", [0, 0, 1, 12, 1, 1, 0, 15, 0, 0], "0011110000")
    b = series("b", [0, 1, 1, 0, 0, 11, 0, 0], "01100100")
    result = run_labelled([a, b], delay=2, detector_factory=lambda name: Above(), progress=False)
    fa, fb = (o.figures for o in result.outcomes)
    assert (fa.tp, fa.fn, fa.fp) == (4, 0, 1) and (fb.tp, fb.fn, fb.fp) == (1, 2, 0)
    p = result.pooled
    assert (p.points, p.labelled, p.segments, p.detected_segments) == (18, 7, 3, 2)
    assert (p.tp, p.fn, p.fp) == (5, 2, 1)
    assert p.precision == pytest.approx(5 / 6) and p.recall == pytest.approx(5 / 7) and p.f1 == pytest.approx(10 / 13)
    assert p.days == pytest.approx(fa.days + fb.days) and fa.days == pytest.approx(10 * STEP / 86400)
    assert p.unlabelled_flag_share == pytest.approx(1 / 11)


# -- best threshold --------------------------------------------------------------------------------------
def test_best_threshold_of_a_hand_made_case() -> None:
    one = (bools("00111000"), np.array([0.1, 0.6, 0.2, 0.9, 0.3, 0.4, 0.7, 0.1]))
    two = (bools("1100"), np.array([0.5, 0.1, 0.8, 0.0]))
    within_two = best_threshold([one], delay=2)  # the segment's head reaches 0.9: above every normal point
    assert within_two is not None and (within_two.f1, within_two.threshold) == (1.0, 0.9)
    # delay 1: segment heads 0.2 (3 points) and 0.5 (2 points); at t = 0.2 all 5 labelled points are found
    # and 4 normal points (0.8, 0.7, 0.6, 0.4) are false positives: F1 = 10 / (10 + 4) beats t = 0.5 (4 / 10).
    best = best_threshold([one, two], delay=1)
    assert best is not None
    assert best.threshold == 0.2 and best.f1 == pytest.approx(10 / 14)
    assert (best.tp, best.fp, best.fn) == (5, 4, 0) and best.precision == pytest.approx(5 / 9) and best.recall == 1
    assert best_threshold([(bools("000"), np.array([0.1, 0.2, 0.3]))]) is None  # nothing labelled


def test_best_threshold_equals_brute_force_over_every_score() -> None:
    rng = np.random.default_rng(3)
    cases = []
    for n in (60, 90, 45):
        label = np.zeros(n, dtype=np.bool_)
        for start in rng.choice(n - 8, size=3, replace=False):
            label[start : start + rng.integers(1, 8)] = True
        cases.append((label, np.round(rng.random(n), 2)))  # rounded: ties between scores
    delay = 3
    best = best_threshold(cases, delay)
    assert best is not None
    brute = []
    for t in np.unique(np.concatenate([s for _, s in cases])):
        pooled = [point_adjusted(label, score >= t, delay) for label, score in cases]
        tp, fp, fn = (sum(getattr(f, k) for f in pooled) for k in ("tp", "fp", "fn"))
        brute.append((2 * tp / (2 * tp + fp + fn), t, tp, fp))
    f1, _, tp, fp = max(brute, key=lambda row: (row[0], row[1]))
    assert best.f1 == pytest.approx(f1) and (best.tp, best.fp) == (tp, fp)
    at = [point_adjusted(label, score >= best.threshold, delay) for label, score in cases]
    assert sum(f.tp for f in at) == best.tp and sum(f.fp for f in at) == best.fp


# -- reading ---------------------------------------------------------------------------------------------
def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reading_sorts_points_and_splits_a_series_column(tmp_path: Path) -> None:
    single = write(tmp_path / "cpu.csv", "timestamp,value,label\n600,2.5,1\n0,1.0,0\n300,1.5,0\n")
    multi = write(tmp_path / "m.csv", "series,timestamp,value,label\nx,0,1,0\ny,0,2,1\nx,300,3,1\n")
    assert is_labelled(single) and not is_labelled(write(tmp_path / "p.csv", "time,series,value\n"))
    cpu, x, y = read_labelled([single, multi])
    assert (cpu.name, x.name, y.name) == ("cpu", "x", "y")
    assert cpu.ts.tolist() == [0, 300, 600] and cpu.value.tolist() == [1.0, 1.5, 2.5]
    assert cpu.label.tolist() == [False, False, True] and x.label.tolist() == [False, True]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,label\n0,0\n", "bad.csv:1: the header has no value column; a labelled CSV needs the columns "
                                   "timestamp,value,label"),
        ("value,label\n1,0\n", "bad.csv:1: the header has no timestamp column"),
        ("timestamp,value,label\n0,1,0\n300,abc,0\n", "bad.csv:3: value 'abc' is not a number; correct it or delete"),
        ("timestamp,value,label\n0,1,0\n300,nan,0\n", "bad.csv:3: value 'nan' is not a finite number"),
        ("timestamp,value,label\n0,1,0\n300,1,0\n600,1,2\n", "bad.csv:4: label '2' is not 0 or 1; write 1 inside"),
        ("timestamp,value,label\n0,1,yes\n", "bad.csv:2: label 'yes' is not 0 or 1"),
        ("timestamp,value,label\n0,1\n", "bad.csv:2: 2 cells where the header has 3"),
        ("timestamp,value,label\n0,1,0\n0,2,0\n", "bad.csv:3: timestamp 0 of series 'bad' is also on line 2"),
        ("timestamp,value,label\nnoon,1,0\n", "bad.csv:2: time 'noon' is neither RFC 3339 nor an epoch number"),
        ("timestamp,value,label\n", "bad.csv: a header but no points"),
    ],
)  # fmt: skip
def test_malformed_csv_names_file_line_and_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(LabelledFormatError) as caught:
        read_labelled([write(tmp_path / "bad.csv", text)])
    assert str(caught.value).startswith(f"{tmp_path}/") and message in str(caught.value)


def test_a_file_that_is_no_text_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"timestamp,value,label\n\xff\xfe\x00\x81,1,0\n")
    with pytest.raises(LabelledFormatError, match=r"bin.csv: not a readable UTF-8 CSV file .*; export it again"):
        read_labelled([binary])


def test_one_series_name_in_two_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    first = write(tmp_path / "cpu.csv", "timestamp,value,label\n0,1,0\n")
    second = write(tmp_path / "d" / "cpu.csv", "timestamp,value,label\n0,1,0\n")
    with pytest.raises(LabelledFormatError, match="series 'cpu' is also in"):
        read_labelled([first, second])


# -- the command -----------------------------------------------------------------------------------------
def wave(n: int, spikes: list[int], seed: int) -> np.ndarray:
    """A daily wave with a little noise, +8 for 6 points at each spike (5-minute points; spikes after the first
    day: the seasonal baseline is still loose on its first day)."""
    rng = np.random.default_rng(seed)
    value = 10 + 2 * np.sin(2 * math.pi * np.arange(n) / 288) + rng.normal(0, 0.1, n)
    for start in spikes:
        value[start : start + 6] += 8
    return value


def csv_lines(value: np.ndarray, segments: list[int], name: str | None = None) -> list[str]:
    label = np.zeros(len(value), dtype=np.bool_)
    for start in segments:
        label[start : start + 6] = True
    prefix = f"{name}," if name else ""
    return [
        f"{prefix}{T0 + STEP * i:.0f},{v!r},{int(b)}"
        for i, (v, b) in enumerate(zip(value.tolist(), label, strict=True))
    ]


def test_backtest_command_on_labelled_csv(tmp_path: Path) -> None:
    n = 576  # two days of 5-minute points
    folder = tmp_path / "kpi"
    folder.mkdir()
    # a: two spikes labelled, and a labelled segment whose values look normal (it cannot be found).
    write(folder / "a.csv", "\n".join(["timestamp,value,label", *csv_lines(wave(n, [300, 420], 1), [200, 300, 420])]))
    rows = csv_lines(wave(n, [350], 2), [350], "c1") + csv_lines(wave(n, [450], 3), [450], "c2")
    write(folder / "multi.csv", "\n".join(["series,timestamp,value,label", *rows[::-1]]))  # any order
    write(folder / "notes.txt", "not a CSV: ignored")
    extra = tmp_path / "b.csv.gz"
    with gzip.open(extra, "wt", encoding="utf-8") as stream:
        stream.write("\n".join(["timestamp,value,label", *csv_lines(wave(n, [330], 4), [330])]))
    out, report = tmp_path / "out.json", tmp_path / "report.html"
    args = ["backtest", "--points", str(folder), "--points", str(extra), "--report", str(report), "--json", str(out)]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    assert "labelled series, point-adjusted (delay 7)" in result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["kind"] == "labelled" and doc["delay"] == 7
    assert [s["series"] for s in doc["series"]] == ["a", "b", "c1", "c2"]
    pooled = doc["pooled"]
    for key in ("points", "labelled", "segments", "detected_segments", "tp", "fn", "fp", "flagged", "episodes"):
        assert pooled[key] == sum(s[key] for s in doc["series"]), key
    assert pooled["points"] == 4 * n and pooled["labelled"] == 6 * 6 and pooled["segments"] == 6
    assert pooled["tp"] + pooled["fn"] == pooled["labelled"]
    assert pooled["tp"] + pooled["fn"] + pooled["fp"] + pooled["tn"] == pooled["points"]
    assert pooled["days"] == pytest.approx(4 * 2.0)
    # the five spikes are found, the segment without a spike is not
    assert (pooled["detected_segments"], pooled["tp"], pooled["fn"]) == (5, 30, 6)
    assert pooled["recall"] == pytest.approx(30 / 36)
    assert pooled["precision"] == pytest.approx(30 / (30 + pooled["fp"]))
    for figure in ("precision", "recall", "f1", "unlabelled_flag_share"):
        assert 0.0 <= pooled[figure] <= 1.0, figure
    assert pooled["episodes"] <= pooled["flagged"]
    assert pooled["episodes_per_series_day"] == pytest.approx(pooled["episodes"] / pooled["days"])
    best = pooled["best_threshold"]
    assert 0.0 <= best["threshold"] <= 1.0 and best["tp"] + best["fn"] == pooled["labelled"]
    assert best["f1"] == pytest.approx(2 * best["tp"] / (2 * best["tp"] + best["fp"] + best["fn"]))
    assert best["f1"] >= 30 / 36 * 2 / (1 + 30 / 36)  # a threshold flagging the five spikes alone is at hand
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text
    assert all(f"<h3>{name}</h3>" in text for name in ("a", "b", "c1", "c2")) and "zoom: a missed segment" in text


def test_backtest_command_refuses_bad_labelled_input(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.csv", "timestamp,value,label\n0,1,0\n300,1,7\n")
    runner = CliRunner()
    result = runner.invoke(app, ["backtest", "--points", str(bad), "--report", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and f"{bad}:3: label '7' is not 0 or 1" in result.stderr
    plain = write(tmp_path / "plain.csv", "time,series,value\n0,m,1\n")
    good = write(tmp_path / "good.csv", "timestamp,value,label\n0,1,0\n")
    mixed = runner.invoke(app, ["backtest", "--points", str(good), "--points", str(plain), "--report", "r.html"])
    assert mixed.exit_code == 2 and f"scored alone: leave out {plain}" in mixed.stderr


def test_backtest_command_still_reads_metric_points(tmp_path: Path) -> None:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    points = [
        MetricPoint(metric="probe_ms", series=f"probe_ms|kpi={k}", dims={"kpi": k},
                    window_start=start + timedelta(minutes=m), window_end=start + timedelta(minutes=m + 1),
                    value=5.0 + 0.1 * (m % 3), count=1)
        for k in ("x", "y") for m in range(60)
    ]  # fmt: skip
    write_points(tmp_path / "x.jsonl", points[:60])
    write_points(tmp_path / "y.jsonl", points[60:])
    out = tmp_path / "out.json"
    args = ["backtest", "--points", str(tmp_path / "x.jsonl"), "--points", str(tmp_path / "y.jsonl"),
            "--report", str(tmp_path / "r.html"), "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text(encoding="utf-8"))["runs"][0]["summary"]
    assert summary["points"] == 120 and summary["series"] == 2


SHARED_KPI = Path(__file__).resolve().parents[2] / "shared" / "data" / "kpi"


@pytest.mark.skipif(
    not SHARED_KPI.is_dir(), reason="the labelled real KPIs (../shared/data/kpi) are not beside this clone"
)
def test_the_real_labelled_kpis_are_evaluated_end_to_end(tmp_path: Path) -> None:
    """The evaluation runs on the real labelled KPIs as an engineer runs it; figures in docs/DETECTORS.md."""
    out = tmp_path / "kpi.json"
    result = CliRunner().invoke(
        app, ["backtest", "--points", str(SHARED_KPI), "--report", str(tmp_path / "kpi.html"), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    pooled = figures["pooled"]
    assert pooled["segments"] == 82 and pooled["points"] == 52_704, "the three series of the data README"
    assert pooled["tp"] + pooled["fn"] == pooled["labelled"] and pooled["tn"] + pooled["fp"] == pooled["unlabelled"]
    best = pooled["best_threshold"]
    assert best["f1"] >= pooled["f1"], "the best threshold is at least as good as the flag decision"
    assert {s["series"] for s in figures["series"]} == {
        "cpu4",
        "server_res_eth1out_curve_6",
        "server_res_eth1out_curve_61",
    }

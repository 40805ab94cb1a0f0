"""The demo's periodic status: short plain lines for pipes and logs, a live table with progress bars on a terminal."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from simulator.stats import Stats
from telewatch.demo_console import (
    PLAIN_WIDTH,
    AlertingCounters,
    DemoConsole,
    DetectorsCounters,
    Replay,
    Snapshot,
    StreamsCounters,
)
from telewatch.demo_report import Counters

AT = datetime(2026, 11, 23, 12, 1, 5, tzinfo=UTC).timestamp()
ANSI = re.compile(r"\x1b\[")
STREAMS = StreamsCounters(
    events=1_234_000, series=412, points=3_210, dead_letters={"malformed_json": 5, "late": 9}, late=9,
    duplicates=27, influx_written=3_205, influx_buffered=5,
)  # fmt: skip
DETECTORS = DetectorsCounters(points=3_210, judged=2_987, anomalies=17, silent=1, correlated=3)


def snapshot(**changes: object) -> Snapshot:
    fields: dict[str, object] = {
        "at": AT, "produced": 1_234_567, "produced_per_s": 1_002.4, "streams": STREAMS, "streams_per_s": 998.0,
        "detectors": DETECTORS, "episodes": 4, "incidents": 2, "influx_points": 3_198, "since": AT - 7200,
        "behind_from": 10_000,
    }  # fmt: skip
    fields.update(changes)
    return Snapshot(**fields)  # type: ignore[arg-type]


def plain(s: Snapshot, width: int = PLAIN_WIDTH) -> str:
    console = Console(file=io.StringIO(), width=80)  # a pipe: not a terminal
    display = DemoConsole(console, width=width)
    assert not display.live
    display.show(s)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def row(cells: tuple[str, ...]) -> re.Pattern[str]:
    """A boxed table's row: the label left-aligned, the values right-aligned, one cell each."""
    label, *values = (re.escape(c) for c in cells)
    return re.compile(rf"│ {label} +│" + "".join(rf" +{value} │" for value in values))


def terminal(s: Snapshot) -> tuple[str, str]:
    """What a terminal 120 columns wide shows: the text, and the raw output with its escape codes."""
    console = Console(file=io.StringIO(), force_terminal=True, record=True, width=120)
    display = DemoConsole(console)
    assert display.live
    display.show(s)
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(raw, str)
    return console.export_text(), raw


def test_plain_lines_are_short_free_of_escape_codes_and_hold_every_counter() -> None:
    out = plain(snapshot())
    lines = out.splitlines()
    assert not ANSI.search(out)
    assert len(lines) == 3 and all(len(line) <= PLAIN_WIDTH < 200 for line in lines), lines
    assert lines[0] == (
        "12:01:05 live     produced 1,002/s (1,234,567)  streams 998 ev/s (1,234,000)  series 412  points 3,210  "
        "influx 3,198 since 10:01:05"
    )
    assert all(line.startswith(" " * 9) for line in lines[1:]), lines
    # Plain lines carry no styling even on a console that could show it.
    styled = Console(file=io.StringIO(), force_terminal=True, width=80)
    DemoConsole(styled, live=False).show(snapshot())
    assert styled.file.getvalue() == out  # type: ignore[attr-defined]
    text = " ".join(out.split())
    for shown in (
        "series 412", "points 3,210", "influx 3,198 since 10:01:05",
        "detectors judged 2,987 of 3,210 points", "anomalies 17 (4 episodes, 1 silent)", "correlated incidents 3",
        "injected incidents 2", "dead letters 14 (late 9, malformed_json 5)", "late 9", "duplicates 27",
        "InfluxDB written 3,205 buffered 5",
    ):  # fmt: skip
        assert shown in text, (shown, out)


def test_plain_lines_stay_within_the_width_however_long_a_counter_gets() -> None:
    reasons = {f"reason_{i}": 1_000 + i for i in range(20)}
    error = "InfluxDB query 'SELECT count(value) FROM telewatch_metric' failed: " + "connection refused " * 12
    s = snapshot(streams=StreamsCounters(events=5, dead_letters=reasons), influx_points=error)
    lines = plain(s, width=100).splitlines()
    assert all(len(line) <= 100 for line in lines), lines
    text = " ".join(" ".join(lines).split())
    assert (
        "dead letters 20,190 (reason_0 1,000, reason_1 1,001" in text
        and "reason_19 1,019, reason_2 1,002" in text
        and "reason_9 1,009)" in text
    )
    assert f"InfluxQL: {' '.join(error.split())}" in text  # wrapped, not cut
    assert "series -" in text and "late -" in text  # counters the status file lacks


def test_plain_lines_say_when_a_worker_has_no_status_yet_and_when_points_are_due() -> None:
    s = snapshot(streams=None, detectors=None, influx_points=None, first_points_at=AT + 115)
    out = plain(s)
    assert "streams worker: no status yet" in out and "detectors worker: no status yet" in out
    assert "(first metric points due about 12:03:00)" in out
    assert "influx" not in out and "dead letters" not in out
    assert "points due" not in plain(snapshot(first_points_at=AT - 1))  # shown only until then


def test_plain_lines_show_the_replay_progress_and_the_streams_backlog() -> None:
    replay = Replay(sim_at=AT - 3000, fraction=0.25, produced=1_000_000)
    assert replay.total == 4_000_000
    s = snapshot(replay=replay, produced=1_000_000, streams=StreamsCounters(events=600_000))
    lines = plain(s).splitlines()
    assert lines[0].startswith("12:01:05 history  replay 25% (sim 11:11:05, 1,000,000 of ~4,000,000 events)")
    assert "streams 998 ev/s (600,000, 400,000 to read)" in " ".join(lines)
    # A backlog under 10 s of traffic is not worth a mention.
    assert "to read" not in plain(snapshot(produced=1_234_567 + 9_000))


def test_the_terminal_shows_every_counter_in_tables() -> None:
    text, raw = terminal(snapshot())
    assert ANSI.search(raw)  # styled: a terminal
    assert "telewatch demo  12:01:05 UTC  live" in text
    assert "history replay" not in text and "━" not in text  # no replay, no backlog: no bars
    for cells in (
        ("", "per second", "total"), ("produced", "1,002", "1,234,567"), ("streams events", "998", "1,234,000"),
        ("metric series", "", "412"), ("metric points", "", "3,210"), ("InfluxDB written", "", "3,205"),
        ("InfluxDB buffered", "", "5"), ("InfluxQL finds", "", "3,198"),
        ("judged points", "of 3,210", "2,987"), ("anomalies", "4 episodes", "17"), ("  silent", "", "1"),
        ("correlated incidents", "", "3"), ("injected incidents", "ground truth", "2"),
        ("dead letters", "14"), ("  late", "9"), ("  malformed_json", "5"), ("late events", "9"), ("duplicates", "27"),
    ):  # fmt: skip
        assert row(cells).search(text), (cells, text)
    assert "InfluxQL: metric points since 10:01:05" in text
    assert all(len(line) <= 120 for line in text.splitlines())


def test_the_terminal_shows_the_replay_and_the_streams_worker_catching_up_as_progress_bars() -> None:
    replay = Replay(sim_at=AT - 3000, fraction=0.25, produced=1_000_000)
    text, _ = terminal(snapshot(replay=replay, produced=1_000_000, streams=StreamsCounters(events=600_000)))
    assert "telewatch demo  12:01:05 UTC  history" in text
    bars = {line.split("━")[0].strip(): line for line in text.splitlines() if "━" in line}
    assert set(bars) == {"history replay", "streams worker"}, text
    assert re.search(
        r" 25% 1,000,000 of ~4,000,000 events produced, simulated clock at 11:11:05", bars["history replay"]
    )
    assert re.search(r" 60% 600,000 of 1,000,000 events read, 400,000 to read", bars["streams worker"])
    # The bars' filled part is their share of 30 cells: 7.5 (a half cell ends it) and 18 (the rest begins after).
    assert re.match(r"history replay ━{7}╸━{22}  25%", bars["history replay"]), bars
    assert re.match(r"streams worker ━{18}╺━{11}  60%", bars["streams worker"]), bars


def test_the_live_table_keeps_lines_printed_meanwhile_above_it() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, record=True, width=120)
    with DemoConsole(console) as display:
        display.show(snapshot())
        console.print("12:01:06 ANOMALY critical sms_delivery_success_rate|channel=106900001", markup=False)
        display.show(snapshot(episodes=5))
    text = console.export_text()
    anomaly = text.index("ANOMALY critical")
    last_table = text.rindex("telewatch demo  12:01:05 UTC  live")
    assert anomaly < last_table and "5 episodes" in text[last_table:], text


@pytest.mark.parametrize("width", [80, 120])
def test_a_narrow_terminal_stacks_the_tables(width: int) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, record=True, width=width)
    DemoConsole(console).show(snapshot())
    text = console.export_text()
    assert all(len(line) <= width for line in text.splitlines())
    assert "1,234,567" in text and "2,987" in text and "…" not in text  # nothing cut short
    side_by_side = any("traffic" in line and "detectors" in line for line in text.splitlines())
    assert side_by_side == (width >= 100)


def test_counters_gather_produced_events_across_history_and_live_and_the_replay_share() -> None:
    counters = Counters(first_points_at=None, since=AT - 7200, rate=100.0)
    start = datetime.fromtimestamp(AT - 3600, UTC)
    history = Stats(seed=1, sim_start=start, sim_end=start + timedelta(minutes=15), events={"sms": 5_000})
    counters.replaying(start.timestamp(), AT)
    counters.on_progress(history)
    status = {"events": 4_000, "series": 7, "points": 70, "dead_letters": {"late": 2}, "influxdb": {"written": 60}}
    s = counters.snapshot(status, {"judged": 50, "points": 70}, episodes=1, queryable=65)
    assert s.replay is not None and s.replay.fraction == pytest.approx(0.25) and s.replay.produced == 5_000
    assert s.replay.sim_at == pytest.approx(AT - 2700)
    assert s.produced == 5_000 and s.to_read is None  # 1,000 behind: under 10 s of traffic at 100/s
    assert s.streams == StreamsCounters(
        events=4_000, series=7, points=70, dead_letters={"late": 2}, influx_written=60
    )  # fmt: skip
    assert s.detectors == DetectorsCounters(points=70, judged=50) and s.influx_points == 65
    assert s.produced_per_s > 0 and s.streams_per_s > 0
    counters.replayed()
    live = Stats(seed=1, sim_start=history.sim_end, sim_end=history.sim_end, events={"sms": 300})
    counters.on_progress(live)
    s = counters.snapshot(status, None, episodes=1, queryable=None)
    assert s.replay is None and s.phase == "live" and s.produced == 5_300 and s.to_read == 1_300
    assert s.detectors is None


def test_alerting_counters_are_a_line_of_their_own_and_a_table() -> None:
    told = AlertingCounters(alerts=3, sms=2, im=1, acknowledged=1)
    lines = plain(snapshot(alerting=told)).splitlines()
    assert len(lines) == 4 and all(len(line) <= PLAIN_WIDTH for line in lines), lines
    assert lines[2] == " " * 9 + "alerts 3  SMS at the SMSC 2  IM messages 1  acknowledged 1"
    assert len(plain(snapshot()).splitlines()) == 3  # no alerting in the run: no line
    text, _ = terminal(snapshot(alerting=told))
    assert "people told" in text
    for cells in (("alerts opened", "3"), ("SMS at the fake SMSC", "2"), ("IM robot messages", "1")):
        assert row(cells).search(text), text

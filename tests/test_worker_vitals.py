"""``telewatch_worker``: the lines of a worker's report, what :class:`runtime.vitals.Vitals` puts in them, and the
documented queries against a real InfluxDB 1.6.7. (A real worker writing them: tests/test_detectors_worker.py.)"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from core.influx_schema import WORKER, ProcessVitals, TopicVitals, worker_lines
from devstack.influxdb_server import InfluxDBServer
from runtime.influx_sink import SinkStats, V1Writer
from runtime.vitals import VITALS_EVERY_S, Vitals, topic_lags, worker_id

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DOC = Path(__file__).resolve().parents[1] / "docs" / "INFLUXDB.md"

# -- the lines ------------------------------------------------------------------------------------


def parse(line: str) -> tuple[str, dict[str, str], dict[str, str], int]:
    """A line (no escaped characters) as measurement, tags, raw field values, time."""
    series, fields, ts = line.split(" ")
    measurement, *tags = series.split(",")
    pairs = dict(t.split("=", 1) for t in tags)
    return measurement, pairs, dict(f.split("=", 1) for f in fields.split(",")), int(ts)


def test_worker_lines_schema_types_and_unknown_lag_left_out() -> None:
    process = ProcessVitals(uptime_s=61, started=False, influx_buffered=7, influx_written=9000,
                            influx_dropped=12, influx_retried=3)  # fmt: skip
    topics = {"t.calls": TopicVitals(1200, 120, 35), "t.sms": TopicVitals(0, 0.0, None)}
    ts = T0 + timedelta(seconds=10)
    first, *per_topic = (parse(line) for line in worker_lines("streams", "h-1-2", process, topics, ts))

    assert first == (
        WORKER,
        {"stage": "streams", "worker": "h-1-2"},
        {"uptime_s": "61.0", "started": "0i", "influx_buffered": "7i", "influx_written": "9000i",
         "influx_dropped": "12i", "influx_retried": "3i"},
        1704067210000000000,
    )  # fmt: skip
    assert [p[1] for p in per_topic] == [
        {"stage": "streams", "topic": "t.calls", "worker": "h-1-2"},
        {"stage": "streams", "topic": "t.sms", "worker": "h-1-2"},
    ]
    assert per_topic[0][2] == {"records": "1200i", "records_per_s": "120.0", "lag": "35i"}
    assert per_topic[1][2] == {"records": "0i", "records_per_s": "0.0"}, "an unknown lag is left out, never 0"
    assert {p[0] for p in per_topic} == {WORKER} and {p[3] for p in per_topic} == {1704067210000000000}


# -- Vitals -------------------------------------------------------------------------------------


@dataclass
class FakeSink:
    stats: SinkStats = field(default_factory=SinkStats)
    lines: list[str] = field(default_factory=list)

    def add(self, lines: Iterable[str]) -> int:
        self.lines.extend(lines)
        return len(self.lines)

    def reports(self) -> list[list[tuple[str, dict[str, str], dict[str, str], int]]]:
        """The lines, one list per report (a report starts with its process point)."""
        out: list[list[tuple[str, dict[str, str], dict[str, str], int]]] = []
        for line in self.lines:
            parsed = parse(line)
            if "topic" not in parsed[1]:
                out.append([])
            out[-1].append(parsed)
        return out


@dataclass
class FakeConsumer:
    lags: dict[TP, int | None]
    fails: bool = False

    def assignment(self) -> Collection[TP]:
        if self.fails:
            raise RuntimeError("Consumer thread not yet started")
        return set(self.lags)

    def lag(self, tp: TP) -> int | None:
        return self.lags[tp]


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Record:
    offset: int


def batch(offsets: range) -> list[ConsumerRecord[bytes, bytes]]:
    return [cast(ConsumerRecord[bytes, bytes], Record(offset)) for offset in offsets]


def fields_by_topic(report: list[tuple[str, dict[str, str], dict[str, str], int]]) -> dict[str, dict[str, str]]:
    return {tags.get("topic", ""): fields for _, tags, fields, _ in report}


async def test_vitals_count_records_per_topic_rates_started_and_sink_counters() -> None:
    clock, sink = Clock(), FakeSink()
    consumer = FakeConsumer({TP("a", 0): 4, TP("a", 1): 0, TP("b", 0): None})
    vitals = Vitals("detectors", consumer=lambda: consumer, sink=lambda: sink, started=100.0, worker="w-1",
                    clock=clock, wall=lambda: T0)  # fmt: skip
    handled: list[tuple[TP, int]] = []

    async def handler(tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        handled.append((tp, len(records)))

    on_a, on_b = vitals.counting("a", handler), vitals.counting("b", handler)
    clock.now = 101.0
    await vitals.tick()  # the first tick reports at once
    await on_a(TP("a", 0), batch(range(30)))
    await on_a(TP("a", 1), batch(range(10)))
    await on_b(TP("b", 0), batch(range(5)))
    clock.now = 105.0
    await vitals.tick()  # not due yet
    sink.stats = SinkStats(written=50, retried=2, dropped_overflow=3, dropped_rejected=4, buffered=6)
    clock.now = 111.0
    await vitals.tick()

    assert handled == [(TP("a", 0), 30), (TP("a", 1), 10), (TP("b", 0), 5)], "the handlers get every batch"
    first, second = sink.reports()
    assert fields_by_topic(first) == {
        "": {"uptime_s": "1.0", "started": "1i", "influx_buffered": "0i", "influx_written": "0i",
             "influx_dropped": "0i", "influx_retried": "0i"},
        "a": {"records": "0i", "records_per_s": "0.0", "lag": "4i"},
        "b": {"records": "0i", "records_per_s": "0.0"},  # b/0 has no known lag yet
    }  # fmt: skip
    assert fields_by_topic(second) == {
        "": {"uptime_s": "11.0", "started": "0i", "influx_buffered": "6i", "influx_written": "50i",
             "influx_dropped": "7i", "influx_retried": "2i"},
        "a": {"records": "40i", "records_per_s": "4.0", "lag": "4i"},
        "b": {"records": "5i", "records_per_s": "0.5"},
    }  # fmt: skip
    assert all(tags["stage"] == "detectors" and tags["worker"] == "w-1" for _, tags, _, _ in first + second)


async def test_records_handed_out_again_after_a_rebalance_count_once() -> None:
    sink = FakeSink()
    vitals = Vitals("streams", consumer=lambda: None, sink=lambda: sink, started=0.0, clock=Clock())
    on_a = vitals.counting("a", _ignore)
    await on_a(TP("a", 0), batch(range(100, 130)))
    await on_a(TP("a", 0), batch(range(100, 110)))  # from the last commit again: seen
    await on_a(TP("a", 0), batch(range(120, 140)))  # 10 of them new
    await on_a(TP("a", 1), batch(range(100, 105)))  # another partition
    await on_a(TP("a", 0), [])
    assert vitals.records == {"a": 45}


async def test_vitals_report_every_10_s_and_a_last_one_without_lag_at_stop() -> None:
    clock, sink = Clock(), FakeSink()
    consumer = FakeConsumer({TP("a", 0): 0})
    vitals = Vitals("streams", consumer=lambda: consumer, sink=lambda: sink, started=100.0, clock=clock)
    on_a = vitals.counting("a", _ignore)
    for now in (100.5, 103.0, 110.0, 110.6, 115.0, 120.6, 121.0):
        clock.now = now
        await vitals.tick()
    await on_a(TP("a", 0), batch(range(3)))
    clock.now = 122.0
    vitals.stop()
    clock.now = 131.0
    await vitals.tick()
    vitals.stop()  # once only

    reports = sink.reports()
    assert [fields_by_topic(r)[""]["uptime_s"] for r in reports] == ["0.5", "10.6", "20.6", "22.0"]
    assert VITALS_EVERY_S == 10.0
    assert [fields_by_topic(r)["a"].get("lag") for r in reports] == ["0i", "0i", "0i", None]
    assert fields_by_topic(reports[-1])["a"]["records"] == "3i"
    assert [fields_by_topic(r)[""]["started"] for r in reports] == ["1i", "0i", "0i", "0i"]


async def test_no_report_before_the_sink_exists_and_the_first_one_says_started() -> None:
    clock, sink = Clock(), FakeSink()
    ready = False
    vitals = Vitals("alerting", consumer=lambda: None, sink=lambda: sink if ready else None, started=100.0,
                    clock=clock)  # fmt: skip
    vitals.counting("anomalies", _ignore)
    await vitals.tick()
    ready = True
    clock.now = 101.0
    await vitals.tick()
    [report] = sink.reports()
    assert fields_by_topic(report)[""]["started"] == "1i"
    assert fields_by_topic(report)["anomalies"] == {"records": "0i", "records_per_s": "0.0"}, "no consumer: no lag"


def test_lag_per_topic_only_when_every_assigned_partition_is_known() -> None:
    consumer = FakeConsumer(
        {TP("a", 0): 3, TP("a", 1): 4, TP("b", 0): 5, TP("b", 1): None, TP("changelog", 0): 9, TP("d", 0): 0}
    )
    assert topic_lags(consumer, {"a", "b", "c", "d"}) == {"a": 7, "d": 0}
    assert topic_lags(FakeConsumer({TP("a", 0): 1}, fails=True), {"a"}) == {}
    assert topic_lags(None, {"a"}) == {}


def test_worker_id_is_host_pid_and_start_time() -> None:
    host, pid, started = worker_id().rsplit("-", 2)
    assert host == socket.gethostname() and int(pid) == os.getpid()
    assert abs(int(started) - time.time()) < 5


async def _ignore(tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> None:
    return None


# -- the documented queries ---------------------------------------------------------------------------


def worker_queries() -> list[str]:
    section = DOC.read_text().split("## `telewatch_worker`", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)\n```", section, flags=re.DOTALL)


def run(server: InfluxDBServer, db: str, q: str) -> list[dict[str, Any]]:
    q = q.replace("$timeFilter", "time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T01:00:00Z'")
    answer = server.query(q.replace("$__interval", "5m"), db=db)
    out = []
    for series in answer["results"][0].get("series", []):
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            if any(v is not None for k, v in row.items() if k != "time"):  # empty buckets are null
                out.append({**series.get("tags", {}), **row})
    return out


async def test_documented_worker_queries_on_influxdb(influxdb_server: InfluxDBServer) -> None:
    """Two streams workers (one restarted in the second 5-minute bucket) and a detectors worker."""
    db = f"t_{uuid.uuid4().hex[:12]}"

    def report(stage: str, worker: str, minute: int, started: bool, dropped: int, topics: dict[str, TopicVitals]) -> list[str]:  # fmt: skip
        process = ProcessVitals(60.0 * minute + 1, started, 10 * minute, 1000 * minute, dropped, 0)
        return worker_lines(stage, worker, process, topics, T0 + timedelta(minutes=minute))

    lines = [
        *report("streams", "h-1-0", 0, True, 0, {"calls": TopicVitals(0, 100.0, 50), "sms": TopicVitals(0, 20.0, 1)}),
        *report("streams", "h-1-0", 1, False, 4, {"calls": TopicVitals(9, 300.0, 30), "sms": TopicVitals(9, 40.0, 2)}),
        *report("streams", "h-2-0", 6, True, 0, {"calls": TopicVitals(5, 50.0, 7)}),
        *report("streams", "h-1-0", 7, False, 10, {"calls": TopicVitals(9, 10.0, 5), "sms": TopicVitals(9, 0.0, None)}),
        *report("detectors", "h-3-0", 7, True, 0, {"metrics": TopicVitals(3, 2.0, 0)}),
    ]  # fmt: skip
    writer = V1Writer(influxdb_server.url, db)
    await writer.start()
    try:
        await asyncio.wait_for(writer.write(lines), 10)
    finally:
        await writer.close()

    rates, lags, starts, drops = worker_queries()
    got = {(r["topic"], r["time"][11:16]): r["records_per_s"] for r in run(influxdb_server, db, rates)}
    # 00:00 bucket: h-1 only (mean of 100 and 300); 00:05: h-1 plus h-2.
    assert got == {("calls", "00:00"): 200.0, ("sms", "00:00"): 30.0, ("calls", "00:05"): 60.0,
                   ("sms", "00:05"): 0.0, ("metrics", "00:05"): 2.0}  # fmt: skip
    got = {(r["topic"], r["time"][11:16]): r["lag"] for r in run(influxdb_server, db, lags)}
    assert got[("calls", "00:00")] == 30 and got[("calls", "00:05")] == 12 and got[("metrics", "00:05")] == 0
    assert got[("sms", "00:00")] == 2 and got.get(("sms", "00:05")) is None, "an unknown lag is no 0"
    got = {(r["stage"], r["time"][11:16]): r["starts"] for r in run(influxdb_server, db, starts)}
    assert got[("streams", "00:00")] == 1 and got[("streams", "00:05")] == 1 and got[("detectors", "00:05")] == 1
    rows = [r for r in run(influxdb_server, db, drops) if r["worker"] == "h-1-0"]
    assert [(r["time"][11:16], r["dropped"], r["buffered"]) for r in rows] == [("00:00", None, 10), ("00:05", 6, 70)]

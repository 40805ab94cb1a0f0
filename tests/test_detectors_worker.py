"""The detectors worker on Apache Kafka: anomalies with fingerprints and evidence, a correlated incident,
state kept across a restart, hot reload of the detectors section, and a bad reload refused; and the
``telewatch_worker`` points both of its processes wrote to InfluxDB (records per topic, lag, starts, sink).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from core.contracts import AnomaliesRecord, Anomaly
from devstack.influxdb_server import InfluxDBServer
from devstack.kafka_server import KafkaServer
from fixtures.kafka_read import read_topic
from fixtures.metric_points import point, traffic
from fixtures.worker_process import Status, WorkerProcess, worker_processes
from runtime.topics import ensure_topics
from stack_config import write_test_config
from telewatch.config import Config, load_config

SURGE = {"region": "north", "category": "network", "scenario": "network.no_signal"}


@pytest.fixture
def config_path(tmp_path: Path, kafka_server: KafkaServer, influxdb_server: InfluxDBServer) -> Path:
    prefix = f"dw{uuid.uuid4().hex[:8]}"
    roles = ("metrics", "anomalies")
    topics = {role: {"name": f"{prefix}.{role}", "partitions": 2 if role == "metrics" else 1} for role in roles}
    return write_test_config(
        tmp_path,
        kafka={"mode": "external", "bootstrap_servers": [kafka_server.endpoint], "topics": topics},
        influxdb={"mode": "external", "url": influxdb_server.url, "database": prefix},
    )


def start(config_path: Path, name: str, app_id: str) -> WorkerProcess:
    data = config_path.parent / "w"
    data.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "telewatch", "detect", "-c", str(config_path), "--app-id", app_id]
    command += ["--status-file", str(data / f"{name}.json")]
    return WorkerProcess(command, data / f"{name}.json", data / f"{name}.log")


async def send(config: Config, payloads: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap_servers())
    await producer.start()
    try:
        for payload in payloads:
            key = msgspec.json.decode(payload)["series"].encode()
            await producer.send(config.kafka.topics.metrics.name, payload, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def surge(minutes: range, high: range) -> list[bytes]:
    return [point("complaint_count", SURGE, m, 12.0 if m in high else float(m % 2), 0) for m in minutes]


async def read_anomalies(config: Config) -> list[Anomaly]:
    records = await read_topic(config.bootstrap_servers(), config.kafka.topics.anomalies.name, idle_s=2.0)
    decoded = [msgspec.json.decode(r.value, type=AnomaliesRecord) for r in records]
    return [r for r in decoded if isinstance(r, Anomaly)]


def refuse_direction(path: Path) -> int:
    """Write a direction the schema refuses; return its line number."""
    text = path.read_text().replace("direction: up", "direction: sideways")
    path.write_text(text)
    return next(i for i, row in enumerate(text.splitlines(), 1) if "sideways" in row)


def edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def worker_points(influx: InfluxDBServer, config: Config) -> dict[str, list[dict[str, Any]]]:
    """The ``telewatch_worker`` points by ``worker`` tag, oldest first (times in ms)."""
    answer = influx.query('SELECT * FROM "telewatch_worker"', db=config.influxdb.database, epoch="ms")
    by_worker: dict[str, list[dict[str, Any]]] = {}
    for series in answer["results"][0].get("series", []):
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            by_worker.setdefault(row["worker"], []).append(row)
    return by_worker


def points_of(status: Status, points: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The points of the process whose status this is (its ``worker`` tag is host-PID-start time)."""
    prefix = f"{socket.gethostname()}-{status['pid']}-"
    tags = [tag for tag in points if tag.startswith(prefix)]
    assert len(tags) <= 1, tags
    return points[tags[0]] if tags else []


async def wait_for_caught_up_report(influx: InfluxDBServer, config: Config, status: Status, after_ms: int) -> None:
    """Wait for a report of the process written after ``after_ms`` with a lag: 0 on both topics (caught up)."""
    topics = config.kafka.topics
    rows: list[dict[str, Any]] = []
    for _ in range(30):
        rows = points_of(status, worker_points(influx, config))
        lags = {r["topic"]: r["lag"] for r in rows if r["time"] > after_ms and r["lag"] is not None}
        if lags:
            assert lags == {topics.metrics.name: 0, topics.anomalies.name: 0}, rows[-3:]
            return
        await asyncio.sleep(1)
    pytest.fail(f"no report with a lag after {after_ms}: {rows[-3:]}")


async def committed(config: Config, group: str) -> dict[str, int]:
    """The offsets the consumer group has committed, summed per topic (where the next worker starts)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=config.bootstrap_servers())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    out: dict[str, int] = {}
    for tp, meta in offsets.items():
        out[tp.topic] = out.get(tp.topic, 0) + max(meta.offset, 0)
    return out


async def end_offsets(config: Config, topic: str, partitions: int) -> int:
    """Records in ``topic`` (a fresh topic: its end offsets, summed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=config.bootstrap_servers())
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await consumer.stop()
    return sum(ends.values())


def check_worker_points(
    influx: InfluxDBServer, config: Config, finals: list[Status], records: list[dict[str, int]]
) -> None:
    """Each process wrote its reports: one start, ``records`` per topic as expected, its sink's counters."""
    points = worker_points(influx, config)
    assert len(points) == len(finals), f"one worker tag per process: {sorted(points)}"
    for final, expected in zip(finals, records, strict=True):
        rows = points_of(final, points)
        assert {r["stage"] for r in rows} == {"detectors"}
        process = [r for r in rows if r["topic"] is None]
        assert [r["started"] for r in process] == [1] + [0] * (len(process) - 1), "started = 1 once, first"
        last = process[-1]
        assert last["influx_written"] > 0 and last["influx_dropped"] == 0 and last["influx_retried"] == 0
        assert last["influx_buffered"] >= 0 and last["uptime_s"] > 0
        last_records = {r["topic"]: r["records"] for r in rows if r["topic"] is not None}  # the last per topic
        assert last_records == expected, "records: what the process consumed of each topic"


async def test_anomalies_correlation_restart_and_hot_reload(config_path: Path, influxdb_server: InfluxDBServer) -> None:
    config = load_config(config_path)
    await ensure_topics(config.bootstrap_servers(), config.kafka)  # before the first send auto-creates one
    app_id = f"{config.kafka.topics.metrics.name}-detectors"
    series = "call_setup_success_rate|region=north"
    with worker_processes() as started:
        first = start(config_path, "first", app_id)
        started.append(first)
        # 90 normal windows: the detectors learn (warm-up is 30 points).
        await send(config, traffic(range(0, 90), outage=range(0)) + surge(range(0, 90), high=range(0)))
        await first.wait_for(lambda s: s["judged"] >= 2 * 90 - 2 * 5, "the normal windows judged", limit_s=120)
        assert (first.status() or {})["anomalies"] == 0, "normal traffic raises nothing"
        first.stop()
        first_final = first.status() or {}
        handed_over = await committed(config, app_id)

        # Restarted, it goes on with trained detectors: an outage 10 windows later is flagged at once.
        second = start(config_path, "second", app_id)
        started.append(second)
        await send(
            config, traffic(range(90, 120), outage=range(100, 110)) + surge(range(90, 120), high=range(102, 107))
        )
        status = await second.wait_for(lambda s: s["correlated"] >= 1, "a correlated incident", limit_s=120)
        found = await read_anomalies(config)
        outage = [a for a in found if a.series == series and a.detector == "seasonal"]
        assert outage and {a.fingerprint for a in outage} == {outage[0].fingerprint}
        assert outage[0].started_at.minute == 40 and outage[0].ts.minute == 41, "flagged at the 2nd window (minute 101)"
        assert outage[0].evidence and outage[0].evidence[0].series == series
        correlated = [a for a in found if a.detector == "correlation"]
        assert len(correlated) == 1 and correlated[0].dims["scenario"] == "network.no_signal"
        surge_series = "complaint_count|category=network|region=north|scenario=network.no_signal"
        assert {e.series for e in correlated[0].evidence} == {series, surge_series}
        assert status["config_generation"] == 1

        # Hot reload: only a rise is bad now, so the next drop raises nothing.
        edit(config_path, lambda d: d.setdefault("detectors", {}).update(
            {"metrics": {"call_setup_success_rate": {"direction": "up"}}}))  # fmt: skip
        await second.wait_for(lambda s: s["config_generation"] == 2, "the reload", limit_s=30)
        before = (second.status() or {})["anomalies"]
        await send(config, traffic(range(120, 150), outage=range(130, 150)))  # no recovery: that would be a rise
        await second.wait_for(lambda s: s["judged"] >= (status["judged"] + 30), "the next windows judged", limit_s=60)
        assert (second.status() or {})["anomalies"] == before, "the reloaded direction applies without a restart"
        caught_up_ms = int(time.time() * 1000) + 500  # every record is consumed by then

        # A bad file is refused with its line; the running configuration stays.
        line = refuse_direction(config_path)
        refused = await second.wait_for(lambda s: bool(s["reload_error"]), "the refusal", limit_s=30)
        assert f"telewatch.yaml:{line}:" in refused["reload_error"] and "direction" in refused["reload_error"]
        assert refused["config_generation"] == 2 and second.proc.poll() is None

        await wait_for_caught_up_report(influxdb_server, config, refused, caught_up_ms)
        second.stop()

    # The first process judged every record it consumed; the second consumed the rest of each topic from the
    # offsets the first committed (records it had applied but not committed come again, and are skipped).
    metrics, anomalies = config.kafka.topics.metrics.name, config.kafka.topics.anomalies.name
    sent = 2 * 90 + 2 * 30 + 30  # the metric points sent above
    anomaly_records = await end_offsets(config, anomalies, config.kafka.topics.anomalies.partitions)
    expected = [
        {metrics: first_final["points"], anomalies: handed_over.get(anomalies, 0)},
        {metrics: sent - handed_over.get(metrics, 0), anomalies: anomaly_records - handed_over.get(anomalies, 0)},
    ]
    check_worker_points(influxdb_server, config, [first_final, second.status() or {}], expected)

"""The detectors worker on Apache Kafka: anomalies with fingerprints and evidence, a correlated incident,
state kept across a restart, hot reload of the detectors section, and a bad reload refused.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from core.contracts import AnomaliesRecord, Anomaly
from devstack.influxdb_server import InfluxDBServer
from devstack.kafka_server import KafkaServer
from fixtures.kafka_read import read_topic
from fixtures.metric_points import point, traffic
from fixtures.worker_process import WorkerProcess, worker_processes
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


async def test_anomalies_correlation_restart_and_hot_reload(config_path: Path) -> None:
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

        # A bad file is refused with its line; the running configuration stays.
        line = refuse_direction(config_path)
        refused = await second.wait_for(lambda s: bool(s["reload_error"]), "the refusal", limit_s=30)
        assert f"telewatch.yaml:{line}:" in refused["reload_error"] and "direction" in refused["reload_error"]
        assert refused["config_generation"] == 2 and second.proc.poll() is None

"""The alerting lag in the API's /metrics: Kafka's partition ends against the ledger's consumer marks."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from alerting.ledger import Ledger
from devstack.kafka_server import KafkaServer
from devstack.process import free_port
from runtime.topics import ensure_topics
from stack_config import write_test_config
from telewatch.alerting_lag import LagProbe
from telewatch.config import load_config

NOW = datetime(2026, 12, 6, tzinfo=UTC)


async def test_lag_is_what_kafka_has_beyond_the_ledgers_marks(kafka_server: KafkaServer, tmp_path: Path) -> None:
    topic = f"lag{uuid.uuid4().hex[:8]}.anomalies"
    path = write_test_config(tmp_path, kafka={"mode": "external", "bootstrap_servers": [kafka_server.endpoint],
                                              "topics": {"anomalies": {"name": topic, "partitions": 2}}})  # fmt: skip
    config = load_config(path)
    await ensure_topics(config.bootstrap_servers(), config.kafka)
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap_servers())
    await producer.start()
    try:
        for i in range(7):
            await producer.send_and_wait(topic, b"{}", partition=0 if i < 5 else 1)
    finally:
        await producer.stop()
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ledger.set_mark(f"{topic}/0", 1, NOW)  # offsets 0 and 1 applied
        probe = LagProbe(ledger, config.bootstrap_servers(), topic, 2)
        gauges = await probe.measure()
        assert gauges == {
            "alerting_kafka_reachable": 1.0,
            "alerting_lag_records_p0": 3.0,
            "alerting_lag_records_p1": 2.0,
            "alerting_lag_records": 5.0,
        }
        ledger.set_mark(f"{topic}/1", 1, NOW)
        assert (await probe.measure())["alerting_lag_records"] == 3.0


async def test_an_unreachable_kafka_is_reported_not_fatal(tmp_path: Path) -> None:
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        probe = LagProbe(ledger, [f"127.0.0.1:{free_port()}"], "t.anomalies", 1, every_s=0.1)
        stop = asyncio.Event()
        task = asyncio.create_task(probe.run(stop))
        for _ in range(100):
            if probe.gauges():
                break
            await asyncio.sleep(0.1)
        stop.set()
        await task
        assert probe.gauges() == {"alerting_kafka_reachable": 0.0}

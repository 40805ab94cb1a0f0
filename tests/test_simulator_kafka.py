"""The simulator's Kafka sink against the embedded Tansu broker: what is consumed is what the file sink writes."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from core.contracts import INPUT_CONTRACTS
from devstack.tansu import TansuServer
from simulator import FileSink, KafkaSink, Simulator, SimulatorSettings, run_simulation
from simulator.catalog import ROLES
from simulator.settings import FAULT_KINDS
from simulator.sinks import role_file

START = datetime(2026, 11, 18, 10, tzinfo=UTC)
DURATION_S = 120.0
PARTITIONS = 3
KEY_FIELD = {"calls": "cell_id", "sms": "channel", "kpi": "element", "complaints": "region"}
SETTINGS = SimulatorSettings.model_validate(
    {
        "rate": 25,
        "speed": "max",
        "complaints_per_hour": 600,
        "topology": {"regions": ["north", "south", "east"], "cells_per_region": 6, "kpi_interval_s": 60},
        "incidents": {
            "random": {"per_day": 0},
            "schedule": [{"kind": "cell_outage", "start_offset_s": 30, "duration_s": 60}],
        },
        "faults": dict.fromkeys(FAULT_KINDS, 0.005),
    }
)


async def create_topics(endpoint: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoint, request_timeout_ms=15000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names])
    finally:
        await admin.close()


async def consume(endpoint: str, topics: list[str], expected: int, timeout_s: float = 20.0) -> list[Any]:
    """Every record of ``topics`` from the start; stops at ``expected`` records (end offsets are unreliable on Tansu)."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=endpoint, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


@pytest.mark.parametrize("batch_records", [None, 1])
async def test_kafka_sink_round_trip(tansu_server: TansuServer, tmp_path: Path, batch_records: int | None) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics = {role: f"sim-{role}-{suffix}" for role in ROLES}
    await create_topics(tansu_server.endpoint, list(topics.values()))
    sink = KafkaSink(
        [tansu_server.endpoint],
        topics,
        tmp_path / "kafka",
        linger_ms=10,
        batch_bytes=16 * 1024,
        batch_records=batch_records,
    )
    stats = await run_simulation(SETTINGS, sink, START, DURATION_S)
    await run_simulation(SETTINGS, FileSink(tmp_path / "files"), START, DURATION_S)

    written = {role: (tmp_path / "files" / role_file(role)).read_bytes().split(b"\n")[:-1] for role in ROLES}
    assert {role: len(lines) for role, lines in written.items()} == stats.events
    assert min(stats.events.values()) > 50 and sum(stats.faults.values()) > 10
    for name in ("incidents.jsonl", "faults.jsonl", "summary.json"):
        assert (tmp_path / "kafka" / name).read_bytes() == (tmp_path / "files" / name).read_bytes(), name

    records = await consume(tansu_server.endpoint, list(topics.values()), stats.total_events)
    assert len(records) == stats.total_events
    role_of = {topic: role for role, topic in topics.items()}
    consumed: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        consumed[role_of[record.topic]].append((record.key, record.value))
        partitions_of_key[record.key].add(record.partition)
        assert record.timestamp <= (START.timestamp() + DURATION_S) * 1000
    assert all(len(p) == 1 for p in partitions_of_key.values())
    assert len({p for ps in partitions_of_key.values() for p in ps}) == PARTITIONS

    sent: dict[str, list[tuple[bytes, bytes]]] = {role: [] for role in ROLES}
    for tick in Simulator(SETTINGS, START).ticks(until=START + timedelta(seconds=DURATION_S)):
        for message in tick.messages():
            sent[message.role].append((message.key, message.payload))
    for role in ROLES:
        assert [payload for _, payload in sent[role]] == written[role], role
        assert Counter(consumed[role]) == Counter(sent[role]), role
        for key in {key for key, _ in sent[role]}:  # one key, one partition: its records arrive in send order
            assert [v for k, v in consumed[role] if k == key] == [v for k, v in sent[role] if k == key]
        decoder = msgspec.json.Decoder(INPUT_CONTRACTS[role])
        for key, value in consumed[role]:
            try:
                event = decoder.decode(value)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue  # a bad event keeps the key of the event it was made from (checked above)
            assert key == getattr(event, KEY_FIELD[role]).encode(), (role, value)

"""Events round-trip through a real broker (embedded Tansu and Apache Kafka) with their contracts."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.serializers.codecs import get_codec
from test_contracts import documented_examples

from core.codecs import codec_name, register_codecs
from core.contracts import INPUT_CONTRACTS, INTERNAL_CONTRACTS
from core.settings import KafkaSettings, TopicSettings, TopicsSettings
from devstack.process import ManagedServer
from runtime.topics import ensure_topics

ROLES = sorted(INPUT_CONTRACTS) + sorted(INTERNAL_CONTRACTS)


def unique_topics() -> KafkaSettings:
    prefix = f"rt-{uuid.uuid4().hex[:8]}"
    topics = {role: TopicSettings(name=f"{prefix}.{role}", partitions=2) for role in TopicsSettings.model_fields}
    return KafkaSettings(mode="external", topics=TopicsSettings(**topics))


@pytest.mark.parametrize("broker", ["tansu_server", "kafka_server"])
async def test_every_contract_round_trips_through_broker(broker: str, request: pytest.FixtureRequest) -> None:
    server: ManagedServer = request.getfixturevalue(broker)
    servers = [server.endpoint]
    kafka = unique_topics()
    created = await ensure_topics(servers, kafka)
    assert sorted(created) == sorted(t.name for t in kafka.topics.by_role().values())
    assert await ensure_topics(servers, kafka) == []  # idempotent

    register_codecs()
    examples = documented_examples()
    sent = {role: get_codec(codec_name(role)).loads(examples[role]) for role in ROLES}
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for role, record in sent.items():
            payload = get_codec(codec_name(role)).dumps(record)
            await producer.send_and_wait(kafka.topics.by_role()[role].name, payload, key=role.encode())
    finally:
        await producer.stop()

    topic_role = {t.name: role for role, t in kafka.topics.by_role().items()}
    consumer = AIOKafkaConsumer(*topic_role, bootstrap_servers=servers, auto_offset_reset="earliest")
    await consumer.start()
    received: dict[str, object] = {}
    try:
        async with asyncio.timeout(30):
            while len(received) < len(ROLES):
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        role = topic_role[tp.topic]
                        assert record.key == role.encode()
                        received[role] = get_codec(codec_name(role)).loads(record.value)
    finally:
        await consumer.stop()
    assert received == sent
    for role, record in received.items():
        assert isinstance(record, {**INPUT_CONTRACTS, **INTERNAL_CONTRACTS}[role])

"""Create telewatch's Kafka topics with the partition counts the config asks for."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from telewatch.config import KafkaSettings


async def ensure_topics(bootstrap_servers: list[str], kafka: KafkaSettings) -> list[str]:
    """Create every configured topic that does not exist yet; return the names created.

    Topics are pre-created (rather than auto-created on first use) so each gets
    the partition count from the config.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=",".join(bootstrap_servers), request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in kafka.topics.by_role().values() if t.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(name=t.name, num_partitions=t.partitions, replication_factor=kafka.replication_factor)
                    for t in missing
                ]
            )
        return [t.name for t in missing]
    finally:
        await admin.close()

"""Create telewatch's Kafka topics with the partition counts the config asks for."""

from __future__ import annotations

from collections.abc import Mapping

from core.settings import KafkaSettings
from runtime import faust_bulk


async def ensure_topics(
    bootstrap_servers: list[str], kafka: KafkaSettings, changelogs: Mapping[str, int] | None = None
) -> list[str]:
    """Create every configured topic (and the ``changelogs``, compacted) that does not exist; return those created.

    Topics are pre-created (rather than auto-created on first use) so each gets
    the partition count from the config.
    """
    partitions = {t.name: t.partitions for t in kafka.topics.by_role().values()}
    partitions.update(changelogs or {})
    return await faust_bulk.ensure_topics(
        ",".join(bootstrap_servers),
        partitions,
        compacted=list(changelogs or {}),
        replication_factor=kafka.replication_factor,
    )

"""Sends ticks to Kafka: one topic per role, batches built per partition for throughput.

Keys: cell id (calls), channel (sms), element (kpi), region (complaints); the
partition is the one Kafka's default partitioner (murmur2 of the key) picks, so
consumers see each key's events in send order. Record timestamps are the
simulated send time. The topics must exist (``runtime.topics.ensure_topics``).
On Tansu, whose ListOffsets answer is wrong after multi-record batches, pass
``batch_records=1`` when consumers rely on end offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from simulator.catalog import ROLES, Role
from simulator.sinks import TruthLog
from simulator.tick import Tick

#: Deliveries to wait for before pruning finished ones.
_PRUNE_EVERY = 256


class KafkaSink:
    """Produces every message to ``topics[role]``; the ground truth goes to ``truth_dir``.

    Batches hold up to ``batch_bytes`` (and ``batch_records``, when given) and are sent
    when full, after ``linger_ms``, and whenever a paced run waits for wall time.
    """

    paced = True

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        topics: Mapping[Role, str] | Mapping[str, str],
        truth_dir: Path | str,
        *,
        linger_ms: float = 50.0,
        batch_bytes: int = 512 * 1024,
        batch_records: int | None = None,
        client_id: str = "telewatch-simulator",
        **producer_options: Any,
    ) -> None:
        missing = [role for role in ROLES if role not in topics]
        if missing:
            raise ValueError(f"no topic given for role(s) {', '.join(missing)}")
        self.bootstrap_servers = (
            bootstrap_servers if isinstance(bootstrap_servers, str) else ",".join(bootstrap_servers)
        )
        self.topics = {role: topics[role] for role in ROLES}
        self.truth = TruthLog(truth_dir)
        self.linger_s = linger_ms / 1000
        self.batch_records = batch_records
        self._options: dict[str, Any] = {
            "client_id": client_id,
            "max_batch_size": batch_bytes,
            "max_request_size": max(batch_bytes * 2, 1024 * 1024),
            "linger_ms": 0,
            **producer_options,
        }
        self._producer: Any = None
        self._partitions: dict[str, list[int]] = {}
        self._partition_of: dict[tuple[str, bytes], int] = {}
        self._open: dict[tuple[str, int], Any] = {}
        self._oldest: float | None = None
        self._pending: list[asyncio.Future[Any]] = []

    async def open(self) -> None:
        """Connect and learn each topic's partitions."""
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, **self._options)
        await self._producer.start()
        try:
            for topic in self.topics.values():
                self._partitions[topic] = sorted(await self._producer.partitions_for(topic))
        except BaseException:
            await self._producer.stop()
            raise
        self.truth.open()

    async def write(self, tick: Tick) -> None:
        """Append the tick's messages to per-partition batches; send full ones, and all after the linger."""
        self.truth.write(tick)
        timestamp = round(tick.end.timestamp() * 1000)
        for batch in tick.batches:
            topic = self.topics[batch.role]
            for key, payload in zip(batch.keys, batch.payloads, strict=True):
                partition = self._partition_of.get((topic, key))
                if partition is None:
                    partition = self._partition(topic, key)
                builder = self._open.get((topic, partition))
                if builder is None:
                    builder = self._new_builder(topic, partition)
                if builder.append(timestamp=timestamp, key=key, value=payload) is None:
                    await self._send(topic, partition)
                    builder = self._new_builder(topic, partition)
                    if builder.append(timestamp=timestamp, key=key, value=payload) is None:
                        raise ValueError(f"a {batch.role} message of {len(payload)} bytes does not fit in a batch")
                if self.batch_records is not None and builder.record_count() >= self.batch_records:
                    await self._send(topic, partition)
        if self._oldest is not None and time.monotonic() - self._oldest >= self.linger_s:
            await self.flush()

    async def flush(self) -> None:
        """Hand every open batch to the producer."""
        for topic, partition in list(self._open):
            await self._send(topic, partition)
        self.truth.flush()

    async def close(self, summary: dict[str, Any]) -> None:
        """Send what is left, wait for every delivery, disconnect, write the summary."""
        try:
            if self._producer is not None:
                await self.flush()
                await asyncio.gather(*self._pending)
        finally:
            if self._producer is not None:
                await self._producer.stop()
            self._producer = None
            self._pending = []
            self.truth.close(summary)

    def _partition(self, topic: str, key: bytes) -> int:
        partitions = self._partitions[topic]
        partition = int(DefaultPartitioner()(key, partitions, partitions))
        self._partition_of[(topic, key)] = partition
        return partition

    def _new_builder(self, topic: str, partition: int) -> Any:
        builder = self._producer.create_batch()
        self._open[(topic, partition)] = builder
        if self._oldest is None:
            self._oldest = time.monotonic()
        return builder

    async def _send(self, topic: str, partition: int) -> None:
        builder = self._open.pop((topic, partition))
        if not self._open:
            self._oldest = None
        if builder.record_count() == 0:
            return
        self._pending.append(await self._producer.send_batch(builder, topic, partition=partition))
        if len(self._pending) >= _PRUNE_EVERY:
            for future in self._pending:
                if future.done():
                    future.result()  # raises a delivery error here rather than at close
            self._pending = [f for f in self._pending if not f.done()]

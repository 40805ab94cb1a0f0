"""How far the alerting workers are behind the anomalies topic, for the API's ``/metrics``.

The ledger knows the last offset whose effects it holds per partition (its
consumer marks); Kafka knows each partition's end. Their difference is the
number of anomaly records not yet applied: the alerting lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from alerting.ledger import Ledger

log = logging.getLogger(__name__)


class LagProbe:
    """Measures the lag every ``every_s`` seconds; :meth:`gauges` gives the latest measurement."""

    def __init__(
        self, ledger: Ledger, bootstrap: list[str], topic: str, partitions: int, every_s: float = 10.0
    ) -> None:
        self.ledger = ledger
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.every_s = every_s
        self._gauges: dict[str, float] = {}

    def gauges(self) -> dict[str, float]:
        """``alerting_lag_records`` (all partitions), per partition, and whether Kafka answered (1/0)."""
        return dict(self._gauges)

    async def measure(self) -> dict[str, float]:
        """Ask Kafka for the ends and the ledger for the marks, once."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            ends = await consumer.end_offsets([TopicPartition(self.topic, p) for p in range(self.partitions)])
        finally:
            await consumer.stop()
        gauges: dict[str, float] = {"alerting_kafka_reachable": 1.0}
        total = 0
        for tp, end in ends.items():
            done = await asyncio.to_thread(self.ledger.mark, f"{self.topic}/{tp.partition}")
            lag = max(end - (done + 1 if done is not None else 0), 0)
            gauges[f"alerting_lag_records_p{tp.partition}"] = float(lag)
            total += lag
        gauges["alerting_lag_records"] = float(total)
        return gauges

    async def run(self, stop: asyncio.Event) -> None:
        """Measure until ``stop`` is set; an unreachable Kafka is reported, not fatal."""
        while not stop.is_set():
            try:
                self._gauges = await self.measure()
            except (KafkaError, OSError) as error:
                log.warning("alerting lag: Kafka did not answer: %s", error)
                self._gauges = {**self._gauges, "alerting_kafka_reachable": 0.0}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)

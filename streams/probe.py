"""Ingest probe: reads the input topics, validates every event, and counts what it sees.

Used by the demo to show that events flow into Kafka and how many the
contracts accept or reject (per reason). It only reads; the faust streams
worker is what routes rejected events to the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from streams.contracts import INPUT_CONTRACTS
from streams.validation import EventDecoder, Rejection


@dataclass
class ProbeCounts:
    """Events seen per topic role, accepted, and rejected per (role, reason)."""

    seen: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)

    def total_seen(self) -> int:
        """All events read so far."""
        return sum(self.seen.values())


class IngestProbe:
    """Consumes the input topics (role → topic name) and validates each event."""

    def __init__(
        self, bootstrap_servers: list[str], topics: dict[str, str], max_future_skew_s: float, group_id: str
    ) -> None:
        unknown = set(topics) - set(INPUT_CONTRACTS)
        if unknown:
            raise ValueError(f"not input topic roles: {sorted(unknown)}")
        self.counts = ProbeCounts()
        self._role_of = {name: role for role, name in topics.items()}
        self._decoders = {name: EventDecoder(INPUT_CONTRACTS[role], max_future_skew_s) for role, name in topics.items()}
        self._consumer = AIOKafkaConsumer(
            *topics.values(),
            bootstrap_servers=",".join(bootstrap_servers),
            group_id=group_id,
            auto_offset_reset="earliest",
            enable_auto_commit=True,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Read and validate until ``stop`` is set."""
        await self._consumer.start()
        try:
            while not stop.is_set():
                batches = await self._consumer.getmany(timeout_ms=500, max_records=10000)
                now = time.time()
                for tp, records in batches.items():
                    self._validate(tp.topic, [r.value for r in records if r.value is not None], now)
        finally:
            await self._consumer.stop()

    def _validate(self, topic: str, payloads: list[bytes], now: float) -> None:
        role = self._role_of[topic]
        decoder = self._decoders[topic]
        self.counts.seen[role] += len(payloads)
        for payload in payloads:
            result = decoder.decode(payload, now)
            if isinstance(result, Rejection):
                self.counts.rejected[(role, result.reason)] += 1
            else:
                self.counts.accepted[role] += 1

"""What one simulation step produces: payloads per role, plus the ground truth that began."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from simulator.catalog import Role
from simulator.records import FaultRecord, IncidentRecord


class Message(NamedTuple):
    """One message to send: the Kafka key, the raw JSON payload, and its fault label if it is bad."""

    role: Role
    key: bytes
    payload: bytes
    fault: FaultRecord | None


@dataclass(frozen=True, slots=True)
class Batch:
    """One role's messages of a tick, in send order (columns, for speed)."""

    role: Role
    keys: list[bytes]
    payloads: list[bytes]
    #: Position in this batch → label of the bad event there.
    faults: dict[int, FaultRecord]

    def __len__(self) -> int:
        return len(self.payloads)

    def messages(self) -> Iterator[Message]:
        """The batch as messages."""
        faults = self.faults
        for index, (key, payload) in enumerate(zip(self.keys, self.payloads, strict=True)):
            yield Message(self.role, key, payload, faults.get(index))


@dataclass(frozen=True, slots=True)
class Tick:
    """Simulated time ``[start, end)``: everything produced is sent at ``end``."""

    start: datetime
    end: datetime
    #: One batch per role, in ``ROLES`` order.
    batches: tuple[Batch, ...]
    #: Incidents that began during this tick.
    incidents: tuple[IncidentRecord, ...]

    def messages(self) -> Iterator[Message]:
        """All messages of the tick, role after role."""
        for batch in self.batches:
            yield from batch.messages()

    def faults(self) -> Iterator[FaultRecord]:
        """Labels of the bad events sent in this tick."""
        for batch in self.batches:
            yield from batch.faults.values()

"""Ground-truth records: one JSON line per injected incident and per injected bad event."""

from __future__ import annotations

from datetime import datetime

import msgspec

from simulator.catalog import Role
from simulator.settings import FaultKind, IncidentKind


class IncidentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An injected incident, as written to ``incidents.jsonl``."""

    #: ``inc-0001``, ``inc-0002``, ... in order of start.
    id: str
    kind: IncidentKind
    start: datetime
    end: datetime
    #: The target: some of region, cell_id, channel, category, scenario.
    scope: dict[str, str]
    #: Series keys (``core.series.series_key``) on which the effect is material.
    series: list[str]
    #: The incident's drawn magnitudes (e.g. ``success_rate``, ``latency_factor``).
    params: dict[str, float]
    #: ``schedule`` or ``random``.
    source: str
    description: str


class FaultRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An injected bad event, as written to ``faults.jsonl``."""

    role: Role
    kind: FaultKind
    #: The reason code ``streams.validation.EventDecoder`` rejects it with; None when it is a valid payload.
    reason: str | None
    #: The offending field as a JSON path (``$.region``), when one applies.
    field: str | None
    #: Position in the role's send order (0-based line number in ``<role>.jsonl``).
    seq: int
    #: Simulated time at which it was sent.
    produced_at: datetime
    #: Id of the event it was made from (``Event.event_id()``).
    event_id: str
    detail: str
    #: The exact payload: UTF-8 text, or ``base64:`` + base64 when it is not UTF-8.
    payload: str

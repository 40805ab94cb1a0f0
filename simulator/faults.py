"""Bad events, each labelled: malformed, incomplete or invalid payloads, duplicates, late,
out-of-order and clock-skewed events.

The kinds ``streams.validation.EventDecoder`` rejects carry the reason code (and field)
it gives them; duplicates, late and out-of-order events are valid payloads that the
streams stage must handle, so their reason is None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import numpy as np

from core.contracts import INPUT_CONTRACTS, Event, payload_text
from simulator.catalog import ROLES, Role
from simulator.clock import utc
from simulator.records import FaultRecord
from simulator.settings import FaultKind, FaultSettings
from simulator.tick import Batch

REJECT_REASON: Final[dict[FaultKind, str | None]] = {
    "malformed_json": "malformed_json",
    "missing_field": "missing_field",
    "invalid_field": "invalid_field",
    "duplicate": None,
    "late": None,
    "out_of_order": None,
    "clock_skew": "clock_skew",
}
LATE_S: Final = (600.0, 3600.0)
SKEW_S: Final = (600.0, 7200.0)
DUPLICATE_DELAY_S: Final = (1.0, 30.0)
HOLD_S: Final = (2.0, 15.0)


def _naive(old: Any) -> Any:
    return str(old).removesuffix("Z")


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _old: value


#: Per role: (field, new value from the old one, what is wrong).
_INVALID: Final[dict[Role, tuple[tuple[str, Callable[[Any], Any], str], ...]]] = {
    "calls": (
        ("network", _constant("6G"), "network outside its set"),
        ("result", _constant("hung_up"), "result outside its set"),
        ("setup_ms", _constant(-250), "negative setup time"),
        ("setup_ms", _constant("1200ms"), "setup time as text"),
        ("duration_s", _constant(-3.5), "negative duration"),
        ("cell_id", _constant(""), "empty cell id"),
    ),
    "sms": (
        ("kind", _constant("promo"), "kind outside its set"),
        ("status", _constant("DELIVRD"), "status outside its set"),
        ("latency_ms", _constant(-40), "negative latency"),
        ("latency_ms", _constant("fast"), "latency as text"),
        ("channel", _constant(""), "empty channel"),
    ),
    "kpi": (
        ("value", _constant("n/a"), "value as text"),
        ("value", _constant(None), "null value"),
        ("element_type", _constant("antenna"), "element type outside its set"),
        ("element", _constant(""), "empty element"),
    ),
    "complaints": (
        ("category", _constant("billing"), "category outside its set"),
        ("ticket_id", _constant(12345), "ticket id as a number"),
        ("subscriber", _constant(""), "empty subscriber"),
        ("cell_id", _constant(17), "cell id as a number"),
    ),
}
_INVALID_COMMON: Final = (
    ("region", _constant(""), "empty region"),
    ("region", _constant(7), "region as a number"),
    ("ts", _constant("yesterday"), "timestamp not RFC 3339"),
    ("ts", _naive, "timestamp without time zone"),
)
_REQUIRED: Final[dict[Role, tuple[str, ...]]] = {
    role: tuple(f.name for f in msgspec.structs.fields(INPUT_CONTRACTS[role]) if f.required) for role in ROLES
}


@dataclass(frozen=True, slots=True)
class _Held:
    """A message waiting to be sent later (duplicate copy or out-of-order event)."""

    release_at: float
    order: int
    kind: FaultKind
    key: bytes
    payload: bytes
    event_id: str
    #: Released only once the role has sent more regular events than this.
    after: int
    detail: str


class FaultInjector:
    """Turns each tick's good events into the messages actually sent, bad ones labelled.

    Duplicates and out-of-order events wait in a queue and go out in a later tick;
    those still waiting when the run stops are never sent (like a producer's
    in-flight messages).
    """

    def __init__(self, settings: FaultSettings, rng: np.random.Generator) -> None:
        probabilities = settings.probabilities()
        self.rng = rng
        self._kinds: list[FaultKind] = [kind for kind, p in probabilities.items() if p > 0]
        self._cumulative = np.cumsum([probabilities[kind] for kind in self._kinds])
        self._encoder = msgspec.json.Encoder()
        self._sent = dict.fromkeys(ROLES, 0)
        self._regular = dict.fromkeys(ROLES, 0)
        self._held: dict[Role, list[_Held]] = {role: [] for role in ROLES}
        self._holds = 0

    def process(self, role: Role, events: list[Event], keys: list[bytes], payloads: list[bytes], now: float) -> Batch:
        """The messages sent at ``now`` (the tick's end): ``events`` with faults, then released held ones."""
        hits = self._draw(len(events))
        faults: dict[int, FaultRecord] = {}
        regular_after = self._regular[role] + len(events) - sum(1 for _, kind in hits if kind != "duplicate")
        if hits:
            out_keys: list[bytes] = []
            out_payloads: list[bytes] = []
            previous = 0
            for index, kind in hits:
                out_keys += keys[previous:index]
                out_payloads += payloads[previous:index]
                previous = index + 1
                event, key, payload = events[index], keys[index], payloads[index]
                if kind == "duplicate":
                    out_keys.append(key)
                    out_payloads.append(payload)
                    delay = self._uniform(DUPLICATE_DELAY_S)
                    self._hold(role, kind, key, payload, event, now + delay, -1, f"sent again {delay:.1f} s later")
                elif kind == "out_of_order":
                    delay = self._uniform(HOLD_S)
                    detail = f"held back {delay:.1f} s, sent after later events"
                    self._hold(role, kind, key, payload, event, now + delay, regular_after, detail)
                else:
                    bad, field, detail = self._corrupt(role, kind, event, payload, now)
                    position = len(out_payloads)
                    faults[position] = self._record(role, kind, field, position, now, event.event_id(), detail, bad)
                    out_keys.append(key)
                    out_payloads.append(bad)
            keys, payloads = out_keys + keys[previous:], out_payloads + payloads[previous:]
        self._regular[role] = regular_after
        self._release(role, now, keys, payloads, faults)
        self._sent[role] += len(payloads)
        return Batch(role, keys, payloads, faults)

    def _draw(self, n: int) -> list[tuple[int, FaultKind]]:
        """Which of ``n`` events go bad, and how."""
        if n == 0 or not self._kinds:
            return []
        drawn = np.searchsorted(self._cumulative, self.rng.random(n), side="right")
        hits = np.flatnonzero(drawn < len(self._kinds))
        return [(index, self._kinds[kind]) for index, kind in zip(hits.tolist(), drawn[hits].tolist(), strict=True)]

    def _uniform(self, bounds: tuple[float, float]) -> float:
        return float(self.rng.uniform(*bounds))

    def _corrupt(
        self, role: Role, kind: FaultKind, event: Event, payload: bytes, now: float
    ) -> tuple[bytes, str | None, str]:
        """The bad payload, the offending field (JSON path) and what was done."""
        match kind:
            case "malformed_json":
                return self._malformed(payload)
            case "missing_field":
                name = _REQUIRED[role][int(self.rng.integers(len(_REQUIRED[role])))]
                document = msgspec.json.decode(payload)
                del document[name]
                return self._encoder.encode(document), f"$.{name}", f"required field {name} left out"
            case "invalid_field":
                choices = _INVALID_COMMON + _INVALID[role]
                name, change, detail = choices[int(self.rng.integers(len(choices)))]
                document = msgspec.json.decode(payload)
                document[name] = change(document.get(name))
                return self._encoder.encode(document), f"$.{name}", detail
            case "late":
                behind = self._uniform(LATE_S)
                moved = msgspec.structs.replace(event, ts=utc(now - behind))
                return self._encoder.encode(moved), None, f"ts {behind:.0f} s before the send time"
            case "clock_skew":
                ahead = self._uniform(SKEW_S)
                moved = msgspec.structs.replace(event, ts=utc(now + ahead))
                return self._encoder.encode(moved), "$.ts", f"ts {ahead:.0f} s after the send time"
        raise AssertionError(kind)

    def _malformed(self, payload: bytes) -> tuple[bytes, None, str]:
        variant = int(self.rng.integers(3))
        if variant == 0:
            cut = int(self.rng.integers(1, len(payload)))
            return payload[:cut], None, f"truncated after {cut} of {len(payload)} bytes"
        if variant == 1:
            size = int(self.rng.integers(8, 48))
            return bytes(self.rng.integers(0x80, 0x100, size).tolist()), None, f"{size} garbage bytes"
        return payload.replace(b'"', b"'"), None, "single quotes instead of double quotes"

    def _hold(
        self, role: Role, kind: FaultKind, key: bytes, payload: bytes, event: Event, at: float, after: int, detail: str
    ) -> None:
        self._holds += 1
        self._held[role].append(_Held(at, self._holds, kind, key, payload, event.event_id(), after, detail))

    def _release(
        self, role: Role, now: float, keys: list[bytes], payloads: list[bytes], faults: dict[int, FaultRecord]
    ) -> None:
        """Append the held messages that are due to this tick's messages."""
        held = self._held[role]
        if not held:
            return
        regular = self._regular[role]
        due = [h for h in held if h.release_at <= now and regular > h.after]
        if not due:
            return
        self._held[role] = [h for h in held if not (h.release_at <= now and regular > h.after)]
        for h in sorted(due, key=lambda h: (h.release_at, h.order)):
            position = len(payloads)
            faults[position] = self._record(role, h.kind, None, position, now, h.event_id, h.detail, h.payload)
            keys.append(h.key)
            payloads.append(h.payload)

    def _record(
        self,
        role: Role,
        kind: FaultKind,
        field: str | None,
        position: int,
        now: float,
        event_id: str,
        detail: str,
        payload: bytes,
    ) -> FaultRecord:
        return FaultRecord(
            role=role,
            kind=kind,
            reason=REJECT_REASON[kind],
            field=field,
            seq=self._sent[role] + position,
            produced_at=utc(now),
            event_id=event_id,
            detail=detail,
            payload=payload_text(payload),
        )

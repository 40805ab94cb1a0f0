"""Decoding and validation of input events, with a precise reason for every rejection.

A payload either becomes a typed event (:mod:`core.contracts`) or a
:class:`Rejection` that names the field at fault and what is wrong with it.
Rejections become :class:`~core.contracts.DeadLetter` records: nothing is
dropped in silence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

import msgspec

from core.contracts import Complaint, DeadLetter, Event, payload_text
from core.privacy import mask_msisdn

#: Stable reason codes, used as a tag when dead letters are counted.
REASONS: dict[str, str] = {
    "malformed_json": "the payload is not valid JSON",
    "not_an_object": "the payload is valid JSON but not a JSON object",
    "missing_field": "a required field is absent",
    "invalid_field": "a field has the wrong type or a value outside its allowed set or range",
    "clock_skew": "the event's timestamp lies further in the future than the allowed clock skew",
    "late": "the event arrived after its window closed (past the allowed lateness)",
}

#: Default tolerance for timestamps ahead of the receiver's clock.
DEFAULT_MAX_FUTURE_SKEW_S = 300.0

E = TypeVar("E", bound=Event)

_AT_PATH = re.compile(r"^(?P<problem>.*) - at `(?P<path>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`(?: - at `(?P<path>[^`]+)`)?$")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a payload was not accepted."""

    reason: str
    detail: str
    field: str | None = None


@dataclass(slots=True)
class DecodedBatch(Generic[E]):
    """A decoded batch: the events with their ``ts`` (epoch seconds) and place in the batch, and the rejections."""

    events: list[E] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)


class EventDecoder(Generic[E]):
    """Decodes JSON payloads of one topic into ``event_type``, or explains why not.

    >>> from core.contracts import SmsDelivery
    >>> decoder = EventDecoder(SmsDelivery)
    >>> decoder.decode(b'{"ts": "2026-11-01T08:00:00Z", "region": "north"}', now=1.8e9)
    Rejection(reason='missing_field', detail='$.msg_id: required field is missing', field='$.msg_id')
    """

    def __init__(self, event_type: type[E], max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S) -> None:
        self.event_type = event_type
        self.max_future_skew_s = max_future_skew_s
        self._decoder = msgspec.json.Decoder(event_type)
        #: Complaints carry a subscriber number to mask: they always take the full path.
        self._fast = not issubclass(event_type, Complaint)

    def decode(self, payload: bytes, now: float) -> E | Rejection:
        """Decode one payload; ``now`` (epoch seconds) bounds how far ahead ``ts`` may be."""
        decoded = self.decode_stamped(payload, now)
        return decoded if isinstance(decoded, Rejection) else decoded[0]

    def decode_many(self, payloads: Iterable[bytes], now: float) -> DecodedBatch[E]:
        """Decode a batch as :meth:`decode_stamped` would, one payload after another (the hot path: an
        accepted payload costs no call of its own)."""
        batch: DecodedBatch[E] = DecodedBatch()
        events, stamps, positions = batch.events, batch.stamps, batch.positions
        decode = self._decoder.decode
        latest = now + self.max_future_skew_s
        fast = self._fast
        for i, payload in enumerate(payloads):
            if fast:
                try:
                    event = decode(payload)
                except msgspec.MsgspecError:
                    pass  # explained below
                else:
                    ts = event.ts.timestamp()
                    if ts <= latest:
                        events.append(event)
                        stamps.append(ts)
                        positions.append(i)
                        continue
            decoded = self.decode_stamped(payload, now)
            if isinstance(decoded, Rejection):
                batch.rejections.append((i, decoded))
            else:
                events.append(decoded[0])
                stamps.append(decoded[1])
                positions.append(i)
        return batch

    def decode_stamped(self, payload: bytes, now: float) -> tuple[E, float] | Rejection:
        """As :meth:`decode`, with the event's ``ts`` as epoch seconds (the hot path needs both)."""
        try:
            event = self._decoder.decode(payload)
        except msgspec.ValidationError as exc:
            return _explain_validation(str(exc))
        except msgspec.DecodeError as exc:
            return Rejection("malformed_json", f"payload is not valid JSON: {_strip_prefix(str(exc))}")
        ts = event.ts.timestamp()
        ahead = ts - now
        if ahead > self.max_future_skew_s:
            return Rejection(
                "clock_skew",
                f"$.ts: {event.ts.isoformat()} is {ahead:.0f} s ahead of the receiver's clock "
                f"(allowed: {self.max_future_skew_s:.0f} s); check the sending element's clock (NTP)",
                "$.ts",
            )
        if isinstance(event, Complaint):
            masked = mask_msisdn(event.subscriber)
            if masked != event.subscriber:
                event = msgspec.structs.replace(event, subscriber=masked)
        return event, ts


def _strip_prefix(message: str) -> str:
    return message.removeprefix("JSON is malformed: ")


def _explain_validation(message: str) -> Rejection:
    missing = _MISSING.match(message)
    if missing:
        parent = missing.group("path") or "$"
        path = f"{parent}.{missing.group('name')}"
        return Rejection("missing_field", f"{path}: required field is missing", path)
    at_path = _AT_PATH.match(message)
    if at_path:
        path = at_path.group("path")
        return Rejection("invalid_field", f"{path}: {_lower_first(at_path.group('problem'))}", path)
    if message.startswith("Expected `object`"):
        return Rejection("not_an_object", f"payload must be a JSON object: {_lower_first(message)}")
    return Rejection("invalid_field", message)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def dead_letter(
    rejection: Rejection, *, topic: str, partition: int, offset: int, payload: bytes, now: float
) -> DeadLetter:
    """Build the dead-letter record for a rejected payload."""
    return DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        reason=rejection.reason,
        detail=rejection.detail,
        field=rejection.field,
        payload=payload_text(payload),
        received_at=datetime.fromtimestamp(now, tz=UTC),
    )

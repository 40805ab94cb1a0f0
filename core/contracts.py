"""Typed contracts for every telewatch topic, as they travel on the wire (JSON).

Input topics carry what operators' systems send: call attempts (switch / IMS
CDRs), SMS delivery reports (SMS gateway), network KPI samples (OSS / NMS) and
complaints (CRM). Internal topics carry what telewatch derives: metric points,
anomalies, alerts, and dead letters for events that could not be used.

``docs/EVENTS.md`` documents each field with an example per topic; the tests
check that those examples decode with these types.
"""

from __future__ import annotations

import base64
import operator
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, ClassVar, Literal, cast

import msgspec

#: A timestamp with an explicit time zone (RFC 3339, e.g. ``2026-11-23T08:00:00.250Z``).
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
#: A non-empty identifier or name.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]

Network = Literal["2G", "3G", "4G", "5G", "VoLTE"]
CallResult = Literal["answered", "no_answer", "busy", "failed", "dropped"]
SmsKind = Literal["verification_code", "billing_reminder", "notification", "marketing"]
SmsStatus = Literal["delivered", "failed", "expired"]
ElementType = Literal["cell", "site", "core"]
#: The six perception categories complaints are filed under.
ComplaintCategory = Literal["installation", "repair", "channel", "reminder", "network", "activation"]
Severity = Literal["info", "warning", "major", "critical"]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the four input events: each has a timestamp and a region."""

    ts: Timestamp
    region: Name

    #: The field :meth:`event_id` returns, when it is one field (read without a method call on the hot path).
    ID_FIELD: ClassVar[str | None] = None

    def event_id(self) -> str:
        """The identifier duplicates share (overridden per event type)."""
        raise NotImplementedError


def id_getter(event_type: type[Event]) -> Callable[[Event], str]:
    """How to read the de-duplication id of events of ``event_type`` (an attribute getter when it is one field)."""
    if event_type.ID_FIELD is not None:
        return cast(Callable[[Event], str], operator.attrgetter(event_type.ID_FIELD))
    return event_type.event_id


class CallAttempt(Event, frozen=True, kw_only=True):
    """One call attempt as reported by a switch or the IMS (CDR-like)."""

    call_id: Name
    cell_id: Name
    network: Network
    result: CallResult
    #: Time from INVITE/setup to alerting, absent when setup never completed.
    setup_ms: NonNegativeInt | None = None
    duration_s: NonNegativeFloat = 0.0
    cause_code: int | None = None

    ID_FIELD: ClassVar[str | None] = "call_id"

    def event_id(self) -> str:
        return self.call_id


class SmsDelivery(Event, frozen=True, kw_only=True):
    """One SMS delivery report from the SMS gateway / SMSC."""

    msg_id: Name
    #: Service port or template the message was sent through.
    channel: Name
    kind: SmsKind
    status: SmsStatus
    #: Submit-to-delivery latency; absent when the message was not delivered.
    latency_ms: NonNegativeInt | None = None
    error_code: str | None = None

    ID_FIELD: ClassVar[str | None] = "msg_id"

    def event_id(self) -> str:
        return self.msg_id


class KpiSample(Event, frozen=True, kw_only=True):
    """One network KPI sample from the OSS / NMS (every 1–15 min per element)."""

    element: Name
    element_type: ElementType = "cell"
    kpi: Name
    value: float

    def event_id(self) -> str:
        return f"{self.element}/{self.kpi}/{self.ts.isoformat()}"


class Complaint(Event, frozen=True, kw_only=True):
    """One customer complaint ticket from the CRM / ticketing system."""

    ticket_id: Name
    category: ComplaintCategory
    scenario: Name
    #: The subscriber's number, always masked (``138****1234``); see :func:`decode_event`.
    subscriber: Name
    cell_id: str | None = None

    ID_FIELD: ClassVar[str | None] = "ticket_id"

    def event_id(self) -> str:
        return self.ticket_id


class MetricPoint(msgspec.Struct, frozen=True, kw_only=True):
    """One window's value of one metric series (metrics topic, keyed by ``series``)."""

    metric: Name
    #: Stable series key: ``metric`` plus its dimension values, e.g. ``call_setup_success_rate|region=north``.
    series: Name
    dims: dict[str, str]
    window_start: Timestamp
    window_end: Timestamp
    value: float
    #: For ratios: the count behind the rate (numerator / denominator).
    numerator: float | None = None
    denominator: float | None = None
    #: How many events went into this point.
    count: NonNegativeInt = 0


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    """One piece of evidence behind an anomaly (a metric point or a complaint surge)."""

    series: Name
    ts: Timestamp
    value: float
    expected: float
    description: str = ""


class Anomaly(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="anomaly"):
    """A detector's verdict that a series left its expected band (anomalies topic, ``kind: anomaly``)."""

    fingerprint: Name
    series: Name
    metric: Name
    dims: dict[str, str]
    ts: Timestamp
    started_at: Timestamp
    value: float
    expected: float
    lower: float
    upper: float
    #: Anomaly score in [0, 1].
    score: Annotated[float, msgspec.Meta(ge=0, le=1)]
    severity: Severity
    detector: Name
    evidence: list[Evidence] = []


class Recovery(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="recovery"):
    """A series judged normal again after a flagged point (anomalies topic, ``kind: recovery``).

    Sent for each normal window after a flagged one, up to ``detectors.recovery_windows`` of them, so alerting
    can resolve an alert once its series has been normal long enough.
    """

    series: Name
    metric: Name
    dims: dict[str, str]
    ts: Timestamp
    value: float
    expected: float
    #: Normal windows in a row so far (1, 2, ...).
    normal_windows: Annotated[int, msgspec.Meta(ge=1)]


#: What the anomalies topic carries; decode with ``msgspec.json.Decoder(AnomaliesRecord)``.
AnomaliesRecord = Anomaly | Recovery


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """An alert as the alerting stage routes it (alerts topic), Alertmanager-style."""

    fingerprint: Name
    status: Literal["firing", "resolved"]
    severity: Severity
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: Timestamp
    ends_at: Timestamp | None = None


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An event that could not be used, kept with why (dead-letter topic)."""

    topic: str
    partition: int
    offset: int
    #: Stable reason code for counting: see :data:`streams.validation.REASONS`.
    reason: str
    #: Human-readable explanation naming the field and the problem.
    detail: str
    #: The offending field as a JSON path (``$.region``), when one is at fault.
    field: str | None = None
    #: The original payload as received (UTF-8 text, or ``base64:`` + base64 when not UTF-8).
    payload: str
    received_at: Timestamp


def payload_text(payload: bytes) -> str:
    """The payload as text for a dead letter: UTF-8 when it is, else ``base64:...``."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(payload).decode("ascii")


#: Input topic role → event type.
INPUT_CONTRACTS: dict[str, type[Event]] = {
    "calls": CallAttempt,
    "sms": SmsDelivery,
    "kpi": KpiSample,
    "complaints": Complaint,
}

#: Internal topic role → record type.
INTERNAL_CONTRACTS: dict[str, type[msgspec.Struct]] = {
    "metrics": MetricPoint,
    "anomalies": Anomaly,
    "alerts": Alert,
    "deadletter": DeadLetter,
}

"""What the API answers: the response models and their construction from ledger records and settings.

Everything a person reads goes through here, so subscriber and phone numbers
are masked in this one place (free text, labels, recipients, payloads, people's
phones).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerting.api.params import OutboxState
from alerting.hotline import Incident
from alerting.ledger import Alert, Attempt, HistoryEntry, OutboxItem, Receipt, Silence
from alerting.ledger.models import Outcome, SilenceState, Status, Via
from alerting.owners import ImGroup, Owner, OwnersRegistry, Step
from alerting.routing.routes import Route
from core.privacy import mask_msisdn, mask_numbers_in_text


def masked(value: Any) -> Any:
    """``value`` with every phone-number-like run of digits in its text masked (dicts and lists walked)."""
    if isinstance(value, str):
        return mask_numbers_in_text(value)
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    return value


def _text(value: str | None) -> str | None:
    return None if value is None else mask_numbers_in_text(value)


class View(BaseModel):
    """Base of every answer."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)


class ErrorView(View):
    """A refusal: what was wrong and how to fix it."""

    error: str = Field(description="What was refused, naming the field or parameter and the fix")


class AlertView(View):
    """One alert episode."""

    id: int
    fingerprint: str
    labels: dict[str, Any] = Field(description="The alert's labels (numbers that look like phones masked)")
    status: Status
    value: float | None = Field(description="The latest anomalous value")
    peak: float | None = Field(description="The value farthest from the expected one")
    expected: float | None
    started_at: datetime
    last_seen: datetime
    updated_at: datetime
    resolved_at: datetime | None
    ack_deadline: datetime | None = Field(description="An acknowledged alert fires again at this time")
    escalation_step: int
    next_escalation_at: datetime | None
    duration_s: float = Field(description="Seconds from the start to the latest anomaly (or the resolution)")


class HistoryView(View):
    """A transition (from_status → to_status) or, with both null, a comment."""

    seq: int
    from_status: Status | None
    to_status: Status | None
    at: datetime
    by: str
    via: Via = Field(description="How: sms_link, im, api or auto (telewatch itself)")
    comment: str | None


class AlertPage(View):
    """A page of alerts, newest first."""

    alerts: list[AlertView]
    total: int = Field(description="How many alerts match the filters (all pages)")
    limit: int
    offset: int


class AlertDetail(View):
    """An alert and its history."""

    alert: AlertView
    history: list[HistoryView]


class HistoryList(View):
    """An alert's history in order."""

    alert_id: int
    history: list[HistoryView]


class TransitionView(View):
    """What an ack or resolve did."""

    alert: AlertView
    entry: HistoryView
    notifications_queued: int = Field(description="Notifications queued with the transition (who is told)")


class SilenceView(View):
    """A silence."""

    id: str
    matchers: list[str] = Field(description='Label matchers, e.g. region="north"')
    state: SilenceState = Field(description="pending, active or expired now")
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime


class SilenceList(View):
    """Silences, oldest first."""

    silences: list[SilenceView]


class AttemptView(View):
    """One try at sending a notification."""

    attempt: int
    at: datetime
    worker_id: str | None
    outcome: Outcome
    detail: str = Field(description="The vendor's words (numbers masked)")
    vendor_id: str | None


class ReceiptView(View):
    """A delivery receipt from the SMS gateway."""

    vendor_id: str
    status: str
    detail: str
    received_at: datetime


class DeliveryView(View):
    """One notification (an outbox row) with its attempts and receipts."""

    key: str = Field(description="Idempotency key: alert, transition, channel and recipient (numbers masked)")
    alert_id: int | None
    history_seq: int | None
    recipient: str
    channel: str
    state: OutboxState
    attempt_count: int
    next_attempt_at: datetime
    vendor_id: str | None
    detail: str | None
    dead_reason: str | None = Field(description="Why it was given up on (state dead)")
    payload: dict[str, Any] = Field(description="The rendered message (numbers masked)")
    attempts: list[AttemptView]
    receipts: list[ReceiptView]


class DeliveryPage(View):
    """A page of notifications, most recently changed first."""

    deliveries: list[DeliveryView]
    total: int = Field(description="How many rows match the filters (all pages)")
    limit: int
    offset: int


class PersonView(View):
    """Someone who receives alerts; the phone is masked."""

    name: str
    phone: str = Field(description="Masked, e.g. 861380****0001")
    language: Literal["zh", "en"]
    im_groups: list[str]


class RotationView(View):
    """An on-call rotation and who is on call now."""

    people: list[str]
    shift: str
    start: datetime
    on_call: str = Field(description="Who is on call now")


class OwnersView(View):
    """The owners registry (people's phones masked; IM groups name environment variables, never secrets)."""

    people: dict[str, PersonView]
    im_groups: dict[str, ImGroup]
    rotations: dict[str, RotationView]
    escalations: dict[str, list[Step]]
    owners: dict[str, Owner]


class RouteView(View):
    """A route with everything inherited filled in."""

    path: str = Field(description="0: the root; 0.2.1: the root's 3rd child's 2nd child")
    receiver: str = Field(description="An owner name")
    matchers: list[str]
    continue_: bool = Field(alias="continue", description="The following sibling routes are tried too")
    group_by: list[str]
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    mute_time_intervals: list[str]
    active_time_intervals: list[str]
    routes: list[RouteView] = Field(description="Child routes, tried in order")


class RoutesView(View):
    """The route tree alerts take."""

    configured: bool = Field(description="false: no alerting.route in the config, this is the default tree")
    route: RouteView


class IncidentView(View):
    """One incident a hotline agent can tell a caller about."""

    alert_id: str
    what: str
    where: str
    since: str = Field(description="Start, month-day hour:minute in UTC+8")
    progress: str
    department: str
    script: str = Field(description="What the agent can say (the owner's explanation)")


class HotlineView(View):
    """The incidents where the caller is, newest first."""

    region: str
    cell: str | None
    incidents: list[IncidentView]


class HealthView(View):
    """The service is up and its ledger answers."""

    status: Literal["ok"]


class ReceiptRecorded(View):
    """A delivery receipt kept in the ledger."""

    recorded: bool
    status: str = Field(description="delivered, failed, buffered, smsc_ack or smsc_reject")


# -- construction ---------------------------------------------------------------------------


def alert_view(alert: Alert) -> AlertView:
    """The answer for an alert."""
    return AlertView(
        id=alert.id,
        fingerprint=alert.fingerprint,
        labels=masked(alert.labels),
        status=alert.status,
        value=alert.value,
        peak=alert.peak,
        expected=alert.expected,
        started_at=alert.started_at,
        last_seen=alert.last_seen,
        updated_at=alert.updated_at,
        resolved_at=alert.resolved_at,
        ack_deadline=alert.ack_deadline,
        escalation_step=alert.escalation_step,
        next_escalation_at=alert.next_escalation_at,
        duration_s=alert.duration_s,
    )


def history_view(entry: HistoryEntry) -> HistoryView:
    """The answer for a history entry."""
    return HistoryView(
        seq=entry.seq,
        from_status=entry.from_status,
        to_status=entry.to_status,
        at=entry.at,
        by=mask_numbers_in_text(entry.by),
        via=entry.via,
        comment=_text(entry.comment),
    )


def silence_view(silence: Silence, matchers: list[str], now: datetime) -> SilenceView:
    """The answer for a silence whose matchers are written as ``matchers``."""
    return SilenceView(
        id=silence.id,
        matchers=matchers,
        state=silence.state(now),
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        created_by=mask_numbers_in_text(silence.created_by),
        comment=mask_numbers_in_text(silence.comment),
        created_at=silence.created_at,
    )


def delivery_view(item: OutboxItem, attempts: list[Attempt], receipts: list[Receipt]) -> DeliveryView:
    """The answer for an outbox row with its attempts and receipts."""
    return DeliveryView(
        key=mask_numbers_in_text(item.key),
        alert_id=item.alert_id,
        history_seq=item.history_seq,
        recipient=mask_numbers_in_text(item.recipient),
        channel=item.channel,
        state=item.state,
        attempt_count=item.attempts,
        next_attempt_at=item.next_attempt_at,
        vendor_id=item.vendor_id,
        detail=_text(item.detail),
        dead_reason=_text(item.dead_reason),
        payload=masked(item.payload),
        attempts=[
            AttemptView(
                attempt=a.attempt,
                at=a.at,
                worker_id=a.worker_id,
                outcome=a.outcome,
                detail=mask_numbers_in_text(a.detail),
                vendor_id=a.vendor_id,
            )
            for a in attempts
        ],
        receipts=[
            ReceiptView(
                vendor_id=r.vendor_id, status=r.status, detail=mask_numbers_in_text(r.detail), received_at=r.received_at
            )
            for r in receipts
        ],
    )


def owners_view(registry: OwnersRegistry, now: datetime) -> OwnersView:
    """The owners registry with people's phones masked."""
    return OwnersView(
        people={
            pid: PersonView(name=p.name, phone=mask_msisdn(p.phone), language=p.language, im_groups=list(p.im_groups))
            for pid, p in registry.people.items()
        },
        im_groups=dict(registry.im_groups),
        rotations={
            rid: RotationView(people=list(r.people), shift=r.shift, start=r.start, on_call=r.on_call(now))
            for rid, r in registry.rotations.items()
        },
        escalations={name: list(steps) for name, steps in registry.escalations.items()},
        owners=dict(registry.owners),
    )


def route_view(route: Route) -> RouteView:
    """The answer for a resolved route and its children."""
    return RouteView(
        path=route.path,
        receiver=route.receiver,
        matchers=[str(m) for m in route.matchers],
        **{"continue": route.continue_},
        group_by=list(route.group_by),
        group_wait_s=route.group_wait_s,
        group_interval_s=route.group_interval_s,
        repeat_interval_s=route.repeat_interval_s,
        mute_time_intervals=list(route.mute_time_intervals),
        active_time_intervals=list(route.active_time_intervals),
        routes=[route_view(child) for child in route.children],
    )


def incident_view(incident: Incident) -> IncidentView:
    """The answer for a hotline incident."""
    return IncidentView(**{name: getattr(incident, name) for name in IncidentView.model_fields})

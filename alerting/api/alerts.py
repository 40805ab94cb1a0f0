"""``/api/v1/alerts``: list and read alerts with their history; acknowledge, resolve and comment (via api)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alerting.api.errors import ApiError
from alerting.api.operation import Call, Operation
from alerting.api.params import AckBody, AlertFilter, AlertId, CommentBody, NoBody, ResolveBody
from alerting.api.views import (
    AlertDetail,
    AlertPage,
    HistoryList,
    HistoryView,
    TransitionView,
    alert_view,
    history_view,
)
from alerting.ledger import Transition
from core.durations import parse_duration

_UNKNOWN = {404: "No alert has this id"}


async def list_alerts(call: Call[AlertFilter, NoBody]) -> AlertPage:
    """Alerts matching the filters, newest first, one page at a time."""
    p = call.params
    labels = {name: value for name in ("metric", "region", "severity") if (value := getattr(p, name)) is not None}
    found, total = await call.db(
        call.ctx.ledger.find_alerts, status=p.status, labels=labels, since=p.since, limit=p.limit, offset=p.offset
    )
    return AlertPage(alerts=[alert_view(a) for a in found], total=total, limit=p.limit, offset=p.offset)


async def get_alert(call: Call[AlertId, NoBody]) -> AlertDetail:
    """One alert and its history."""
    ledger = call.ctx.ledger
    alert = await call.db(ledger.alert, call.params.id)
    history = await call.db(ledger.history, alert.id)
    return AlertDetail(alert=alert_view(alert), history=[history_view(e) for e in history])


async def alert_history(call: Call[AlertId, NoBody]) -> HistoryList:
    """An alert's transitions and comments in order."""
    ledger = call.ctx.ledger
    alert = await call.db(ledger.alert, call.params.id)
    history = await call.db(ledger.history, alert.id)
    return HistoryList(alert_id=alert.id, history=[history_view(e) for e in history])


def _transition(done: Transition) -> TransitionView:
    return TransitionView(
        alert=alert_view(done.alert), entry=history_view(done.entry), notifications_queued=len(done.keys)
    )


async def ack_alert(call: Call[AlertId, AckBody]) -> TransitionView:
    """Acknowledge a firing (or re-acknowledge an acknowledged) alert; escalation pauses until the ack timeout."""
    ctx, body = call.ctx, call.body
    alert = await call.db(ctx.ledger.alert, call.params.id)
    timeout = timedelta(seconds=parse_duration(ctx.settings.ack_timeout))
    done = await call.db(
        ctx.ledger.ack,
        alert.id,
        body.by,
        "api",
        ctx.clock(),
        timeout,
        comment=body.comment,
        notify=ctx.plan(alert, "acknowledged", body.by),
    )
    return _transition(done)


async def resolve_alert(call: Call[AlertId, ResolveBody]) -> TransitionView:
    """Resolve a firing or acknowledged alert."""
    ctx, body = call.ctx, call.body
    alert = await call.db(ctx.ledger.alert, call.params.id)
    done = await call.db(
        ctx.ledger.resolve,
        alert.id,
        body.by,
        "api",
        ctx.clock(),
        comment=body.comment,
        notify=ctx.plan(alert, "resolved", body.by),
    )
    return _transition(done)


async def comment_alert(call: Call[AlertId, CommentBody]) -> HistoryView:
    """Add a comment to an alert's history (its status does not change)."""
    ctx, body = call.ctx, call.body
    if not body.text.strip():
        raise ApiError(422, "body field 'text': the comment is blank; write what you found or did")
    entry = await call.db(ctx.ledger.comment, call.params.id, body.by, "api", body.text, ctx.clock())
    return history_view(entry)


OPERATIONS: list[Operation[Any, Any]] = [
    Operation(
        method="GET",
        path="/api/v1/alerts",
        summary="List alerts",
        tag="alerts",
        handler=list_alerts,
        params=AlertFilter,
        body=NoBody,
        response=AlertPage,
        scope="read",
    ),
    Operation(
        method="GET",
        path="/api/v1/alerts/{id}",
        summary="An alert and its history",
        tag="alerts",
        handler=get_alert,
        params=AlertId,
        body=NoBody,
        response=AlertDetail,
        scope="read",
        errors=_UNKNOWN,
    ),
    Operation(
        method="GET",
        path="/api/v1/alerts/{id}/history",
        summary="An alert's history",
        tag="alerts",
        handler=alert_history,
        params=AlertId,
        body=NoBody,
        response=HistoryList,
        scope="read",
        errors=_UNKNOWN,
    ),
    Operation(
        method="POST",
        path="/api/v1/alerts/{id}/ack",
        summary="Acknowledge an alert",
        tag="alerts",
        handler=ack_alert,
        params=AlertId,
        body=AckBody,
        response=TransitionView,
        scope="write",
        errors=_UNKNOWN | {409: "The alert is resolved: it cannot be acknowledged"},
        description="Escalation pauses; when the alert is not resolved within alerting.ack_timeout it fires again.",
    ),
    Operation(
        method="POST",
        path="/api/v1/alerts/{id}/resolve",
        summary="Resolve an alert",
        tag="alerts",
        handler=resolve_alert,
        params=AlertId,
        body=ResolveBody,
        response=TransitionView,
        scope="write",
        errors=_UNKNOWN | {409: "The alert is already resolved"},
    ),
    Operation(
        method="POST",
        path="/api/v1/alerts/{id}/comments",
        summary="Comment on an alert",
        tag="alerts",
        handler=comment_alert,
        params=AlertId,
        body=CommentBody,
        response=HistoryView,
        scope="write",
        status=201,
        errors=_UNKNOWN,
    ),
]

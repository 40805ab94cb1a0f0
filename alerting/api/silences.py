"""``/api/v1/silences``: list, create and expire silences (matchers written as in Alertmanager)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alerting.api.errors import ApiError
from alerting.api.operation import Call, Operation
from alerting.api.params import NoBody, NoParams, SilenceBody, SilenceFilter, SilenceId
from alerting.api.silence_matchers import to_ledger, to_text
from alerting.api.views import SilenceList, SilenceView, silence_view
from alerting.ledger import LedgerError, Silence
from core.durations import parse_duration


def _view(silence: Silence, call: Call[Any, Any]) -> SilenceView:
    return silence_view(silence, [to_text(m) for m in silence.matchers], call.ctx.clock())


async def list_silences(call: Call[SilenceFilter, NoBody]) -> SilenceList:
    """Every silence (or those in ``state`` now), oldest first."""
    found = await call.db(call.ctx.ledger.silences, call.ctx.clock(), call.params.state)
    return SilenceList(silences=[_view(s, call) for s in found])


async def create_silence(call: Call[NoParams, SilenceBody]) -> SilenceView:
    """Mute the alerts matching every matcher from starts_at (default now) until ends_at or for duration."""
    body, now = call.body, call.ctx.clock()
    try:
        matchers = to_ledger(body.matchers)
    except ValueError as error:
        raise ApiError(400, f"body field {error}") from None
    starts_at = body.starts_at or now
    try:
        ends_at = body.ends_at or starts_at + timedelta(seconds=parse_duration(body.duration or ""))
    except (OverflowError, ValueError):
        raise ApiError(422, "body field 'duration': too long; a silence ends before the year 10000") from None
    if ends_at <= starts_at:
        raise ApiError(422, f"body field 'ends_at': the silence must end after it starts ({starts_at.isoformat()})")
    if ends_at <= now:
        raise ApiError(422, f"body field 'ends_at': {ends_at.isoformat()} is past; a silence must end in the future")
    try:
        silence = await call.db(
            call.ctx.ledger.create_silence, matchers, starts_at, ends_at, body.created_by, body.comment, now
        )
    except LedgerError as error:
        raise ApiError(422, f"body field 'matchers': {error}") from None
    return _view(silence, call)


async def expire_silence(call: Call[SilenceId, NoBody]) -> SilenceView:
    """End a silence now (a pending one never starts)."""
    ledger, now = call.ctx.ledger, call.ctx.clock()
    if await call.db(ledger.silence, call.params.id) is None:
        raise ApiError(404, f"no silence with id {call.params.id!r}; list them with GET /api/v1/silences")
    try:
        silence = await call.db(ledger.expire_silence, call.params.id, now)
    except LedgerError as error:
        raise ApiError(409, str(error)) from None
    return _view(silence, call)


OPERATIONS: list[Operation[Any, Any]] = [
    Operation(
        method="GET",
        path="/api/v1/silences",
        summary="List silences",
        tag="silences",
        handler=list_silences,
        params=SilenceFilter,
        body=NoBody,
        response=SilenceList,
        scope="read",
    ),
    Operation(
        method="POST",
        path="/api/v1/silences",
        summary="Create a silence",
        tag="silences",
        handler=create_silence,
        params=NoParams,
        body=SilenceBody,
        response=SilenceView,
        scope="write",
        status=201,
        description='Matchers are written as in Alertmanager: region="north", metric=~"sms_.*", cell!="c1"; '
        "a bad one is refused with 400 naming it. Give ends_at or duration.",
    ),
    Operation(
        method="DELETE",
        path="/api/v1/silences/{id}",
        summary="Expire a silence",
        tag="silences",
        handler=expire_silence,
        params=SilenceId,
        body=NoBody,
        response=SilenceView,
        scope="write",
        errors={404: "No silence has this id", 409: "The silence has already expired"},
    ),
]

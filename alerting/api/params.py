"""What the API takes in: query and path parameters and JSON bodies, as pydantic models.

The same models validate requests and write ``/openapi.json``, so the document
and the behaviour cannot drift. Text refuses NUL characters (PostgreSQL cannot
store them) and times must carry a zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from alerting.ledger.models import SilenceState, Status

#: No NUL character (PostgreSQL refuses them in text).
NUL_FREE = r"^[^\x00]*$"
#: The largest id the databases store (64-bit signed).
MAX_ID = 2**63 - 1

OutboxState = Literal["pending", "sending", "sent", "failed", "dead"]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC; use a year between 1 and 9999") from None


#: A point in time with its zone (ISO 8601, e.g. ``2026-12-05T08:00:00+08:00``), kept in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_utc)]
#: A person or token name, as the ledger keeps it (at most 200 characters).
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NUL_FREE)]
#: Free text: a comment.
Comment = Annotated[str, StringConstraints(max_length=4000, pattern=NUL_FREE)]
#: A label value to filter by.
LabelValue = Annotated[str, StringConstraints(max_length=200, pattern=NUL_FREE)]
#: A silence matcher, Alertmanager style: ``region="north"``, ``metric=~"sms_.*"``, ``cell!="c1"``.
MatcherText = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=NUL_FREE)]
#: A duration: a number with an optional unit s, m, h or d (``90s``, ``2h``, ``7d``).
Duration = Annotated[str, StringConstraints(max_length=20, pattern=r"^\d{1,9}(\.\d{1,6})?[smhd]?$")]


class Params(BaseModel):
    """Query and path parameters (an unknown parameter is refused, so a misspelt filter is not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Body(BaseModel):
    """A JSON request body (an unknown field is refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    """No parameters (any given are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class NoBody(Body):
    """No body."""


class Page(Params):
    """Paging: ``limit`` rows from ``offset``."""

    limit: int = Field(default=100, ge=1, le=1000, description="At most this many rows (1-1000)")
    offset: int = Field(default=0, ge=0, le=1_000_000_000, description="Skip this many rows first")


class AlertFilter(Page):
    """Which alerts to list (all filters must match)."""

    status: Status | None = Field(default=None, description="Only alerts in this status")
    metric: LabelValue | None = Field(default=None, description="Only alerts whose metric label is this")
    region: LabelValue | None = Field(default=None, description="Only alerts whose region label is this")
    severity: LabelValue | None = Field(default=None, description="Only alerts whose severity label is this")
    since: Instant | None = Field(
        default=None, description="Only alerts that started at or after this time (ISO 8601 with a zone)"
    )


class AlertId(Params):
    """One alert."""

    id: int = Field(ge=1, le=MAX_ID, description="The alert's id", examples=[1])


class SilenceFilter(Params):
    """Which silences to list."""

    state: SilenceState | None = Field(default=None, description="Only silences in this state now")


class SilenceId(Params):
    """One silence."""

    id: str = Field(min_length=1, max_length=36, pattern=NUL_FREE, description="The silence's id (a UUID)")


class DeliveryFilter(Page):
    """Which notifications (outbox rows) to list."""

    state: OutboxState | None = Field(default=None, description="Only rows in this state (dead: given up on)")
    channel: LabelValue | None = Field(default=None, description="Only rows of this channel, e.g. sms")


class HotlineQuery(Params):
    """Where the caller is."""

    region: LabelValue = Field(min_length=1, description="The caller's region, e.g. north")
    cell: LabelValue | None = Field(default=None, description="The caller's cell, when the CRM knows it")


class KannelReport(Params):
    """Kannel's delivery-report callback: the parameters of our ``dlr-url`` with its escape codes filled in."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key: str | None = Field(default=None, max_length=300, description="The notification's idempotency key")
    key64: str | None = Field(default=None, max_length=500, description="The key, base64url, when not plain")
    sig: str | None = Field(default=None, max_length=100, description="HMAC signature of the key (from telewatch)")
    status: str | None = Field(default=None, max_length=20, description="Kannel's %d: 1, 2, 4, 8 or 16")
    ts: str | None = Field(default=None, max_length=20, description="Kannel's %T: Unix seconds")
    id: str | None = Field(default=None, max_length=200, description="Kannel's %I: its message id")
    to: str | None = Field(default=None, max_length=40, description="Kannel's %p: the phone (never stored)")
    answer: str | None = Field(default=None, max_length=1000, description="Kannel's %A: the SMSC's answer")
    fid: str | None = Field(default=None, max_length=200, description="Kannel's %F: the SMSC's message id")


class AckBody(Body):
    """Acknowledge: someone is on it (escalation pauses until the ack timeout)."""

    by: Name = Field(description="Who acknowledges (a person's id, e.g. li.wei)")
    comment: Comment | None = Field(default=None, description="What they are doing")


class ResolveBody(Body):
    """Resolve: the problem is gone."""

    by: Name = Field(description="Who resolves")
    comment: Comment | None = Field(default=None, description="What fixed it")


class CommentBody(Body):
    """A comment in the alert's history."""

    by: Name = Field(description="Who writes it")
    text: Comment = Field(min_length=1, description="The comment")


class SilenceBody(Body):
    """A new silence: mutes the alerts matching every matcher from starts_at until ends_at (or for duration)."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["ends_at"]}, {"required": ["duration"]}]})

    matchers: list[MatcherText] = Field(
        min_length=1,
        max_length=50,
        description='Label matchers, all must match: label="v", label!="v", label=~"regex", label!~"regex"',
        examples=[['region="north"', 'metric=~"sms_.*"']],
    )
    starts_at: Instant | None = Field(default=None, description="When it starts (default: now)")
    ends_at: Instant | None = Field(default=None, description="When it ends; give this or duration")
    duration: Duration | None = Field(default=None, description="How long it lasts, e.g. 2h; give this or ends_at")
    created_by: Name = Field(description="Who silences")
    comment: Comment = Field(min_length=1, description="Why (e.g. the maintenance ticket)")

    @model_validator(mode="after")
    def _one_end(self) -> SilenceBody:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError('give either ends_at or duration (e.g. "2h"), not both and not neither')
        return self

"""Silences: mute the alerts whose labels match every matcher, for a time window (as Alertmanager)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.ledger.base import LedgerBase, aware
from alerting.ledger.errors import LedgerError
from alerting.ledger.models import Matcher, Silence, SilenceState
from alerting.ledger.schema import silences


def matches(matcher: Matcher, labels: Mapping[str, Any]) -> bool:
    """Whether ``labels`` satisfy ``matcher`` (a missing label counts as the empty string).

    >>> matches(Matcher("region", "north|east", is_regex=True), {"region": "east"})
    True
    >>> matches(Matcher("region", "east", is_equal=False), {"region": "east"})
    False
    """
    actual = str(labels.get(matcher.label, ""))
    hit = re.fullmatch(matcher.value, actual) is not None if matcher.is_regex else actual == matcher.value
    return hit == matcher.is_equal


def _silence(row: sa.Row[Any]) -> Silence:
    found = tuple(Matcher(**m) for m in row.matchers)
    return Silence(row.id, found, row.starts_at, row.ends_at, row.created_by, row.comment, row.created_at)


class SilencesMixin(LedgerBase):
    """The silence part of :class:`alerting.ledger.Ledger`."""

    def create_silence(
        self,
        matchers: Sequence[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
    ) -> Silence:
        """Store a new silence; refuse one without matchers, with a bad regex or ending before it starts."""
        if not matchers:
            raise LedgerError("a silence needs at least one matcher (it would mute every alert)")
        for matcher in matchers:
            if matcher.is_regex:
                try:
                    re.compile(matcher.value)
                except re.error as err:
                    raise LedgerError(f"silence matcher {matcher.label}=~{matcher.value!r}: bad regex: {err}") from err
        if aware(ends_at) <= aware(starts_at):
            raise LedgerError(f"a silence must end after it starts ({starts_at} .. {ends_at})")
        silence = Silence(str(uuid.uuid4()), tuple(matchers), starts_at, ends_at, created_by, comment, aware(now))
        values = asdict(silence) | {"matchers": [asdict(m) for m in matchers]}
        with self.transaction() as conn:
            conn.execute(sa.insert(silences).values(**values))
        return silence

    def silences(self, now: datetime, state: SilenceState | None = None) -> list[Silence]:
        """Every silence (or those ``state`` at ``now``), oldest first."""
        aware(now)
        query = sa.select(silences).order_by(silences.c.created_at, silences.c.id)
        if state == "pending":
            query = query.where(silences.c.starts_at > now)
        elif state == "active":
            query = query.where(silences.c.starts_at <= now, silences.c.ends_at > now)
        elif state == "expired":
            query = query.where(silences.c.ends_at <= now)
        with self.transaction() as conn:
            return [_silence(row) for row in conn.execute(query)]

    def expire_silence(self, silence_id: str, now: datetime) -> Silence:
        """End a silence now (a pending one never starts); refuse an unknown or already expired one."""
        aware(now)
        with self.transaction() as conn:
            row = conn.execute(sa.select(silences).where(silences.c.id == silence_id).with_for_update()).first()
            if row is None:
                raise LedgerError(f"no silence with id {silence_id}")
            silence = _silence(row)
            if silence.state(now) == "expired":
                raise LedgerError(f"silence {silence_id} already expired at {silence.ends_at.isoformat()}")
            starts_at = min(silence.starts_at, now)
            conn.execute(
                sa.update(silences).where(silences.c.id == silence_id).values(starts_at=starts_at, ends_at=now)
            )
            return _silence(conn.execute(sa.select(silences).where(silences.c.id == silence_id)).one())

    def silenced_by(self, labels: Mapping[str, Any], now: datetime) -> list[Silence]:
        """The active silences that mute an alert with these labels."""
        return [s for s in self.silences(now, "active") if all(matches(m, labels) for m in s.matchers)]

"""Single-use ack links: the digest of each link used, who used it and when.

A link is used and its transition made in one transaction
(:meth:`LinksMixin.transition_by_link`): a transition the alert's status
refuses does not burn the link, and a link cannot transition twice, however
many requests race with it. The digest's primary key makes this hold on
SQLite (one writer at a time) and PostgreSQL (the alert row is locked first,
then the insert of a digest another transaction committed does nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from alerting.ledger.alerts import AlertsMixin
from alerting.ledger.base import aware
from alerting.ledger.errors import LedgerError
from alerting.ledger.groups import GroupsMixin
from alerting.ledger.models import Notification, Transition
from alerting.ledger.schema import used_links

#: What a person can do with a link.
LinkAction = Literal["ack", "resolve"]


@dataclass(frozen=True)
class LinkUse:
    """When and by whom a link was used, and for what."""

    digest: str
    alert_id: int
    action: str
    used_at: datetime
    used_by: str


class LinkUsed(LedgerError):
    """The link was used already (``use`` says when and by whom)."""

    def __init__(self, use: LinkUse) -> None:
        super().__init__(f"the link was used already, at {use.used_at:%Y-%m-%d %H:%M} UTC by {use.used_by}")
        self.use = use


def _use(row: sa.Row[Any]) -> LinkUse:
    return LinkUse(row.digest, row.alert_id, row.action, row.used_at, row.used_by)


class LinksMixin(AlertsMixin, GroupsMixin):
    """The ack-link part of :class:`alerting.ledger.Ledger` (its transitions are the alerts part's)."""

    def use_link(self, digest: str, alert_id: int, action: str, by: str, now: datetime) -> bool:
        """Record the link ``digest`` as used; False when it was used already (UnknownAlert if no such alert)."""
        with self.transaction() as conn:
            return self._claim(conn, digest, alert_id, action, by, now)

    def link_use(self, digest: str) -> LinkUse | None:
        """The use of the link ``digest``, or None while unused."""
        with self.transaction() as conn:
            row = conn.execute(sa.select(used_links).where(used_links.c.digest == digest)).first()
        return None if row is None else _use(row)

    def transition_by_link(
        self,
        digest: str,
        alert_id: int,
        action: LinkAction,
        by: str,
        now: datetime,
        ack_timeout: timedelta,
        comment: str | None = None,
        notify: Sequence[Notification] = (),
    ) -> Transition:
        """Use the link and acknowledge or resolve the alert (via ``sms_link``) in one transaction.

        LinkUsed when the link was used already; InvalidTransition (the link stays unused) when the
        alert's status does not allow ``action``; UnknownAlert when there is no such alert.
        """
        with self.transaction() as conn:
            if not self._claim(conn, digest, alert_id, action, by, now):
                used = conn.execute(sa.select(used_links).where(used_links.c.digest == digest)).one()
                raise LinkUsed(_use(used))
            # Joins this transaction: an exception rolls back the link's use with the transition.
            if action == "ack":
                done = self.ack(alert_id, by, "sms_link", now, ack_timeout, comment, notify)
                self._ack_mates(alert_id, by, now, ack_timeout, comment)
                return done
            return self.resolve(alert_id, by, "sms_link", now, comment, notify)

    def _ack_mates(self, alert_id: int, by: str, now: datetime, ack_timeout: timedelta, comment: str | None) -> None:
        """A link in a grouped message acknowledges every firing alert that message told of (their escalation
        pauses too); each gets its own history entry naming the link's alert."""
        note = f"acknowledged with alert {alert_id}" + (f": {comment}" if comment else "")
        for mate in self.group_mates(alert_id):
            if self.alert(mate).status == "firing":
                self.ack(mate, by, "sms_link", now, ack_timeout, note)

    def _claim(self, conn: sa.Connection, digest: str, alert_id: int, action: str, by: str, now: datetime) -> bool:
        self._locked(conn, alert_id)  # serialises uses of one alert's links on PostgreSQL; UnknownAlert if none
        values = {"digest": digest, "alert_id": alert_id, "action": action, "used_at": aware(now), "used_by": by}
        return self.insert_ignore(conn, used_links, values, "digest")

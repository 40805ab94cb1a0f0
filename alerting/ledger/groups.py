"""Aggregation groups in the ledger: which alerts a group holds, what it last sent, and when it is due.

The routing stage decides a group's key and timing (Alertmanager's group_wait,
group_interval, repeat_interval); the ledger keeps the group so that a restart
resumes it. :meth:`GroupsMixin.flush_group` writes a group's notifications and
its new "sent" state in one transaction; a group changed since it was read
(``version``) is left for the next tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerting.ledger.base import LedgerBase, aware
from alerting.ledger.models import Notification
from alerting.ledger.schema import notify_groups


@dataclass(frozen=True)
class GroupRef:
    """Where a route puts an alert: the group's key, route, receiver, labels and timing."""

    key: str
    route: str
    receiver: str
    labels: Mapping[str, str]
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float


@dataclass(frozen=True)
class Group:
    """A group as stored: members and what was sent (alert id → status), due time, version."""

    key: str
    route: str
    receiver: str
    labels: dict[str, str]
    members: dict[str, str]
    sent: dict[str, str]
    next_at: datetime
    last_sent_at: datetime | None
    group_interval_s: float
    repeat_interval_s: float
    flushes: int
    version: int


def _group(row: sa.Row[Any]) -> Group:
    return Group(**row._asdict())


def group_key(channel: str, recipient: str, group: Group) -> str:
    """The idempotency key of one flush of a group to one recipient on one channel."""
    return f"group:{group.key}:{group.flushes + 1}:{channel}:{recipient}"


class GroupsMixin(LedgerBase):
    """The aggregation-group part of :class:`alerting.ledger.Ledger`."""

    def join_group(self, ref: GroupRef, alert_id: int, status: str, now: datetime) -> Group:
        """Put an alert (firing or resolved) into its group; a new group is due after ``group_wait``."""
        aware(now)
        with self.transaction() as conn:
            row = conn.execute(sa.select(notify_groups).where(notify_groups.c.key == ref.key).with_for_update()).first()
            if row is None:
                values = {
                    "key": ref.key,
                    "route": ref.route,
                    "receiver": ref.receiver,
                    "labels": dict(ref.labels),
                    "members": {str(alert_id): status},
                    "sent": {},
                    "next_at": now + timedelta(seconds=ref.group_wait_s),
                    "last_sent_at": None,
                    "group_interval_s": ref.group_interval_s,
                    "repeat_interval_s": ref.repeat_interval_s,
                    "flushes": 0,
                    "version": 0,
                }
                conn.execute(sa.insert(notify_groups).values(**values))
            else:
                members = {**row.members, str(alert_id): status}
                conn.execute(
                    sa.update(notify_groups)
                    .where(notify_groups.c.key == ref.key)
                    .values(members=members, version=row.version + 1)
                )
            return _group(conn.execute(sa.select(notify_groups).where(notify_groups.c.key == ref.key)).one())

    def groups(self) -> list[Group]:
        """Every group, by key."""
        with self.transaction() as conn:
            return [_group(r) for r in conn.execute(sa.select(notify_groups).order_by(notify_groups.c.key))]

    def group_mates(self, alert_id: int) -> list[int]:
        """The other alerts in any group with ``alert_id`` (those one grouped message told of together)."""
        key = str(alert_id)
        mates = {int(k) for g in self.groups() if key in g.members for k in g.members if k != key}
        return sorted(mates)

    def due_groups(self, now: datetime) -> list[Group]:
        """Groups due at ``now``, earliest first."""
        query = sa.select(notify_groups).where(notify_groups.c.next_at <= aware(now)).order_by(notify_groups.c.next_at)
        with self.transaction() as conn:
            return [_group(r) for r in conn.execute(query)]

    def flush_group(
        self,
        group: Group,
        now: datetime,
        sent: Mapping[str, str],
        notify: Sequence[Notification],
        drop: Sequence[str] = (),
    ) -> bool:
        """Queue a group's notifications, remember ``sent``, drop members (resolved and told), reschedule.

        Nothing is queued when ``notify`` is empty (the group is only rescheduled). A group left
        without members ends. Returns False, changing nothing, when the group changed since it was read.
        """
        aware(now)
        with self.transaction() as conn:
            row = conn.execute(
                sa.select(notify_groups).where(notify_groups.c.key == group.key).with_for_update()
            ).first()
            if row is None or row.version != group.version:
                return False
            for notification in notify:
                self.queue_notification(
                    conn, group_key(notification.channel, notification.recipient, group), notification, now
                )
            members = {k: v for k, v in row.members.items() if k not in drop}
            if not members:
                conn.execute(sa.delete(notify_groups).where(notify_groups.c.key == group.key))
                return True
            changes: dict[str, Any] = {
                "members": members,
                "sent": {k: v for k, v in sent.items() if k in members},
                "next_at": now + timedelta(seconds=group.group_interval_s),
                "version": row.version + 1,
            }
            if notify:
                changes |= {"last_sent_at": now, "flushes": row.flushes + 1}
            conn.execute(sa.update(notify_groups).where(notify_groups.c.key == group.key).values(**changes))
            return True

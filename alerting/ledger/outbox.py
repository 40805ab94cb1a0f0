"""The notification outbox: claim due rows, record every attempt, dead letters and SMS receipts.

A row goes pending → sending (claimed) → sent | failed (retried at
``next_attempt_at``) | dead (given up, with the reason). ``claim_due`` uses
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers never
claim the same row; on SQLite every transaction is ``BEGIN IMMEDIATE`` (one writer).
A row left in ``sending`` by a worker that died is claimable again after ``lease``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerting.ledger.base import LedgerBase, aware
from alerting.ledger.errors import LedgerError, NotClaimed, UnknownKey
from alerting.ledger.models import Attempt, Notification, OutboxItem, Outcome, Receipt
from alerting.ledger.schema import OUTCOMES, outbox, receipts
from alerting.ledger.schema import attempts as attempts_table

_ITEM_COLUMNS = [outbox.c[name] for name in OutboxItem.__dataclass_fields__]


def _item(row: sa.Row[Any]) -> OutboxItem:
    return OutboxItem(**row._asdict())


class OutboxMixin(LedgerBase):
    """The delivery part of :class:`alerting.ledger.Ledger`."""

    def enqueue(self, key: str, notification: Notification, now: datetime, alert_id: int | None = None) -> bool:
        """Queue one notification under ``key``; return False (and change nothing) when the key exists."""
        values = {
            "key": key,
            "alert_id": alert_id,
            "recipient": notification.recipient,
            "channel": notification.channel,
            "payload": notification.payload,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": aware(now),
            "created_at": now,
            "updated_at": now,
        }
        with self.transaction() as conn:
            return self.insert_ignore(conn, outbox, values, "key")

    def count_queued(self, channel: str, since: datetime, recipient: str | None = None) -> int:
        """Rows of ``channel`` (for ``recipient``) queued at or after ``since``: what an SMS budget has used."""
        query = sa.select(sa.func.count()).where(outbox.c.channel == channel, outbox.c.created_at >= aware(since))
        if recipient is not None:
            query = query.where(outbox.c.recipient == recipient)
        with self.transaction() as conn:
            return int(conn.execute(query).scalar_one())

    def outbox_item(self, key: str) -> OutboxItem:
        """The outbox row with this key; UnknownKey if none."""
        with self.transaction() as conn:
            row = conn.execute(sa.select(*_ITEM_COLUMNS).where(outbox.c.key == key)).first()
        if row is None:
            raise UnknownKey(f"no outbox row with key {key!r}")
        return _item(row)

    def outbox_items(self, alert_id: int | None = None) -> list[OutboxItem]:
        """Every outbox row (or the alert's), in creation order."""
        query = sa.select(*_ITEM_COLUMNS).order_by(outbox.c.id)
        if alert_id is not None:
            query = query.where(outbox.c.alert_id == alert_id)
        with self.transaction() as conn:
            return [_item(row) for row in conn.execute(query)]

    def claim_due(
        self, now: datetime, limit: int, worker_id: str, lease: timedelta = timedelta(minutes=5)
    ) -> list[OutboxItem]:
        """Atomically claim up to ``limit`` rows that are due, oldest first, for ``worker_id``."""
        aware(now)
        due = sa.or_(
            sa.and_(outbox.c.state.in_(("pending", "failed")), outbox.c.next_attempt_at <= now),
            sa.and_(outbox.c.state == "sending", outbox.c.claimed_at <= now - lease),
        )
        pick = (
            sa.select(outbox.c.id)
            .where(due)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.transaction() as conn:
            ids = list(conn.execute(pick).scalars())
            if not ids:
                return []
            self._note_lost_claims(conn, ids, now, worker_id)
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(state="sending", claimed_by=worker_id, claimed_at=now, updated_at=now)
            )
            rows = conn.execute(
                sa.select(*_ITEM_COLUMNS).where(outbox.c.id.in_(ids)).order_by(outbox.c.next_attempt_at, outbox.c.id)
            )
            return [_item(row) for row in rows]

    @staticmethod
    def _note_lost_claims(conn: sa.Connection, ids: list[int], now: datetime, worker_id: str) -> None:
        """Rows claimed again after their lease: keep an attempt saying so (the message may have gone out once)."""
        lost = conn.execute(
            sa.select(outbox.c.key, outbox.c.attempts, outbox.c.claimed_by, outbox.c.claimed_at).where(
                outbox.c.id.in_(ids), outbox.c.state == "sending"
            )
        ).all()
        for key, attempts, claimed_by, claimed_at in lost:
            detail = (
                f"claimed by {claimed_by} at {claimed_at.isoformat() if claimed_at else '?'} and never recorded "
                f"(worker gone?); claimed again by {worker_id}: it may have been sent once already"
            )
            conn.execute(
                sa.insert(attempts_table).values(
                    outbox_key=key,
                    attempt=attempts + 1,
                    at=now,
                    worker_id=claimed_by,
                    outcome="retry",
                    detail=detail,
                    vendor_id=None,
                )
            )
            conn.execute(sa.update(outbox).where(outbox.c.key == key).values(attempts=attempts + 1))

    def record_attempt(
        self,
        key: str,
        outcome: Outcome,
        detail: str,
        now: datetime,
        vendor_id: str | None = None,
        next_attempt_at: datetime | None = None,
        worker_id: str | None = None,
        vendor: str | None = None,
    ) -> OutboxItem:
        """Keep one attempt at a claimed row and move the row on.

        ``sent`` → sent; ``retry`` → failed, due again at ``next_attempt_at``
        (without one: dead); ``permanent`` → dead with ``detail`` as the reason.
        ``vendor``: the notifier that carried the attempt (``kannel``, ``wecom``, …; ``none`` when none could).
        """
        aware(now)
        if outcome not in OUTCOMES:
            raise LedgerError(f"unknown outcome {outcome!r}; choose from {', '.join(OUTCOMES)}")
        with self.transaction() as conn:
            row = conn.execute(sa.select(outbox).where(outbox.c.key == key).with_for_update()).first()
            if row is None:
                raise UnknownKey(f"no outbox row with key {key!r}")
            if row.state != "sending":
                raise NotClaimed(f"outbox row {key!r} is {row.state}, not sending: claim it with claim_due first")
            number = row.attempts + 1
            conn.execute(
                sa.insert(attempts_table).values(
                    outbox_key=key,
                    attempt=number,
                    at=now,
                    worker_id=worker_id or row.claimed_by,
                    outcome=outcome,
                    detail=detail,
                    vendor_id=vendor_id,
                    vendor=vendor,
                )
            )
            changes: dict[str, Any] = {"attempts": number, "detail": detail, "updated_at": now, "claimed_at": None}
            if vendor_id is not None:
                changes["vendor_id"] = vendor_id
            if outcome == "sent":
                changes["state"] = "sent"
            elif outcome == "retry" and next_attempt_at is not None:
                changes |= {"state": "failed", "next_attempt_at": next_attempt_at}
            elif outcome == "retry":
                changes |= {"state": "dead", "dead_reason": f"no further attempt after {number}: {detail}"}
            else:
                changes |= {"state": "dead", "dead_reason": detail}
            conn.execute(sa.update(outbox).where(outbox.c.key == key).values(**changes))
            return _item(conn.execute(sa.select(*_ITEM_COLUMNS).where(outbox.c.key == key)).one())

    def attempts(self, key: str) -> list[Attempt]:
        """Every attempt at the row, in order."""
        table = attempts_table
        query = sa.select(table).where(table.c.outbox_key == key).order_by(table.c.attempt)
        with self.transaction() as conn:
            return [
                Attempt(r.outbox_key, r.attempt, r.at, r.worker_id, r.outcome, r.detail, r.vendor_id)
                for r in conn.execute(query)
            ]

    def dead_letters(self, limit: int = 100) -> list[OutboxItem]:
        """Rows given up on, most recent first."""
        query = (
            sa.select(*_ITEM_COLUMNS)
            .where(outbox.c.state == "dead")
            .order_by(outbox.c.updated_at.desc(), outbox.c.id.desc())
            .limit(limit)
        )
        with self.transaction() as conn:
            return [_item(row) for row in conn.execute(query)]

    def record_receipt(
        self, vendor_id: str, status: str, detail: str, now: datetime, key: str | None = None
    ) -> Receipt:
        """Keep an SMS delivery receipt; without ``key``, the row is found by the vendor's message id."""
        aware(now)
        with self.transaction() as conn:
            if key is None:
                key = conn.execute(sa.select(outbox.c.key).where(outbox.c.vendor_id == vendor_id)).scalar()
            elif conn.execute(sa.select(outbox.c.id).where(outbox.c.key == key)).first() is None:
                raise UnknownKey(f"receipt for vendor id {vendor_id!r} names unknown outbox key {key!r}")
            receipt = Receipt(vendor_id, key, status, detail, now)
            conn.execute(
                sa.insert(receipts).values(
                    vendor_id=vendor_id, outbox_key=key, status=status, detail=detail, received_at=now
                )
            )
            return receipt

    def receipts(self, key: str | None = None, vendor_id: str | None = None) -> list[Receipt]:
        """Receipts for an outbox key or a vendor id (or all), in arrival order."""
        query = sa.select(receipts).order_by(receipts.c.received_at, receipts.c.id)
        if key is not None:
            query = query.where(receipts.c.outbox_key == key)
        if vendor_id is not None:
            query = query.where(receipts.c.vendor_id == vendor_id)
        with self.transaction() as conn:
            return [Receipt(r.vendor_id, r.outbox_key, r.status, r.detail, r.received_at) for r in conn.execute(query)]

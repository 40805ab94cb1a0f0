"""Alerts and their history: dedup by fingerprint, transitions, ack timeouts, auto-resolve.

A transition, its history entry and its outbox rows are written in one
transaction, before anything is sent. On PostgreSQL the alert row is locked
(``FOR UPDATE``) for the transaction, so concurrent workers serialise per alert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerting.ledger.base import LedgerBase, aware
from alerting.ledger.errors import InvalidTransition, LedgerError, UnknownAlert
from alerting.ledger.models import SYSTEM, Alert, HistoryEntry, Notification, Status, Transition, Via
from alerting.ledger.schema import VIAS, alerts, escalation_steps, history

#: The statuses each action may start from.
_ALLOWED: dict[str, tuple[Status, ...]] = {
    "ack": ("firing", "acknowledged"),
    "resolve": ("firing", "acknowledged"),
    "reopen": ("acknowledged",),
}


@dataclass(frozen=True)
class Observed:
    """What an anomaly did: opened a new alert (with its outbox keys) or updated the open one."""

    alert: Alert
    new: bool
    keys: tuple[str, ...] = ()


def outbox_key(alert_id: int, seq: int, notification: Notification) -> str:
    """The idempotency key of one (alert transition, recipient, channel)."""
    return f"alert:{alert_id}:{seq}:{notification.channel}:{notification.recipient}"


def _alert(row: sa.Row[Any]) -> Alert:
    return Alert(**row._asdict())


def _entry(row: sa.Row[Any]) -> HistoryEntry:
    return HistoryEntry(**{k: v for k, v in row._asdict().items() if k != "id"})


def _farther(peak: float, value: float, expected: float | None) -> float:
    """The value farther from ``expected`` (without one: the larger)."""
    if expected is None:
        return max(peak, value)
    return value if abs(value - expected) > abs(peak - expected) else peak


class AlertsMixin(LedgerBase):
    """The alert part of :class:`alerting.ledger.Ledger`."""

    # -- reading ----------------------------------------------------------------------
    def alert(self, alert_id: int) -> Alert:
        """The alert with this id; UnknownAlert if none."""
        with self.transaction() as conn:
            return _alert(self._locked(conn, alert_id, lock=False))

    def open_alert(self, fingerprint: str) -> Alert | None:
        """The unresolved alert of this fingerprint, if any."""
        with self.transaction() as conn:
            row = self._open_row(conn, fingerprint, lock=False)
            return None if row is None else _alert(row)

    def alerts(self, status: Status | None = None) -> list[Alert]:
        """Every alert (or those with ``status``), oldest first."""
        query = sa.select(alerts).order_by(alerts.c.id)
        if status is not None:
            query = query.where(alerts.c.status == status)
        with self.transaction() as conn:
            return [_alert(row) for row in conn.execute(query)]

    def history(self, alert_id: int) -> list[HistoryEntry]:
        """The alert's transitions and comments in order."""
        query = sa.select(history).where(history.c.alert_id == alert_id).order_by(history.c.seq)
        with self.transaction() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def open_alerts_of(self, fingerprint: str) -> list[Alert]:
        """Unresolved alerts whose fingerprint is ``fingerprint`` or starts with it and ``+`` (its incidents)."""
        query = (
            sa.select(alerts)
            .where(
                alerts.c.status != "resolved",
                sa.or_(alerts.c.fingerprint == fingerprint, alerts.c.fingerprint.startswith(fingerprint + "+")),
            )
            .order_by(alerts.c.id)
        )
        with self.transaction() as conn:
            return [_alert(row) for row in conn.execute(query)]

    def due_escalations(self, now: datetime) -> list[Alert]:
        """Firing alerts whose next escalation step is due."""
        query = (
            sa.select(alerts)
            .where(alerts.c.status == "firing", alerts.c.next_escalation_at <= aware(now))
            .order_by(alerts.c.next_escalation_at, alerts.c.id)
        )
        with self.transaction() as conn:
            return [_alert(row) for row in conn.execute(query)]

    # -- anomalies ----------------------------------------------------------------------
    def observe(
        self,
        fingerprint: str,
        labels: dict[str, Any],
        value: float,
        now: datetime,
        expected: float | None = None,
        notify: Sequence[Notification] = (),
        escalate_at: datetime | None = None,
        started_at: datetime | None = None,
        annotations: dict[str, Any] | None = None,
    ) -> Observed:
        """Record an anomaly: update the fingerprint's open alert, or open a new one (notifying ``notify``).

        Updating keeps the alert's id and start and sets the latest value, peak,
        expected value and last_seen; it also restarts the count of normal windows.
        ``started_at``: when the episode began (event time), default ``now``; ``annotations``: the
        latest anomaly's band, score and description (replaced at each update).
        """
        aware(now)
        with self.transaction() as conn:
            row = self._open_row(conn, fingerprint, lock=True)
            if row is None:
                try:
                    with conn.begin_nested():
                        alert_id = self._insert_alert(
                            conn, fingerprint, labels, value, now, expected, escalate_at, started_at or now
                        )
                        if annotations is not None:
                            conn.execute(
                                sa.update(alerts).where(alerts.c.id == alert_id).values(annotations=annotations)
                            )
                except sa.exc.IntegrityError:
                    # Another worker opened it between our read and insert: update theirs.
                    row = self._open_row(conn, fingerprint, lock=True)
                    if row is None:
                        raise
                else:
                    row = self._locked(conn, alert_id)
                    done = self._write_transition(conn, row, "firing", SYSTEM, "auto", None, now, notify, {}, new=True)
                    return Observed(done.alert, True, done.keys)
            peak = _farther(row.peak, value, expected if expected is not None else row.expected)
            changes = {
                "value": value,
                "peak": peak,
                "last_seen": now,
                "updated_at": now,
                "normal_windows": 0,
                **({"expected": expected} if expected is not None else {}),
                **({"annotations": annotations} if annotations is not None else {}),
            }
            conn.execute(sa.update(alerts).where(alerts.c.id == row.id).values(**changes))
            return Observed(_alert(self._locked(conn, row.id, lock=False)), False)

    def record_normal(
        self,
        fingerprint: str,
        now: datetime,
        resolve_after: int,
        notify: Sequence[Notification] = (),
        normal_windows: int | None = None,
    ) -> Transition | None:
        """Count one normal window for the fingerprint's open alert; resolve it (via auto) at ``resolve_after``.

        ``normal_windows``: the detector's own count of normal windows in a row, taken as is (so a
        report read twice does not count twice) instead of adding one.
        """
        aware(now)
        with self.transaction() as conn:
            row = self._open_row(conn, fingerprint, lock=True)
            if row is None:
                return None
            count = row.normal_windows + 1 if normal_windows is None else normal_windows
            conn.execute(sa.update(alerts).where(alerts.c.id == row.id).values(normal_windows=count))
            if count < resolve_after:
                return None
            return self._write_transition(
                conn,
                self._locked(conn, row.id),
                "resolved",
                SYSTEM,
                "auto",
                f"series normal for {count} windows",
                now,
                notify,
                {"resolved_at": now, "ack_deadline": None, "next_escalation_at": None},
            )

    # -- people -------------------------------------------------------------------------
    def ack(
        self,
        alert_id: int,
        by: str,
        via: Via,
        now: datetime,
        ack_timeout: timedelta,
        comment: str | None = None,
        notify: Sequence[Notification] = (),
    ) -> Transition:
        """Acknowledge (or re-acknowledge, extending the deadline); escalation pauses until the deadline."""
        changes = {"ack_deadline": aware(now) + ack_timeout, "next_escalation_at": None}
        return self._transition(alert_id, "ack", "acknowledged", by, via, comment, now, notify, changes)

    def resolve(
        self,
        alert_id: int,
        by: str,
        via: Via,
        now: datetime,
        comment: str | None = None,
        notify: Sequence[Notification] = (),
    ) -> Transition:
        """Resolve a firing or acknowledged alert."""
        changes = {"resolved_at": aware(now), "ack_deadline": None, "next_escalation_at": None}
        return self._transition(alert_id, "resolve", "resolved", by, via, comment, now, notify, changes)

    def comment(self, alert_id: int, by: str, via: Via, text: str, now: datetime) -> HistoryEntry:
        """Add a comment to the alert's history without changing its status."""
        aware(now)
        with self.transaction() as conn:
            self._locked(conn, alert_id)
            return self._append(conn, alert_id, None, None, by, via, text, now)

    # -- the clock ----------------------------------------------------------------------
    def expire_acks(
        self, now: datetime, notify: Callable[[Alert], Sequence[Notification]] | None = None
    ) -> list[Transition]:
        """Return every acknowledged alert past its deadline to firing (via auto); escalation resumes now."""
        aware(now)
        done: list[Transition] = []
        with self.transaction() as conn:
            query = (
                sa.select(alerts)
                .where(alerts.c.status == "acknowledged", alerts.c.ack_deadline <= now)
                .order_by(alerts.c.id)
                .with_for_update(skip_locked=True)
            )
            for row in conn.execute(query).all():
                changes = {"ack_deadline": None, "next_escalation_at": now}
                recipients = notify(_alert(row)) if notify else ()
                done.append(
                    self._write_transition(
                        conn, row, "firing", SYSTEM, "auto", "ack deadline passed", now, recipients, changes
                    )
                )
        return done

    def set_escalation(
        self,
        alert_id: int,
        step: int,
        next_at: datetime | None,
        now: datetime,
        repeats: int | None = None,
        notify: Sequence[Notification] = (),
        comment: str | None = None,
        steps: Mapping[int, int] | None = None,
    ) -> Alert:
        """Record that escalation reached ``step`` (after ``repeats`` runs of the chain); the next step is due at
        ``next_at`` (None: no more). With ``notify``, an escalation entry (``comment``) is added to the history
        and the notifications are queued with it, in the same transaction; ``steps`` (chain step, counted from 1
        → how many people or IM groups it notified) are kept with the entry, at the alert's severity, for the
        InfluxDB feed."""
        aware(now)
        with self.transaction() as conn:
            row = self._locked(conn, alert_id)
            if row.status != "firing":  # acknowledged or resolved meanwhile: the walk stops here
                return _alert(row)
            if notify:
                entry = self._append(conn, alert_id, None, None, SYSTEM, "auto", comment or "escalation", now)
                for notification in notify:
                    self._queue(conn, row.id, entry.seq, notification, now)
                severity = _alert(row).severity
                for number, targets in sorted((steps or {}).items()):
                    conn.execute(
                        sa.insert(escalation_steps).values(
                            alert_id=row.id,
                            history_seq=entry.seq,
                            step=number,
                            targets=targets,
                            severity=severity,
                            at=now,
                        )
                    )
            values: dict[str, Any] = {"escalation_step": step, "next_escalation_at": next_at, "updated_at": now}
            if repeats is not None:
                values["escalation_repeats"] = repeats
            conn.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(**values))
            return _alert(self._locked(conn, alert_id, lock=False))

    # -- internals ----------------------------------------------------------------------
    def _transition(
        self,
        alert_id: int,
        action: str,
        target: Status,
        by: str,
        via: Via,
        comment: str | None,
        now: datetime,
        notify: Sequence[Notification],
        changes: dict[str, Any],
    ) -> Transition:
        aware(now)
        with self.transaction() as conn:
            row = self._locked(conn, alert_id)
            if row.status not in _ALLOWED[action]:
                raise InvalidTransition(alert_id, row.fingerprint, row.status, target, action)
            return self._write_transition(conn, row, target, by, via, comment, now, notify, changes)

    def _write_transition(
        self,
        conn: sa.Connection,
        row: sa.Row[Any],
        target: Status,
        by: str,
        via: Via,
        comment: str | None,
        now: datetime,
        notify: Sequence[Notification],
        changes: dict[str, Any],
        new: bool = False,
    ) -> Transition:
        """Update the alert, append its history entry and queue its notifications (caller's transaction).

        ``new``: the alert was just inserted, so its first entry comes from no status.
        """
        conn.execute(sa.update(alerts).where(alerts.c.id == row.id).values(status=target, updated_at=now, **changes))
        entry = self._append(conn, row.id, None if new else row.status, target, by, via, comment, now)
        keys = [self._queue(conn, row.id, entry.seq, notification, now) for notification in notify]
        return Transition(_alert(self._locked(conn, row.id, lock=False)), entry, tuple(keys))

    def _queue(self, conn: sa.Connection, alert_id: int, seq: int, notification: Notification, now: datetime) -> str:
        """Queue one notification of history entry ``seq``; its idempotency key."""
        key = outbox_key(alert_id, seq, notification)
        self.queue_notification(conn, key, notification, now, alert_id, seq)
        return key

    def _append(
        self,
        conn: sa.Connection,
        alert_id: int,
        from_status: Status | None,
        to_status: Status | None,
        by: str,
        via: Via,
        comment: str | None,
        now: datetime,
    ) -> HistoryEntry:
        if via not in VIAS:
            raise LedgerError(f"unknown via {via!r}; choose from {', '.join(VIAS)}")
        last = conn.execute(sa.select(sa.func.max(history.c.seq)).where(history.c.alert_id == alert_id)).scalar()
        entry = HistoryEntry(alert_id, (last or 0) + 1, from_status, to_status, now, by, via, comment)
        conn.execute(sa.insert(history).values(**entry.__dict__))
        return entry

    def _insert_alert(
        self,
        conn: sa.Connection,
        fingerprint: str,
        labels: dict[str, Any],
        value: float,
        now: datetime,
        expected: float | None,
        escalate_at: datetime | None,
        started_at: datetime,
    ) -> int:
        values = {
            "fingerprint": fingerprint,
            "labels": labels,
            "status": "firing",
            "value": value,
            "peak": value,
            "expected": expected,
            "started_at": started_at,
            "last_seen": now,
            "updated_at": now,
            "escalation_step": 0,
            "next_escalation_at": escalate_at,
            "normal_windows": 0,
        }
        alert_id: int = conn.execute(sa.insert(alerts).values(**values).returning(alerts.c.id)).scalar_one()
        return alert_id

    @staticmethod
    def _open_row(conn: sa.Connection, fingerprint: str, lock: bool) -> sa.Row[Any] | None:
        query = sa.select(alerts).where(alerts.c.fingerprint == fingerprint, alerts.c.status != "resolved")
        return conn.execute(query.with_for_update() if lock else query).first()

    @staticmethod
    def _locked(conn: sa.Connection, alert_id: int, lock: bool = True) -> sa.Row[Any]:
        query = sa.select(alerts).where(alerts.c.id == alert_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise UnknownAlert(f"no alert with id {alert_id}")
        return row

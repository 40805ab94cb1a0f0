"""Filtered, paged reads for the API: alerts by status and labels, deliveries by state, their attempts and receipts.

Read-only; each method is one transaction and returns the page with the total
count of matching rows, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.ledger.alerts import _alert
from alerting.ledger.base import LedgerBase, aware
from alerting.ledger.models import Alert, Attempt, OutboxItem, Receipt, Silence, Status
from alerting.ledger.outbox import _ITEM_COLUMNS, _item
from alerting.ledger.schema import alerts, outbox, receipts, silences
from alerting.ledger.schema import attempts as attempts_table
from alerting.ledger.silences import _silence


def _page(conn: sa.Connection, query: sa.Select[Any], limit: int, offset: int) -> tuple[list[sa.Row[Any]], int]:
    total = conn.execute(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    return list(conn.execute(query.limit(limit).offset(offset))), int(total)


class QueriesMixin(LedgerBase):
    """The API's filtered reads of :class:`alerting.ledger.Ledger`."""

    def find_alerts(
        self,
        *,
        status: Status | None = None,
        labels: Mapping[str, str] | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Alert], int]:
        """Alerts with ``status``, whose ``labels`` equal these values, started at or after ``since``; newest first.

        Returns one page (``limit`` from ``offset``) and the number of all matching alerts.
        """
        query = sa.select(alerts).order_by(alerts.c.started_at.desc(), alerts.c.id.desc())
        if status is not None:
            query = query.where(alerts.c.status == status)
        for name, value in (labels or {}).items():
            query = query.where(alerts.c.labels[name].as_string() == value)
        if since is not None:
            query = query.where(alerts.c.started_at >= aware(since))
        with self.transaction() as conn:
            rows, total = _page(conn, query, limit, offset)
        return [_alert(row) for row in rows], total

    def find_deliveries(
        self,
        *,
        state: str | None = None,
        channel: str | None = None,
        alert_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[OutboxItem], int]:
        """Outbox rows in ``state`` on ``channel`` (of ``alert_id``), most recently changed first, and their count."""
        query = sa.select(*_ITEM_COLUMNS).order_by(outbox.c.updated_at.desc(), outbox.c.id.desc())
        if state is not None:
            query = query.where(outbox.c.state == state)
        if channel is not None:
            query = query.where(outbox.c.channel == channel)
        if alert_id is not None:
            query = query.where(outbox.c.alert_id == alert_id)
        with self.transaction() as conn:
            rows, total = _page(conn, query, limit, offset)
        return [_item(row) for row in rows], total

    def attempts_of(self, keys: Iterable[str]) -> dict[str, list[Attempt]]:
        """The attempts at each outbox key, in order (a key without attempts maps to an empty list)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[Attempt]] = {key: [] for key in wanted}
        if not wanted:
            return found
        table = attempts_table
        query = sa.select(table).where(table.c.outbox_key.in_(wanted)).order_by(table.c.outbox_key, table.c.attempt)
        with self.transaction() as conn:
            for r in conn.execute(query):
                found[r.outbox_key].append(
                    Attempt(r.outbox_key, r.attempt, r.at, r.worker_id, r.outcome, r.detail, r.vendor_id)
                )
        return found

    def receipts_of(self, keys: Iterable[str]) -> dict[str, list[Receipt]]:
        """The delivery receipts of each outbox key, in arrival order."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[Receipt]] = {key: [] for key in wanted}
        if not wanted:
            return found
        query = (
            sa.select(receipts).where(receipts.c.outbox_key.in_(wanted)).order_by(receipts.c.received_at, receipts.c.id)
        )
        with self.transaction() as conn:
            for r in conn.execute(query):
                found[r.outbox_key].append(Receipt(r.vendor_id, r.outbox_key, r.status, r.detail, r.received_at))
        return found

    def silence(self, silence_id: str) -> Silence | None:
        """The silence with this id, if any."""
        with self.transaction() as conn:
            row = conn.execute(sa.select(silences).where(silences.c.id == silence_id)).first()
        return None if row is None else _silence(row)

"""The alerting side of the benchmarks: arrivals at the fake SMS centre and the IM contract server stamped as they
come, the alerting API (it records Kannel's delivery receipts) in this process, and a reading view of the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.ledger.schema import alerts, attempts, history, notify_groups, outbox, receipts
from devstack.im_robot_server import ImRobotServer, Robot
from devstack.kannel_server import KannelServer, ReceivedSms
from telewatch.api_wiring import serve_api
from telewatch.config import Config


@dataclass(frozen=True)
class Arrival:
    """A message at the fake SMS centre, with the wall time (epoch seconds) the bench first saw it complete."""

    at: float
    sms: ReceivedSms


class SmscArrivals:
    """Stamps each message fakesmsc logs (all parts of a concatenated one) when :meth:`poll` first sees it.

    The stamp is up to one polling interval late; fakesmsc's own log stamps have a resolution of one second.
    """

    def __init__(self, kannel: KannelServer) -> None:
        self.kannel = kannel
        self.arrived: list[Arrival] = []

    def poll(self) -> list[Arrival]:
        """Read the log; the messages that arrived since the last poll."""
        messages = self.kannel.received_messages()  # oldest first, so the new ones follow those seen
        now = time.time()
        fresh = [Arrival(now, sms) for sms in messages[len(self.arrived) :]]
        self.arrived += fresh
        return fresh

    def to(self, phone: str) -> list[Arrival]:
        """Messages for ``phone``, oldest first."""
        return [a for a in self.arrived if a.sms.receiver == phone]


class StampedRobots(ImRobotServer):
    """The IM robots' contract server, stamping each accepted message with the wall time it was accepted."""

    def __init__(self, robots: Iterable[Robot]) -> None:
        super().__init__(robots)
        self.accepted_at: list[float] = []

    def _accept(self, robot: Robot, payload: dict[str, Any], text: str, mentions: Iterable[str]) -> None:
        super()._accept(robot, payload, text, mentions)
        self.accepted_at.append(time.time())


@contextlib.asynccontextmanager
async def running_api(config: Config) -> AsyncIterator[None]:
    """The alerting API on ``alerting.api`` host:port in this process (Kannel posts its receipts there)."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve_api(config, stop), name="api")
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)


def epoch(value: datetime | None) -> float | None:
    """A timezone-aware datetime as epoch seconds."""
    return None if value is None else value.timestamp()


class LedgerReader:
    """Reads the ledger with plain SELECTs: unlike :class:`alerting.ledger.Ledger`, whose every transaction takes
    SQLite's write lock (``BEGIN IMMEDIATE``), it never holds up the worker it watches."""

    def __init__(self, url: str) -> None:
        parsed = sa.make_url(url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.engine = sa.create_engine(parsed)

    def close(self) -> None:
        """Close its connections."""
        self.engine.dispose()

    def rows(self, query: sa.Select[Any]) -> list[sa.Row[Any]]:
        """The rows of ``query``."""
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def count(self, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
        """Rows of ``table`` matching every condition."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())

    def alerts(self) -> list[sa.Row[Any]]:
        """id, labels, status and when each alert was opened (its first history entry)."""
        opened = (
            sa.select(history.c.alert_id, sa.func.min(history.c.at).label("opened_at"))
            .where(history.c.from_status.is_(None), history.c.to_status == "firing")
            .group_by(history.c.alert_id)
            .subquery()
        )
        query = sa.select(alerts.c.id, alerts.c.labels, alerts.c.status, opened.c.opened_at).join(
            opened, opened.c.alert_id == alerts.c.id
        )
        return self.rows(query.order_by(opened.c.opened_at))

    def outbox(self) -> list[sa.Row[Any]]:
        """Every outbox row with its creation time, oldest first."""
        o = outbox.c
        query = sa.select(o.key, o.alert_id, o.recipient, o.channel, o.state, o.attempts, o.payload, o.created_at,
                          o.next_attempt_at, o.dead_reason)  # fmt: skip
        return self.rows(query.order_by(o.created_at, o.id))

    def attempts(self) -> list[sa.Row[Any]]:
        """Every delivery attempt, oldest first."""
        a = attempts.c
        return self.rows(sa.select(a.outbox_key, a.attempt, a.at, a.outcome, a.detail).order_by(a.at, a.id))

    def groups(self) -> list[sa.Row[Any]]:
        """Every aggregation group still held (members, what it last sent, flushes)."""
        g = notify_groups.c
        return self.rows(sa.select(g.key, g.route, g.receiver, g.labels, g.members, g.sent, g.flushes))

    def receipts_by_status(self) -> dict[str, int]:
        """Kannel's delivery receipts recorded through the API, by status."""
        query = sa.select(receipts.c.status, sa.func.count().label("n")).group_by(receipts.c.status)
        return {str(row.status): int(row.n) for row in self.rows(query)}

    def busy_outbox(self) -> int:
        """Rows still to be sent: being sent, waiting for a retry, or pending (not digests, which wait for the SMS
        budget to reopen)."""
        waiting = sa.and_(outbox.c.state == "pending", outbox.c.channel != "sms_digest")
        return self.count(outbox, sa.or_(outbox.c.state.in_(("sending", "failed")), waiting))

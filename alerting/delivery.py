"""Delivery: send what the ledger's outbox holds, record every attempt, retry with backoff, give up with a reason.

A batch of due rows is claimed (``SKIP LOCKED``: several workers never claim
one row). Rows for the same IM group, and an SMS recipient's digest rows, are
sent as one message (a burst is coalesced rather than hitting the vendor's
rate limit). Each send's outcome is recorded at once: sent; retry at
``backoff_initial·2ⁿ`` plus jitter (tenacity's ``wait_exponential_jitter``),
never sooner than the vendor's ``Retry-After``, until ``max_attempts``; or
permanent, a dead letter with the vendor's reason.

A worker killed after a vendor accepted a message and before the attempt is
recorded leaves the row claimed; after ``lease`` another worker sends it again.
No vendor here deduplicates, so that window (one HTTP answer and one
transaction, milliseconds) is the one place a message can be sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import tenacity

from alerting.ledger import Ledger, OutboxItem
from alerting.ledger.models import Outcome as LedgerOutcome
from alerting.notify.base import DeliveryResult, Message, Notifier, Outcome
from alerting.notify.registry import Channels, vendor_of
from alerting.owners import OwnersRegistry
from alerting.pipeline.delivery_settings import DeliverySettings
from alerting.pipeline.plan import IM, SMS, SMS_DIGEST
from core.durations import parse_duration

log = logging.getLogger(__name__)
_LEDGER_OUTCOME: dict[Outcome, LedgerOutcome] = {
    Outcome.SENT: "sent",
    Outcome.RETRY: "retry",
    Outcome.PERMANENT: "permanent",
}


@dataclass
class DeliveryCounts:
    """What delivery did (this process), by outcome."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    messages: int = 0


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Delivery:
    """Sends due outbox rows through the configured channels (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        settings: DeliverySettings,
        owners: OwnersRegistry,
        channels: Channels,
        worker_id: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.ledger = ledger
        self.settings = settings
        self.owners = owners
        self.channels = channels
        self.worker_id = worker_id
        self.clock = clock
        self.counts = DeliveryCounts()
        self._wait = tenacity.wait_exponential_jitter(
            multiplier=parse_duration(settings.backoff_initial),
            max=parse_duration(settings.backoff_max),
            jitter=parse_duration(settings.backoff_initial),
        )

    async def run_once(self) -> int:
        """Claim and send one batch; the number of rows handled."""
        lease = timedelta(seconds=parse_duration(self.settings.lease))
        items = await asyncio.to_thread(self.ledger.claim_due, self.clock(), self.settings.batch, self.worker_id, lease)
        await asyncio.gather(*(self._deliver(unit) for unit in units(items)))
        return len(items)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, looking again every ``poll_every`` when idle."""
        idle = parse_duration(self.settings.poll_every)
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # a database hiccup must not end delivery: it is retried next round
                log.exception("alerting: delivery round failed; trying again")
                handled = 0
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle)

    async def _deliver(self, unit: Sequence[OutboxItem]) -> None:
        notifier, message, problem = self._prepare(unit)
        if problem is not None or notifier is None or message is None:
            result = DeliveryResult(Outcome.PERMANENT, problem or "no destination")
            notifier = None
        else:
            result = await notifier.send(message)
        self.counts.messages += 1
        now = self.clock()
        for item in unit:
            await asyncio.to_thread(self._record, item, result, now, vendor_of(notifier))

    def _record(self, item: OutboxItem, result: DeliveryResult, now: datetime, vendor: str) -> None:
        next_at = None
        outcome = result.outcome
        if outcome is Outcome.RETRY and item.attempts + 1 < self.settings.max_attempts:
            state = cast(Any, SimpleNamespace(attempt_number=item.attempts + 1))
            wait = max(self._wait(state), result.retry_after_s or 0.0)
            next_at = now + timedelta(seconds=wait)
        self.ledger.record_attempt(
            item.key, _LEDGER_OUTCOME[outcome], result.detail, now, result.vendor_id, next_at, self.worker_id, vendor
        )
        if outcome is Outcome.SENT:
            self.counts.sent += 1
        elif next_at is not None:
            self.counts.retried += 1
        else:
            self.counts.dead += 1
            log.warning("alerting: gave up on %s to %s: %s", item.channel, item.recipient, result.detail)

    def _prepare(self, unit: Sequence[OutboxItem]) -> tuple[Notifier | None, Message | None, str | None]:
        first = unit[0]
        message = merged(unit)
        if first.channel in (SMS, SMS_DIGEST):
            person = self.owners.people.get(first.recipient)
            if person is None:
                return None, None, f"{first.recipient!r} is not in alerting.owners.people: no phone to send to"
            if self.channels.sms is None:
                return None, None, "no SMS gateway: " + self.channels.missing.get("sms", "alerting.sms.gateway is none")
            return self.channels.sms, replace(message, to=person.phone), None
        if first.channel == IM:
            robot = self.channels.im.get(first.recipient)
            if robot is None:
                why = self.channels.missing.get(f"im:{first.recipient}", "not in alerting.owners.im_groups")
                return None, None, f"IM group {first.recipient}: {why}"
            mentions = tuple(
                self.owners.people[p].phone for p in first.payload.get("mentions", []) if p in self.owners.people
            )
            return robot, replace(message, mentions=mentions), None
        return None, None, f"unknown channel {first.channel!r}"


#: Rows coalesced into one message carry at most this many bytes of titles (under every robot's text limit).
COALESCE_BYTES = 1500


def units(items: Sequence[OutboxItem]) -> list[list[OutboxItem]]:
    """Rows sent as one message: each SMS alone; a recipient's digest rows, and an IM group's rows, together
    (as many as fit in :data:`COALESCE_BYTES` of titles)."""
    found: list[list[OutboxItem]] = []
    together: dict[tuple[str, str], list[list[OutboxItem]]] = {}
    for item in items:
        if item.channel == SMS:
            found.append([item])
            continue
        chunks = together.setdefault((item.channel, item.recipient), [[]])
        size = sum(len(str(u.payload.get("title", "")).encode()) + 1 for u in chunks[-1])
        if chunks[-1] and size + len(str(item.payload.get("title", "")).encode()) > COALESCE_BYTES:
            chunks.append([])
        chunks[-1].append(item)
    return found + [chunk for chunks in together.values() for chunk in chunks]


def merged(unit: Sequence[OutboxItem]) -> Message:
    """The message of a unit: the row's own, or for several a count and one line (the title) per row."""
    first = unit[0]
    payload = first.payload
    if len(unit) == 1:
        return Message(
            key=first.key,
            title=str(payload.get("title", "")),
            text=str(payload.get("text", "")),
            link=payload.get("link"),
            severity=str(payload.get("severity", "warning")),
        )
    lines = [str(u.payload.get("title", "")) for u in unit]
    ranks = {"critical": 0, "major": 1, "warning": 2, "info": 3}
    severity = min((str(u.payload.get("severity", "warning")) for u in unit), key=lambda s: ranks.get(s, 9))
    links = [u.payload["link"] for u in unit if u.payload.get("link")]
    return Message(
        key=first.key,
        title=f"{len(unit)} 条告警 / {len(unit)} alerts",
        text="\n".join(lines),
        link=links[0] if links else None,
        severity=severity,
    )

"""What every notifier implements: send one rendered message, say what became of it.

A notifier knows one vendor's wire contract (URL, payload, signature, byte
limits, error answers) and nothing about alerts, routing or retries: the
delivery stage renders the :class:`Message`, calls :meth:`Notifier.send`,
records the :class:`DeliveryResult` in the ledger and retries what is
``RETRY``. A notifier never raises for a vendor's answer or a network error;
it maps them to a result.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Outcome(enum.Enum):
    """What became of one send."""

    #: The vendor accepted the message (for SMS: queued at the gateway; the receipt comes later).
    SENT = "sent"
    #: A temporary failure (rate limited, 5xx, timeout, connection refused): try again later.
    RETRY = "retry"
    #: The vendor refused the message for good (bad key, bad signature, bad number): do not retry.
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered notification for one recipient on one channel."""

    #: Unique per (alert transition, recipient, channel): the ledger's idempotency key.
    key: str
    #: Short subject (IM title, first line); already in the recipient's language.
    title: str
    #: The full text; a notifier truncates it on a UTF-8 boundary to its vendor's byte limit, keeping ``link``.
    text: str
    #: Where the full alert (and the ack buttons) is; appended after any truncation.
    link: str | None = None
    #: SMS: the phone number (E.164 digits, e.g. "8613800000001"). IM: unused (the robot is the recipient).
    to: str | None = None
    #: IM: phone numbers to @-mention in the group.
    mentions: tuple[str, ...] = field(default_factory=tuple)
    #: warning, major or critical.
    severity: str = "warning"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """A send's outcome, the vendor's words for it, and when to try again."""

    outcome: Outcome
    #: The vendor's answer in short (status, errcode, errmsg), for the ledger and people; never a secret.
    detail: str
    #: RETRY: the earliest the vendor wants another try (Retry-After, a rate limit's window), seconds.
    retry_after_s: float | None = None
    #: The vendor's id of the message where it gives one (Kannel's, for delivery receipts).
    vendor_id: str | None = None


class Notifier(Protocol):
    """One configured destination (a gateway account, a robot)."""

    #: Channel kind: sms_kannel, sms_http, wecom, dingtalk, feishu, slack.
    kind: str
    #: The configured name of this destination (e.g. the robot's name), for the ledger.
    name: str

    async def send(self, message: Message) -> DeliveryResult:
        """Send one message; map every answer or failure to a :class:`DeliveryResult`."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def truncate_utf8(text: str, limit: int, suffix: str = "") -> str:
    """``text`` cut on a character boundary so that ``text + suffix`` is at most ``limit`` UTF-8 bytes.

    >>> truncate_utf8("告警：短信通道中断", 12)
    '告警：短'
    >>> truncate_utf8("abcdef", 5, "…")
    'ab…'
    """
    room = limit - len(suffix.encode())
    if room < 0:
        raise ValueError(f"the suffix alone is longer than {limit} bytes")
    data = text.encode()
    if len(data) + len(suffix.encode()) <= limit:
        return text + suffix
    return data[:room].decode("utf-8", errors="ignore") + suffix

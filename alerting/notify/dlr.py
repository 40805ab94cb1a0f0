"""Kannel delivery reports: the ``dlr-url`` we hand Kannel, and the callback it makes from it.

Kannel fills escape codes into the URL (``%d`` status, ``%T`` time, ``%I`` its
message id, ``%p`` the phone, ``%A`` the SMSC's answer, ``%F`` the SMSC's id)
and fetches it; our idempotency key rides along as a plain parameter. Kannel
replaces *any* ``%`` followed by one of its letters (``%A``, ``%d``, ...), so a
key that would need percent-encoding travels base64url-encoded as ``key64``.

The callback is authenticated by ``sig``: base64url of HMAC-SHA256(secret,
``b"dlr|" + key``) cut to 16 bytes (no ``%``, so Kannel leaves it alone); the
receiving endpoint checks it in constant time (:func:`verify_signature`).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

#: A key made of these characters goes as is; any other key as ``key64``.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9._~:-]+")
#: Our parameter -> Kannel's escape code.
ESCAPES = {"status": "%d", "ts": "%T", "id": "%I", "to": "%p", "answer": "%A", "fid": "%F"}
#: Bytes of the HMAC kept in ``sig`` (128 bits).
_SIG_BYTES = 16


class DlrStatus(enum.IntEnum):
    """Kannel's delivery-report types (``%d``; the bits of ``dlr-mask``)."""

    DELIVERED = 1
    FAILED = 2
    BUFFERED = 4
    SMSC_ACK = 8
    SMSC_REJECT = 16

    @property
    def meaning(self) -> str:
        """In words, for the ledger."""
        return _MEANINGS[self]

    @property
    def final(self) -> bool:
        """No further report follows: delivered, failed or rejected."""
        return self in (DlrStatus.DELIVERED, DlrStatus.FAILED, DlrStatus.SMSC_REJECT)


_MEANINGS = {
    DlrStatus.DELIVERED: "delivered to the phone",
    DlrStatus.FAILED: "not delivered to the phone",
    DlrStatus.BUFFERED: "queued at the SMSC",
    DlrStatus.SMSC_ACK: "accepted by the SMSC",
    DlrStatus.SMSC_REJECT: "rejected by the SMSC",
}


class DlrError(ValueError):
    """A delivery-report callback that cannot be understood."""


class ForgedReport(DlrError):
    """A delivery-report callback whose ``sig`` is missing or does not match its key."""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """One delivery report for the message sent under ``key``."""

    key: str
    status: DlrStatus
    #: Kannel's message id (``%I``); it differs between the reports of one message.
    kannel_id: str | None = None
    to: str | None = None
    at: datetime | None = None
    #: The SMSC's own words (an SMPP receipt text, or ``ACK/`` for status 8); may be empty.
    answer: str = ""
    #: The SMSC's message id (``%F``).
    smsc_message_id: str | None = None


def signature(secret: bytes, key: str) -> str:
    """The ``sig`` of a receipt for ``key``: base64url (unpadded) of HMAC-SHA256(secret, b"dlr|" + key), 16 bytes.

    >>> signature(b"s" * 32, "a1:sms")
    'E0tl4jvXpbFvRNOigsaYqg'
    """
    mac = hmac.new(secret, b"dlr|" + key.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def verify_signature(secret: bytes, key: str, sig: str | None) -> bool:
    """Whether ``sig`` is the receipt signature of ``key`` (compared in constant time; None or empty: no)."""
    if not sig:
        return False
    return hmac.compare_digest(sig.encode(), signature(secret, key).encode())


def dlr_url(base: str, key: str, secret: bytes | None = None) -> str:
    """The ``dlr-url`` for one message: ``base`` plus our key (signed with ``secret``) and Kannel's escape codes.

    >>> dlr_url("http://tw/api/sms/dlr", "a1:sms")
    'http://tw/api/sms/dlr?key=a1:sms&status=%d&ts=%T&id=%I&to=%p&answer=%A&fid=%F'
    >>> dlr_url("http://tw/dlr?site=7", "告警")[:40]
    'http://tw/dlr?site=7&key64=5ZGK6K2m&stat'
    >>> dlr_url("http://tw/dlr", "a1:sms", b"s" * 32)[:48]
    'http://tw/dlr?key=a1:sms&sig=E0tl4jvXpbFvRNOigsa'
    """
    if "%" in base:
        raise ValueError("the DLR callback URL must not contain '%': Kannel would read it as an escape code")
    if not key:
        raise ValueError("an empty idempotency key")
    if _PLAIN_KEY.fullmatch(key):
        first = f"key={key}"
    else:
        first = f"key64={base64.urlsafe_b64encode(key.encode()).decode().rstrip('=')}"
    if secret is not None:
        first += f"&sig={signature(secret, key)}"
    rest = "&".join(f"{name}={code}" for name, code in ESCAPES.items())
    return f"{base}{'&' if '?' in base else '?'}{first}&{rest}"


def parse_dlr(query: Mapping[str, str] | str) -> DeliveryReport:
    """The report in a callback's query (a mapping such as aiohttp's ``request.query``, or the raw string).

    >>> parse_dlr("key=a1:sms&status=1&ts=1700000000&id=&to=8613800000001&answer=&fid=").status.meaning
    'delivered to the phone'
    """
    if isinstance(query, str):
        query = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    return DeliveryReport(
        key=_key(query),
        status=_status(query.get("status")),
        kannel_id=query.get("id") or None,
        to=query.get("to") or None,
        at=_time(query.get("ts")),
        answer=query.get("answer", ""),
        smsc_message_id=query.get("fid") or None,
    )


def parse_signed_dlr(query: Mapping[str, str] | str, secret: bytes) -> DeliveryReport:
    """:func:`parse_dlr` after checking the key's ``sig`` (:class:`ForgedReport` when missing or wrong).

    >>> secret = b"s" * 32
    >>> query = f"key=a1:sms&sig={signature(secret, 'a1:sms')}&status=1"
    >>> parse_signed_dlr(query, secret).key
    'a1:sms'
    >>> parse_signed_dlr(query.replace("a1:sms", "a2:sms"), secret)
    Traceback (most recent call last):
    ...
    alerting.notify.dlr.ForgedReport: delivery report for key 'a2:sms' with a wrong 'sig': not from telewatch's dlr-url
    """
    if isinstance(query, str):
        query = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    try:
        key = _key(query)
    except DlrError as error:
        raise ForgedReport(f"{error}: it cannot be authenticated") from None
    sig = query.get("sig")
    if not sig:
        raise ForgedReport(f"delivery report for key {key[:80]!r} without 'sig': not from telewatch's dlr-url")
    if not verify_signature(secret, key, sig):
        raise ForgedReport(f"delivery report for key {key[:80]!r} with a wrong 'sig': not from telewatch's dlr-url")
    return parse_dlr(query)


def _key(query: Mapping[str, str]) -> str:
    if query.get("key"):
        return query["key"]
    encoded = query.get("key64")
    if not encoded:
        raise DlrError("delivery report without 'key' or 'key64'")
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise DlrError(f"delivery report with a garbled key64 {encoded[:40]!r}") from error


def _status(raw: str | None) -> DlrStatus:
    if not raw:
        raise DlrError("delivery report without 'status'")
    if raw.startswith("%"):
        raise DlrError(f"delivery report status {raw!r} was not filled in by Kannel")
    try:
        return DlrStatus(int(raw))
    except ValueError as error:
        known = ", ".join(f"{s.value} {s.meaning}" for s in DlrStatus)
        raise DlrError(f"delivery report status {raw[:20]!r} is none of Kannel's ({known})") from error


def _time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (ValueError, OverflowError, OSError) as error:
        raise DlrError(f"delivery report time {raw[:20]!r} is not Unix seconds") from error

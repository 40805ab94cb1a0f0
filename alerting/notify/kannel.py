"""SMS through a Kannel gateway's sendsms HTTP interface (``GET /cgi-bin/sendsms``).

Kannel answers 202 ("0: Accepted for delivery", "3: Queued for later delivery")
when it took the message, 4xx when it refuses it (403 bad login, 400 no sender
or receiver) and 503 when it cannot take it now. Text outside the GSM 7-bit
alphabet goes as UCS-2 (``coding=2``); a long text is split by Kannel, as one
concatenated SMS when the sendsms-user has ``concatenation = true``, so the text
is cut to ``max_parts`` SMS here (Kannel would cut it at its ``max-messages``).
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from yarl import URL

from alerting.notify.base import DeliveryResult, Message, Outcome
from alerting.notify.dlr import dlr_url
from alerting.notify.http_client import HttpClient

#: GSM 03.38 default alphabet; anything else makes the SMS UCS-2.
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The GSM extension table: two septets each.
GSM7_EXTENDED = frozenset("\f^{}\\[~]|€")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def is_gsm7(text: str) -> bool:
    """Whether ``text`` fits the GSM 7-bit alphabet (with its extension table)."""
    return all(c in GSM7 or c in GSM7_EXTENDED for c in text)


def _cost(char: str, gsm: bool) -> int:
    if gsm:
        return 2 if char in GSM7_EXTENDED else 1
    return 2 if ord(char) > 0xFFFF else 1  # UTF-16 code units


def sms_parts(text: str) -> int:
    """How many SMS ``text`` takes as a concatenated message.

    >>> sms_parts("x" * 160), sms_parts("x" * 161), sms_parts("告" * 70), sms_parts("告" * 71)
    (1, 2, 1, 2)
    """
    gsm = is_gsm7(text)
    units = sum(_cost(c, gsm) for c in text)
    single, part = (160, 153) if gsm else (70, 67)
    return 1 if units <= single else -(-units // part)


def compose_sms(message: Message, max_parts: int) -> str:
    """Title, text and link on their own lines, the text cut so that all fits ``max_parts`` SMS.

    >>> sms = compose_sms(Message("k", "告警", "基站离线" * 100, link="http://tw/a/1"), 1)
    >>> len(sms), sms[-17:]
    (70, '离线…\\nhttp://tw/a/1')
    """
    link = f"\n{message.link}" if message.link else ""
    body = "\n".join(p for p in (message.title, message.text) if p)
    whole = body + link
    if sms_parts(whole) <= max_parts:
        return whole
    gsm = is_gsm7(whole)
    ellipsis = "..." if gsm else "…"
    budget = max_parts * (153 if gsm else 67) if max_parts > 1 else (160 if gsm else 70)
    budget -= sum(_cost(c, gsm) for c in ellipsis + link)
    kept: list[str] = []
    for char in body:
        budget -= _cost(char, gsm)
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept) + ellipsis + link


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds from now; None if absent or unreadable.

    >>> retry_after_s("30"), retry_after_s("soon"), retry_after_s(None)
    (30.0, None, None)
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return _http_date_s(value)
    return max(seconds, 0.0)


def _http_date_s(value: str) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def http_result(status: int, body: str, retry_after: float | None, vendor_id: str | None = None) -> DeliveryResult:
    """2xx SENT, 429 and 5xx RETRY (after ``retry_after``), any other status PERMANENT; ``body`` must hold no secret."""
    detail = f"HTTP {status}: {body[:200]}"
    if 200 <= status < 300:
        return DeliveryResult(Outcome.SENT, detail, vendor_id=vendor_id)
    if status == 429 or status >= 500:
        return DeliveryResult(Outcome.RETRY, detail, retry_after_s=retry_after)
    return DeliveryResult(Outcome.PERMANENT, detail)


class KannelNotifier(HttpClient):
    """One sendsms-user account of one Kannel gateway."""

    kind = "sms_kannel"

    def __init__(
        self,
        name: str,
        url: str,
        username: str,
        password: str,
        *,
        sender: str = "telewatch",
        dlr_base_url: str | None = None,
        dlr_mask: int = 31,
        max_parts: int = 10,
        timeout_s: float = 10.0,
        receipt_secret: bytes | None = None,
    ) -> None:
        """``receipt_secret``: sign each dlr-url's key (``sig``) so that the receipt endpoint can refuse forgeries."""
        if dlr_base_url is not None:
            dlr_url(dlr_base_url, "check")  # refuse a base Kannel would garble now, not at the first send
        self.name = name
        self.url = url
        self.username = username
        self._password = password
        self.sender = sender
        self.dlr_base_url = dlr_base_url
        self.dlr_mask = dlr_mask
        self.max_parts = max_parts
        self._receipt_secret = receipt_secret
        HttpClient.__init__(self, timeout_s)

    def _query(self, message: Message) -> dict[str, str]:
        """The sendsms parameters for ``message``; they hold the password, so they are never shown."""
        text = compose_sms(message, self.max_parts)
        query = {
            "username": self.username,
            "password": self._password,
            "to": message.to or "",
            "text": text,
            "charset": "UTF-8",
            "coding": "0" if is_gsm7(text) else "2",
        }
        if self.sender:
            query["from"] = self.sender
        if self.dlr_base_url is not None:
            query["dlr-mask"] = str(self.dlr_mask)
            query["dlr-url"] = dlr_url(self.dlr_base_url, message.key, self._receipt_secret)
        return query

    async def send(self, message: Message) -> DeliveryResult:
        if not message.to:
            return DeliveryResult(Outcome.PERMANENT, "no phone number to send the SMS to")
        url = URL(f"{self.url}?{urllib.parse.urlencode(self._query(message))}", encoded=True)
        try:
            async with self._client().get(url, allow_redirects=False) as answer:
                status, body = answer.status, (await answer.text(errors="replace")).strip()
                wait = retry_after_s(answer.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            reason = self._redact(str(error)) or "timed out"
            return DeliveryResult(Outcome.RETRY, f"Kannel unreachable: {type(error).__name__}: {reason}")
        found = _UUID.search(body)
        return http_result(status, self._redact(body), wait, found.group(0) if found else None)

    def _redact(self, text: str) -> str:
        for secret in {self._password, urllib.parse.quote_plus(self._password), urllib.parse.quote(self._password)}:
            if secret:
                text = text.replace(secret, "***")
        return text

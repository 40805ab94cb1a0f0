"""What the IM-group robot notifiers (WeCom, DingTalk, Feishu, Slack) share.

* :func:`post_json`: one JSON POST; a timeout or network error is a ``RETRY`` result, never an exception.
* :class:`RobotLimiter`: the vendor's rate limits for one robot on :class:`aiolimiter.AsyncLimiter`
  buckets; a send waits for room instead of exceeding them, and after the vendor said "too fast"
  further sends are answered ``RETRY`` locally until its back-off is over.
* :func:`fit_text` and friends: the message as text cut to a byte limit, the link and mentions kept.
* :class:`RobotNotifier`: the send skeleton; a vendor module says only how to build the request and
  how to read the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
from aiolimiter import AsyncLimiter
from yarl import URL

from alerting.notify.base import DeliveryResult, Message, Outcome, truncate_utf8

log = logging.getLogger(__name__)

#: What replaces a secret in details and logs.
REDACTED = "***"
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Rule:
    """A vendor rate limit: at most ``count`` messages in any ``window_s`` seconds."""

    count: int
    window_s: float


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A vendor's HTTP answer: status, headers, body text and the body as JSON when it is JSON."""

    status: int
    headers: dict[str, str]
    text: str
    json: Any


def encode_json(payload: dict[str, Any]) -> bytes:
    """The request body: compact UTF-8 JSON (no ``\\u`` escapes, so byte limits count real bytes).

    >>> encode_json({"text": {"content": "告警"}})
    b'{"text":{"content":"\\xe5\\x91\\x8a\\xe8\\xad\\xa6"}}'
    """
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def post_json(
    session: aiohttp.ClientSession, url: URL, payload: dict[str, Any], limits: aiohttp.ClientTimeout
) -> HttpAnswer | DeliveryResult:
    """POST ``payload`` to ``url``; a timeout or connection error is a ``RETRY`` result, never an exception."""
    try:
        async with session.post(
            url,
            data=encode_json(payload),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=limits,
            allow_redirects=False,
        ) as answer:
            text = await answer.text(errors="replace")
            status, headers = answer.status, dict(answer.headers)
    except TimeoutError:
        return DeliveryResult(Outcome.RETRY, "timed out")
    except (aiohttp.ClientError, OSError) as error:
        return DeliveryResult(Outcome.RETRY, f"unreachable: {type(error).__name__}: {error}")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = None
    return HttpAnswer(status, headers, text, parsed)


def retry_after_header(value: str | None, default: float) -> float:
    """A ``Retry-After`` header in seconds (the delta-seconds form); ``default`` when absent or unreadable.

    >>> retry_after_header("2", 1.0), retry_after_header(None, 1.0), retry_after_header("Wed, 21 Oct", 1.0)
    (2.0, 1.0, 1.0)
    """
    try:
        seconds = float((value or "").strip())
    except ValueError:
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default


def errcode_result(answer: HttpAnswer, code_key: str, msg_key: str, retry: dict[int, float | None]) -> DeliveryResult:
    """A JSON ``{code, msg}`` answer (WeCom, DingTalk, Feishu): 0 sent; a code in ``retry`` RETRY after its
    seconds; any other code PERMANENT; HTTP 429 or 5xx RETRY; no code in a 2xx RETRY, in a 4xx PERMANENT.
    """
    body = answer.json if isinstance(answer.json, dict) else {}
    code, msg = body.get(code_key), body.get(msg_key, "")
    if answer.status >= 500 or answer.status == 429:
        wait = retry_after_header(answer.headers.get("Retry-After"), 0.0) or None
        return DeliveryResult(Outcome.RETRY, f"HTTP {answer.status}: {answer.text[:200]}", retry_after_s=wait)
    if not isinstance(code, int):
        outcome = Outcome.PERMANENT if 400 <= answer.status < 500 else Outcome.RETRY
        return DeliveryResult(outcome, f"HTTP {answer.status}, unexpected answer: {answer.text[:200]}")
    detail = f"HTTP {answer.status} {code_key} {code}: {str(msg)[:200]}"
    if code == 0:
        return DeliveryResult(Outcome.SENT, detail)
    if code in retry:
        return DeliveryResult(Outcome.RETRY, detail, retry_after_s=retry[code])
    return DeliveryResult(Outcome.PERMANENT, detail)


def _bucket(rule: Rule, pad: float) -> AsyncLimiter:
    """A leaky bucket that lets through at most ``rule.count`` in any window: a burst of about a quarter
    of the count, then the rest spread over the (padded) window."""
    window = rule.window_s * (1 + pad)
    burst = max(1, rule.count // 4)
    spread = rule.count - burst
    if spread <= 0:
        return AsyncLimiter(1, window)
    return AsyncLimiter(burst, burst * window / spread)


class RobotLimiter:
    """One robot's rate limits: :meth:`wait` returns when a message may go without exceeding any of them.

    ``pad`` widens each window a little, so that network jitter does not make the vendor count one
    message too many.
    """

    def __init__(self, rules: Iterable[Rule], pad: float = 0.05) -> None:
        self._buckets = [_bucket(rule, pad) for rule in rules]
        self._lock = asyncio.Lock()
        self._blocked_until = 0.0

    async def wait(self) -> None:
        """Wait until every bucket has room, then take one place in each."""
        async with self._lock:
            while True:
                full = [b for b in self._buckets if not b.has_capacity()]
                if not full:
                    break
                await asyncio.sleep(min(b.time_period / b.max_rate for b in full) / 4)
            for bucket in self._buckets:
                await bucket.acquire()  # there is room: returns at once

    def back_off(self, seconds: float) -> None:
        """The vendor said "too fast": refuse locally for ``seconds``."""
        now = asyncio.get_running_loop().time()
        self._blocked_until = max(self._blocked_until, now + seconds)

    def blocked_for(self) -> float:
        """Seconds left of a back-off (0 when none)."""
        return max(0.0, self._blocked_until - asyncio.get_running_loop().time())


def message_body(message: Message) -> str:
    """Title and text on their own lines."""
    return "\n".join(part for part in (message.title, message.text) if part)


def fit_text(body: str, limit: int, tail: str = "") -> str:
    """``body + tail`` in at most ``limit`` UTF-8 bytes: the body is cut (with "…") and the tail always kept.

    >>> fit_text("告警：基站离线", 16, "\\nhttp://x")
    '告…\\nhttp://x'
    >>> fit_text("ok", 16, "\\nhttp://x")
    'ok\\nhttp://x'
    """
    if len((body + tail).encode()) <= limit:
        return body + tail
    return truncate_utf8(body, limit, ELLIPSIS + tail)


def link_tail(message: Message, mentions: Sequence[str] = ()) -> str:
    """The kept end of a text: the link, then the mentions, each on its own line."""
    lines = [message.link] if message.link else []
    if mentions:
        lines.append(" ".join(mentions))
    return "".join(f"\n{line}" for line in lines)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``.

    >>> redact("bad key k3y-123 in /hook/k3y-123", ["k3y-123"])
    'bad key *** in /hook/***'
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class RobotNotifier:
    """The send skeleton of an IM-group robot: limit, request, read the answer, redact, log.

    A subclass sets ``kind``, fills ``_secrets`` and implements :meth:`_request` and :meth:`_interpret`.
    """

    kind: str = "im_robot"

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        secrets: Iterable[str],
        rules: Iterable[Rule],
        session: aiohttp.ClientSession | None,
        timeout_s: float,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._secrets = tuple(s for s in secrets if s)
        self._limiter = RobotLimiter(rules)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._owns_session = session is None

    def _request(self, message: Message) -> tuple[URL, dict[str, Any]]:
        """The URL and JSON payload for ``message``."""
        raise NotImplementedError

    def _interpret(self, answer: HttpAnswer) -> DeliveryResult:
        """The vendor's answer as a result."""
        raise NotImplementedError

    async def send(self, message: Message) -> DeliveryResult:
        """Send ``message`` once, waiting for the robot's rate limits; never raises for an answer or failure."""
        waiting = self._limiter.blocked_for()
        if waiting > 0:
            result = DeliveryResult(Outcome.RETRY, "backing off after the vendor's rate limit", retry_after_s=waiting)
        else:
            result = await self._send(message)
            if result.outcome is Outcome.RETRY and result.retry_after_s:
                self._limiter.back_off(result.retry_after_s)
        result = DeliveryResult(result.outcome, self._redact(result.detail), result.retry_after_s, result.vendor_id)
        log.info("%s %s %s: %s: %s", self.kind, self.name, message.key, result.outcome.value, result.detail)
        return result

    async def _send(self, message: Message) -> DeliveryResult:
        try:
            url, payload = self._request(message)
        except ValueError as error:
            return DeliveryResult(Outcome.PERMANENT, f"cannot build the request: {error}")
        await self._limiter.wait()
        answer = await post_json(self._client(), url, payload, self._timeout)
        return answer if isinstance(answer, DeliveryResult) else self._interpret(answer)

    async def close(self) -> None:
        """Close the HTTP session if this notifier opened it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        return self._session

    def _redact(self, text: str) -> str:
        return redact(text, [v for s in self._secrets for v in (s, quote(s, safe=""), quote_plus(s))])

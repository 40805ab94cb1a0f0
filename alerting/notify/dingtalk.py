"""DingTalk (钉钉) custom robot: ``POST /robot/send?access_token=T&timestamp=MS&sign=S`` with a JSON message.

With a signing secret, ``S`` is the URL-encoded base64 of HMAC-SHA256(key=secret, msg="MS\\nsecret"),
``MS`` the time in milliseconds (DingTalk refuses one more than an hour off). ``text`` or ``markdown``
(title + text) with ``at.atMobiles``; the mentioned numbers are also written as ``@number`` in the text,
as DingTalk wants. At most 20000 bytes of text, 20 messages a minute per robot (more throttles the robot
for minutes). Answers ``{"errcode": 0, "errmsg": "ok"}``; 130101 (too fast) and -1 (busy) are worth a
retry; 310000 (signature, timestamp, keyword or IP check failed), 300005 (no such token), ... are not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
from yarl import URL

from alerting.notify.base import DeliveryResult, Message
from alerting.notify.im_robot import HttpAnswer, RobotNotifier, Rule, errcode_result, fit_text, link_tail, message_body

DINGTALK_URL = "https://oapi.dingtalk.com"
TEXT_LIMIT = 20000
RATE_LIMITS = (Rule(20, 60.0),)
#: errcode -> seconds to back off (None: retry at the delivery stage's pace).
RETRY_CODES: dict[int, float | None] = {130101: 60.0, -1: None}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The base64 signature (before URL encoding) of ``timestamp_ms``.

    >>> dingtalk_sign("SEC123", 1700000000000)
    'lkcPI1uoxBY1gUnCnnPH1Kkru0Hqjo7rFpA3haIVhEQ='
    """
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkNotifier(RobotNotifier):
    """One DingTalk custom robot: its access token and, in signing mode, its secret."""

    kind = "dingtalk"

    def __init__(
        self,
        name: str,
        access_token: str,
        secret: str | None = None,
        *,
        base_url: str = DINGTALK_URL,
        markdown: bool = False,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        rules: Iterable[Rule] = RATE_LIMITS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            name, base_url, secrets=[access_token, secret or ""], rules=rules, session=session, timeout_s=timeout_s
        )
        self._token = access_token
        self._secret = secret
        self.markdown = markdown
        self._clock = clock

    def _request(self, message: Message) -> tuple[URL, dict[str, Any]]:
        query = f"access_token={quote(self._token, safe='')}"
        if self._secret:
            stamp = int(self._clock() * 1000)
            query += f"&timestamp={stamp}&sign={quote_plus(dingtalk_sign(self._secret, stamp))}"
        url = URL(f"{self.base_url}/robot/send?{query}", encoded=True)
        at = {"atMobiles": list(message.mentions), "isAtAll": False}
        mentions = [f"@{m}" for m in message.mentions]
        if self.markdown:
            body = f"#### {message.title}\n\n{message.text}" if message.title else message.text
            tail = (f"\n\n[{message.link}]({message.link})" if message.link else "") + (
                "\n\n" + " ".join(mentions) if mentions else ""
            )
            markdown = {"title": message.title or message.text[:20], "text": fit_text(body, TEXT_LIMIT, tail)}
            return url, {"msgtype": "markdown", "markdown": markdown, "at": at}
        content = fit_text(message_body(message), TEXT_LIMIT, link_tail(message, mentions))
        return url, {"msgtype": "text", "text": {"content": content}, "at": at}

    def _interpret(self, answer: HttpAnswer) -> DeliveryResult:
        return errcode_result(answer, "errcode", "errmsg", RETRY_CODES)

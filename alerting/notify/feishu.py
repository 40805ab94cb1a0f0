"""Feishu / Lark custom bot: ``POST /open-apis/bot/v2/hook/TOKEN`` with a JSON message.

With a signing secret the body carries ``timestamp`` (seconds, a string) and ``sign``, the base64 of
HMAC-SHA256(key="timestamp\\nsecret", msg=b""); Feishu refuses a timestamp more than an hour off. The
message is ``msg_type: text``; the whole body at most 20 KB. 100 messages a minute and 5 a second per
bot. Answers ``{"code": 0, "msg": "success"}``; 11232 (rate limited) is worth a retry, 19021 (sign
match fail or timestamp off), 19001 (bad token), 9499 (bad request), ... are not.

A custom bot cannot @-mention by phone number: ``mention_ids`` maps a phone to the member's open_id or
user_id (``<at user_id="...">``); a phone without an id is written as a plain ``@number``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from alerting.notify.base import DeliveryResult, Message
from alerting.notify.im_robot import (
    HttpAnswer,
    RobotNotifier,
    Rule,
    encode_json,
    errcode_result,
    fit_text,
    link_tail,
    message_body,
)

FEISHU_URL = "https://open.feishu.cn"
BODY_LIMIT = 20 * 1024
RATE_LIMITS = (Rule(100, 60.0), Rule(5, 1.0))
#: code -> seconds to back off.
RETRY_CODES: dict[int, float | None] = {11232: 60.0}


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """The ``sign`` field for ``timestamp_s``.

    >>> feishu_sign("SEC9", 1700000000)
    'xaO8yHZRkfYVEOtzYTzc1uwbsS9MChbnQa20LGhUIHk='
    """
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_mention(phone: str, mention_ids: Mapping[str, str]) -> str:
    """An ``<at>`` tag for a phone with a known member id, else ``@phone``.

    >>> feishu_mention("8613800000001", {"8613800000001": "ou_1"}), feishu_mention("8613800000002", {})
    ('<at user_id="ou_1"></at>', '@8613800000002')
    """
    member = mention_ids.get(phone)
    return f'<at user_id="{member}"></at>' if member else f"@{phone}"


class FeishuNotifier(RobotNotifier):
    """One Feishu custom bot: its hook token and, in signing mode, its secret."""

    kind = "feishu"

    def __init__(
        self,
        name: str,
        token: str,
        secret: str | None = None,
        *,
        base_url: str = FEISHU_URL,
        mention_ids: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        rules: Iterable[Rule] = RATE_LIMITS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            name, base_url, secrets=[token, secret or ""], rules=rules, session=session, timeout_s=timeout_s
        )
        self._token = token
        self._secret = secret
        self.mention_ids = dict(mention_ids or {})
        self._clock = clock

    def _request(self, message: Message) -> tuple[URL, dict[str, Any]]:
        url = URL(self.base_url) / "open-apis/bot/v2/hook" / self._token
        payload: dict[str, Any] = {}
        if self._secret:
            stamp = int(self._clock())
            payload |= {"timestamp": str(stamp), "sign": feishu_sign(self._secret, stamp)}
        body = message_body(message)
        tail = link_tail(message, [feishu_mention(m, self.mention_ids) for m in message.mentions])
        budget = BODY_LIMIT - len(encode_json(payload | {"msg_type": "text", "content": {"text": ""}}))
        while True:  # JSON escapes (quotes, newlines) make the body longer than the text: shrink until it fits
            payload |= {"msg_type": "text", "content": {"text": fit_text(body, budget, tail) if budget > 0 else tail}}
            over = len(encode_json(payload)) - BODY_LIMIT
            if over <= 0:
                return url, payload
            if budget <= 0:
                raise ValueError("the link and mentions alone exceed Feishu's 20 KB")
            budget -= over

    def _interpret(self, answer: HttpAnswer) -> DeliveryResult:
        return errcode_result(answer, "code", "msg", RETRY_CODES)

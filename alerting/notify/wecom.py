"""WeCom (企业微信) group robot: ``POST /cgi-bin/webhook/send?key=KEY`` with a JSON message.

``text`` (at most 2048 UTF-8 bytes, ``mentioned_mobile_list`` for @-mentions) or, when asked for and
there is nobody to mention, ``markdown`` (at most 4096 bytes; it cannot mention by phone). 20 messages
a minute per robot. Answers ``{"errcode": 0, "errmsg": "ok"}``; 45009 (too frequent) and -1 (system
busy) are worth a retry, anything else (93000 invalid webhook key, ...) is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp
from yarl import URL

from alerting.notify.base import DeliveryResult, Message
from alerting.notify.im_robot import HttpAnswer, RobotNotifier, Rule, errcode_result, fit_text, link_tail, message_body

WECOM_URL = "https://qyapi.weixin.qq.com"
TEXT_LIMIT = 2048
MARKDOWN_LIMIT = 4096
RATE_LIMITS = (Rule(20, 60.0),)
#: errcode -> seconds to back off (None: retry at the delivery stage's pace).
RETRY_CODES: dict[int, float | None] = {45009: 60.0, -1: None}


class WeComNotifier(RobotNotifier):
    """One WeCom group robot, identified by its webhook key."""

    kind = "wecom"

    def __init__(
        self,
        name: str,
        key: str,
        *,
        base_url: str = WECOM_URL,
        markdown: bool = False,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        rules: Iterable[Rule] = RATE_LIMITS,
    ) -> None:
        super().__init__(name, base_url, secrets=[key], rules=rules, session=session, timeout_s=timeout_s)
        self._key = key
        self.markdown = markdown

    def _request(self, message: Message) -> tuple[URL, dict[str, Any]]:
        url = URL(f"{self.base_url}/cgi-bin/webhook/send").with_query(key=self._key)
        if self.markdown and not message.mentions:
            body = f"**{message.title}**\n{message.text}" if message.title else message.text
            tail = f"\n[{message.link}]({message.link})" if message.link else ""
            return url, {"msgtype": "markdown", "markdown": {"content": fit_text(body, MARKDOWN_LIMIT, tail)}}
        text: dict[str, Any] = {"content": fit_text(message_body(message), TEXT_LIMIT, link_tail(message))}
        if message.mentions:
            text["mentioned_mobile_list"] = list(message.mentions)
        return url, {"msgtype": "text", "text": text}

    def _interpret(self, answer: HttpAnswer) -> DeliveryResult:
        return errcode_result(answer, "errcode", "errmsg", RETRY_CODES)

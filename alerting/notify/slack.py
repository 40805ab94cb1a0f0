"""Slack(-compatible) incoming webhook: ``POST /services/T…/B…/X…`` with ``{"text": ...}``.

The webhook path is the secret. The text is mrkdwn (``&``, ``<``, ``>`` escaped), at most 40000
characters (cut here at 40000 UTF-8 bytes). About one message a second per webhook. Slack answers
200 ``ok``; 429 with ``Retry-After``; 400 (invalid_payload, no_text), 403 (invalid_token,
action_prohibited), 404 (no_service, channel_not_found), 410 (channel_is_archived) are final; 5xx
are worth a retry.

Slack mentions members by id: ``mention_ids`` maps a phone to a member id (``<@U…>``); a phone
without an id is written as a plain ``@number``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from alerting.notify.base import DeliveryResult, Message, Outcome
from alerting.notify.im_robot import HttpAnswer, RobotNotifier, Rule, fit_text, retry_after_header

SLACK_URL = "https://hooks.slack.com"
TEXT_LIMIT = 40000
RATE_LIMITS = (Rule(1, 1.0),)
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}…")


def slack_escape(text: str) -> str:
    """Text safe in mrkdwn.

    >>> slack_escape("a<b & c>d")
    'a&lt;b &amp; c&gt;d'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier(RobotNotifier):
    """One incoming webhook, given as its path after ``/services/``."""

    kind = "slack"

    def __init__(
        self,
        name: str,
        webhook_path: str,
        *,
        base_url: str = SLACK_URL,
        mention_ids: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        rules: Iterable[Rule] = RATE_LIMITS,
    ) -> None:
        path = webhook_path.strip("/").removeprefix("services/")
        super().__init__(
            name, base_url, secrets=[path, path.rsplit("/", 1)[-1]], rules=rules, session=session, timeout_s=timeout_s
        )
        self._path = path
        self.mention_ids = dict(mention_ids or {})

    def _request(self, message: Message) -> tuple[URL, dict[str, Any]]:
        url = URL(f"{self.base_url}/services/{self._path}")
        title = f"*{slack_escape(message.title)}*" if message.title else ""
        body = "\n".join(part for part in (title, slack_escape(message.text)) if part)
        lines = [f"<{message.link}>"] if message.link else []
        if message.mentions:
            lines.append(" ".join(self._mention(m) for m in message.mentions))
        text = fit_text(body, TEXT_LIMIT, "".join(f"\n{line}" for line in lines))
        return url, {"text": _PARTIAL_ENTITY.sub("…", text, count=1)}

    def _mention(self, phone: str) -> str:
        member = self.mention_ids.get(phone)
        return f"<@{member}>" if member else f"@{phone}"

    def _interpret(self, answer: HttpAnswer) -> DeliveryResult:
        detail = f"HTTP {answer.status}: {answer.text[:200]}"
        if answer.status == 200:
            sent = answer.text.strip() == "ok"
            return DeliveryResult(
                Outcome.SENT if sent else Outcome.RETRY, detail if sent else f"unexpected answer: {detail}"
            )
        if answer.status == 429:
            return DeliveryResult(
                Outcome.RETRY, detail, retry_after_s=retry_after_header(answer.headers.get("Retry-After"), 1.0)
            )
        if answer.status >= 500:
            return DeliveryResult(Outcome.RETRY, detail)
        return DeliveryResult(Outcome.PERMANENT, detail)

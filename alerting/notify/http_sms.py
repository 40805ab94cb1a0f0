"""SMS through an operator's own HTTP gateway: a configured URL, method, body fields and auth header.

The body is JSON (or the query string for GET) built from ``fields``: each value
is sent as is, and a string value is a template over ``{key}``, ``{to}``,
``{text}``, ``{title}``, ``{link}`` and ``{severity}``. The answer maps as: 2xx
SENT (``id_field`` of a JSON answer is the vendor id), 429 and 5xx RETRY
(honouring ``Retry-After``), any other status PERMANENT.
"""

from __future__ import annotations

import json
import string
import urllib.parse
from collections.abc import Mapping
from typing import Any

import aiohttp

from alerting.notify.base import DeliveryResult, Message, Outcome
from alerting.notify.http_client import HttpClient
from alerting.notify.kannel import compose_sms, http_result, retry_after_s

#: The names a field template may use.
PLACEHOLDERS = frozenset({"key", "to", "text", "title", "link", "severity"})
DEFAULT_FIELDS: Mapping[str, Any] = {"to": "{to}", "text": "{text}", "id": "{key}"}


class HttpSmsNotifier(HttpClient):
    """One account of a generic HTTP SMS gateway."""

    kind = "sms_http"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        method: str = "POST",
        fields: Mapping[str, Any] = DEFAULT_FIELDS,
        auth_header: tuple[str, str] | None = None,
        id_field: str | None = None,
        max_parts: int = 10,
        timeout_s: float = 10.0,
    ) -> None:
        for value in fields.values():
            if isinstance(value, str):
                _check_template(value)
        self.name = name
        self.url = url
        self.method = method.upper()
        self.fields = dict(fields)
        self._auth = auth_header
        self.id_field = id_field
        self.max_parts = max_parts
        HttpClient.__init__(self, timeout_s)

    def body(self, message: Message) -> dict[str, Any]:
        """The fields for ``message``, templates filled in."""
        values = {
            "key": message.key,
            "to": message.to or "",
            "text": compose_sms(message, self.max_parts),
            "title": message.title,
            "link": message.link or "",
            "severity": message.severity,
        }
        return {k: v.format_map(values) if isinstance(v, str) else v for k, v in self.fields.items()}

    async def send(self, message: Message) -> DeliveryResult:
        if not message.to:
            return DeliveryResult(Outcome.PERMANENT, "no phone number to send the SMS to")
        body = self.body(message)
        headers = dict([self._auth]) if self._auth else {}
        request: dict[str, Any]
        if self.method == "GET":
            request = {"params": {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}}
        else:
            request = {"json": body}
        try:
            async with self._client().request(
                self.method, self.url, headers=headers, allow_redirects=False, **request
            ) as answer:
                status, text = answer.status, (await answer.text(errors="replace")).strip()
                wait = retry_after_s(answer.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            reason = self._redact(str(error)) or "timed out"
            return DeliveryResult(Outcome.RETRY, f"gateway unreachable: {type(error).__name__}: {reason}")
        return http_result(status, self._redact(text), wait, self._vendor_id(text) if 200 <= status < 300 else None)

    def _vendor_id(self, text: str) -> str | None:
        if self.id_field is None:
            return None
        try:
            answer = json.loads(text)
        except ValueError:
            return None
        found = answer.get(self.id_field) if isinstance(answer, dict) else None
        return None if found is None else str(found)

    def _redact(self, text: str) -> str:
        if self._auth is None:
            return text
        secret = self._auth[1]
        for form in {secret, *secret.split()[1:], urllib.parse.quote(secret)}:
            if len(form) >= 4:
                text = text.replace(form, "***")
        return text


def _check_template(template: str) -> None:
    """Refuse a template with a placeholder we do not fill (or a broken one) when configured, not when sending."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise ValueError(f"SMS field template {template!r}: {error}") from error
    unknown = names - PLACEHOLDERS
    if unknown:
        raise ValueError(f"SMS field template {template!r} uses {sorted(unknown)}; known: {sorted(PLACEHOLDERS)}")

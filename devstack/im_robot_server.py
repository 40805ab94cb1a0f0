"""A local stand-in for the IM-group robot webhooks of WeCom, DingTalk, Feishu and Slack.

One aiohttp app serves all four vendors' paths for the robots it is configured with, and checks
each request the way the vendor documents it: method, path, query, JSON shape, byte limits, the
DingTalk and Feishu signatures and their one-hour timestamp window, and the per-robot rate limits
(answered with the vendor's error). Every accepted message is recorded in :attr:`received`;
:meth:`ImRobotServer.fail_next` makes the next requests fail with a given answer (503, 429
``Retry-After``, a vendor errcode, a slow answer).

Where a vendor documents no code for a refusal the server uses one of its own near the vendor's:
WeCom 40008 (bad msgtype), 40035 (bad JSON), 40058 (too long); DingTalk 300001 (bad payload),
300005 (no such token), 460101 (too long); Feishu 9499 (bad request, body over 20 KB), 19001
(bad token). Rate limits are counted over a sliding window of accepted messages.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

VENDORS = ("wecom", "dingtalk", "feishu", "slack")
#: Each vendor's documented per-robot limits: (messages, window in seconds).
DEFAULT_LIMITS: dict[str, tuple[tuple[int, float], ...]] = {
    "wecom": ((20, 60.0),),
    "dingtalk": ((20, 60.0),),
    "feishu": ((100, 60.0), (5, 1.0)),
    "slack": ((1, 1.0),),
}
WECOM_TEXT_LIMIT, WECOM_MARKDOWN_LIMIT = 2048, 4096
DINGTALK_TEXT_LIMIT = 20000
FEISHU_BODY_LIMIT = 20 * 1024
SLACK_TEXT_LIMIT = 40000
#: The signature's timestamp may be this far from the server's clock.
SIGN_WINDOW_S = 3600.0
_FEISHU_AT = re.compile(r'<at user_id="([^"]*)">')
_SLACK_AT = re.compile(r"<@([A-Z0-9]+)>")

Json = dict[str, Any]


@dataclass(frozen=True)
class Robot:
    """One configured robot: WeCom key, DingTalk access token, Feishu hook token or Slack path (T/B/X)."""

    vendor: str
    name: str
    token: str
    #: The signing secret (DingTalk, Feishu); None: the robot does not check signatures.
    secret: str | None = None
    #: (messages, window seconds) limits; None: the vendor's.
    limits: tuple[tuple[int, float], ...] | None = None

    def __post_init__(self) -> None:
        if self.vendor not in VENDORS:
            raise ValueError(f"unknown vendor {self.vendor!r}")


@dataclass(frozen=True)
class Received:
    """One accepted message."""

    vendor: str
    robot: str
    payload: Json
    #: The message's main text (text content, markdown text, Slack text).
    text: str
    #: Who was @-mentioned: phones (WeCom, DingTalk) or member ids (Feishu, Slack).
    mentions: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """A canned answer for :meth:`ImRobotServer.fail_next`."""

    status: int = 200
    json: Any = None
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Wait this long before answering (to make a client time out).
    delay_s: float = 0.0

    def response(self) -> web.Response:
        if self.json is not None:
            return web.json_response(self.json, status=self.status, headers=dict(self.headers))
        return web.Response(status=self.status, text=self.text, headers=dict(self.headers))


class Refused(Exception):
    """A request the vendor refuses; ``response`` is the vendor's answer."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


def _errcode(code: int, msg: str) -> Refused:
    return Refused(web.json_response({"errcode": code, "errmsg": msg}))


def _feishu(code: int, msg: str, status: int = 200) -> Refused:
    return Refused(web.json_response({"code": code, "data": {}, "msg": msg}, status=status))


def _slack(status: int, text: str, headers: Mapping[str, str] | None = None) -> Refused:
    return Refused(web.Response(status=status, text=text, headers=dict(headers or {})))


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _utf8_len(text: str) -> int:
    return len(text.encode())


class ImRobotServer:
    """The four vendors' robot webhooks on one aiohttp app (``app``), startable in-process."""

    def __init__(
        self,
        robots: Iterable[Robot],
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.robots = {(r.vendor, r.token): r for r in robots}
        self.clock = clock
        self.monotonic = monotonic
        self.received: list[Received] = []
        #: Every request that reached a vendor path, accepted or not.
        self.requests = 0
        self._failures: deque[Answer] = deque()
        self._sent: dict[tuple[str, str], deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_post("/cgi-bin/webhook/send", self._wecom)
        self.app.router.add_post("/robot/send", self._dingtalk)
        self.app.router.add_post("/open-apis/bot/v2/hook/{token}", self._feishu)
        self.app.router.add_post("/services/{path:.+}", self._slack)

    # -- control ------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port); returns the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        address = self._runner.addresses[0]
        return f"http://{address[0]}:{address[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def fail_next(self, count: int, answer: Answer) -> None:
        """Answer the next ``count`` requests (to any robot) with ``answer`` instead of handling them."""
        self._failures.extend([answer] * count)

    def received_by(self, robot: str) -> list[Received]:
        return [r for r in self.received if r.robot == robot]

    # -- shared -------------------------------------------------------------------
    async def _handle(self, request: web.Request, check: Callable[[web.Request], Any]) -> web.StreamResponse:
        self.requests += 1
        if self._failures:
            answer = self._failures.popleft()
            if answer.delay_s:
                await asyncio.sleep(answer.delay_s)
            return answer.response()
        try:
            response: web.StreamResponse = await check(request)
        except Refused as refused:
            return refused.response
        return response

    async def _json(self, request: web.Request, refuse: Refused) -> Json:
        if request.content_type != "application/json":
            raise refuse
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise refuse from None
        if not isinstance(body, dict):
            raise refuse
        return body

    def _robot(self, vendor: str, token: str | None, refuse: Refused) -> Robot:
        robot = self.robots.get((vendor, token or ""))
        if robot is None:
            raise refuse
        return robot

    def _rate_wait(self, robot: Robot) -> float | None:
        """None if ``robot`` may send one more now, else the seconds until it may."""
        sent = self._sent.setdefault((robot.vendor, robot.token), deque())
        now = self.monotonic()
        limits = robot.limits if robot.limits is not None else DEFAULT_LIMITS[robot.vendor]
        longest = max((w for _, w in limits), default=0.0)
        while sent and sent[0] <= now - longest:
            sent.popleft()
        waits = []
        for count, window in limits:
            recent = [t for t in sent if t > now - window]
            if len(recent) >= count:
                waits.append(recent[-count] + window - now)
        return max(waits) if waits else None

    def _accept(self, robot: Robot, payload: Json, text: str, mentions: Iterable[str]) -> None:
        self._sent.setdefault((robot.vendor, robot.token), deque()).append(self.monotonic())
        self.received.append(Received(robot.vendor, robot.name, payload, text, tuple(mentions)))

    def _in_window(self, stamp_s: float) -> bool:
        return abs(self.clock() - stamp_s) <= SIGN_WINDOW_S

    # -- WeCom --------------------------------------------------------------------
    async def _wecom(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self._wecom_check)

    async def _wecom_check(self, request: web.Request) -> web.Response:
        robot = self._robot("wecom", request.query.get("key"), _errcode(93000, "invalid webhook url"))
        body = await self._json(request, _errcode(40035, "invalid args: body is not a JSON object"))
        msgtype = body.get("msgtype")
        part = body.get(msgtype) if isinstance(msgtype, str) else None
        if msgtype not in ("text", "markdown") or not isinstance(part, dict):
            raise _errcode(40008, "invalid message type")
        content = part.get("content")
        if not isinstance(content, str) or not content:
            raise _errcode(40035, f"invalid args: {msgtype}.content")
        limit = WECOM_TEXT_LIMIT if msgtype == "text" else WECOM_MARKDOWN_LIMIT
        if _utf8_len(content) > limit:
            raise _errcode(40058, f"{msgtype}.content exceed max length {limit}")
        mentions: list[str] = []
        if msgtype == "text":
            for key in ("mentioned_list", "mentioned_mobile_list"):
                if key in part and not _str_list(part[key]):
                    raise _errcode(40035, f"invalid args: text.{key}")
            mentions = part.get("mentioned_mobile_list", [])
        if self._rate_wait(robot) is not None:
            raise _errcode(45009, "api freq out of limit")
        self._accept(robot, body, content, mentions)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # -- DingTalk -----------------------------------------------------------------
    async def _dingtalk(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self._dingtalk_check)

    async def _dingtalk_check(self, request: web.Request) -> web.Response:
        query = parse_qs(request.rel_url.raw_query_string, keep_blank_values=True)
        if any(len(values) != 1 for values in query.values()):
            raise _errcode(300001, "param error: repeated query parameter")
        q = {k: v[0] for k, v in query.items()}
        robot = self._robot("dingtalk", q.get("access_token"), _errcode(300005, "token is not exist"))
        if robot.secret is not None:
            stamp, sign = q.get("timestamp", ""), q.get("sign", "")
            if not stamp.isdigit() or not self._in_window(int(stamp) / 1000):
                raise _errcode(310000, "invalid timestamp")
            digest = hmac.new(robot.secret.encode(), f"{stamp}\n{robot.secret}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(sign.encode(), base64.b64encode(digest)):
                raise _errcode(310000, "sign not match")
        body = await self._json(request, _errcode(300001, "param error: body is not a JSON object"))
        text = self._dingtalk_text(body)
        if _utf8_len(text) > DINGTALK_TEXT_LIMIT:
            raise _errcode(460101, f"message too long, exceed {DINGTALK_TEXT_LIMIT} bytes")
        at = body.get("at", {})
        if not isinstance(at, dict):
            raise _errcode(300001, "param error: at")
        for key in ("atMobiles", "atUserIds"):
            if key in at and not _str_list(at[key]):
                raise _errcode(300001, f"param error: at.{key}")
        if not isinstance(at.get("isAtAll", False), bool):
            raise _errcode(300001, "param error: at.isAtAll")
        if self._rate_wait(robot) is not None:
            raise _errcode(130101, "send too fast, exceed 20 times per minute")
        self._accept(robot, body, text, at.get("atMobiles", []))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    @staticmethod
    def _dingtalk_text(body: Json) -> str:
        msgtype = body.get("msgtype")
        part = body.get(msgtype) if isinstance(msgtype, str) else None
        if not isinstance(part, dict):
            raise _errcode(300001, "param error: msgtype")
        if msgtype == "text" and _nonempty_str(part.get("content")):
            return str(part["content"])
        if (
            msgtype in ("markdown", "actionCard")
            and _nonempty_str(part.get("title"))
            and _nonempty_str(part.get("text"))
        ):
            if msgtype == "actionCard":
                single = _nonempty_str(part.get("singleTitle")) and _nonempty_str(part.get("singleURL"))
                buttons = part.get("btns")
                listed = isinstance(buttons, list) and all(
                    isinstance(b, dict) and _nonempty_str(b.get("title")) and _nonempty_str(b.get("actionURL"))
                    for b in buttons
                )
                if not (single or listed):
                    raise _errcode(300001, "param error: actionCard needs singleTitle/singleURL or btns")
            return str(part["text"])
        raise _errcode(300001, f"param error: {msgtype}")

    # -- Feishu -------------------------------------------------------------------
    async def _feishu(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self._feishu_check)

    async def _feishu_check(self, request: web.Request) -> web.Response:
        robot = self._robot(
            "feishu",
            request.match_info["token"],
            _feishu(19001, "param invalid: incoming webhook access token invalid"),
        )
        if len(await request.read()) > FEISHU_BODY_LIMIT:
            raise _feishu(9499, "Bad Request: request body exceeds 20 KB", status=400)
        body = await self._json(request, _feishu(9499, "Bad Request", status=400))
        if robot.secret is not None:
            stamp, sign = body.get("timestamp"), body.get("sign")
            fail = _feishu(19021, "sign match fail or timestamp is not within one hour from current time")
            if not isinstance(stamp, str) or not stamp.isdigit() or not isinstance(sign, str):
                raise fail
            if not self._in_window(int(stamp)):
                raise fail
            digest = hmac.new(f"{stamp}\n{robot.secret}".encode(), b"", hashlib.sha256).digest()
            if not hmac.compare_digest(sign.encode(), base64.b64encode(digest)):
                raise fail
        text, mentions = self._feishu_text(body)
        if self._rate_wait(robot) is not None:
            raise _feishu(11232, "frequency limited")
        self._accept(robot, body, text, mentions)
        return web.json_response({"code": 0, "data": {}, "msg": "success"})

    @staticmethod
    def _feishu_text(body: Json) -> tuple[str, list[str]]:
        msg_type, content = body.get("msg_type"), body.get("content")
        bad = _feishu(9499, f"Bad Request: invalid {msg_type} message", status=400)
        if msg_type == "text":
            if not isinstance(content, dict) or not _nonempty_str(content.get("text")):
                raise bad
            return str(content["text"]), _FEISHU_AT.findall(content["text"])
        if msg_type == "post":
            post = content.get("post") if isinstance(content, dict) else None
            if not isinstance(post, dict) or not post:
                raise bad
            texts: list[str] = []
            mentions: list[str] = []
            for locale in post.values():
                lines = locale.get("content") if isinstance(locale, dict) else None
                if not isinstance(lines, list) or not all(isinstance(line, list) for line in lines):
                    raise bad
                for element in (e for line in lines for e in line):
                    if not isinstance(element, dict) or not _nonempty_str(element.get("tag")):
                        raise bad
                    if element["tag"] == "at":
                        mentions.append(str(element.get("user_id", "")))
                    texts.append(str(element.get("text", "")))
            return "".join(texts), mentions
        if msg_type == "interactive":
            if not isinstance(body.get("card"), dict):
                raise bad
            return json.dumps(body["card"], ensure_ascii=False), []
        raise bad

    # -- Slack --------------------------------------------------------------------
    async def _slack(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self._slack_check)

    async def _slack_check(self, request: web.Request) -> web.Response:
        robot = self._robot("slack", request.match_info["path"], _slack(404, "no_service"))
        body = await self._json(request, _slack(400, "invalid_payload"))
        text, blocks = body.get("text"), body.get("blocks")
        if text is not None and not isinstance(text, str):
            raise _slack(400, "invalid_payload")
        if blocks is not None and not (
            isinstance(blocks, list) and all(isinstance(b, dict) and _nonempty_str(b.get("type")) for b in blocks)
        ):
            raise _slack(400, "invalid_blocks")
        if not text and not blocks:
            raise _slack(400, "no_text")
        if text and len(text) > SLACK_TEXT_LIMIT:
            raise _slack(400, "msg_too_long")
        wait = self._rate_wait(robot)
        if wait is not None:
            raise _slack(429, "rate_limited", {"Retry-After": str(max(1, math.ceil(wait)))})
        self._accept(robot, body, text or "", _SLACK_AT.findall(text or ""))
        return web.Response(text="ok")

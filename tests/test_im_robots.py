"""The four IM-group robot notifiers against the local vendor server (devstack/im_robot_server.py).

The same conformance tests run for WeCom, DingTalk, Feishu and Slack; a few more check what only
one vendor has (signatures, markdown) and that the server itself refuses what the vendors refuse.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from alerting.notify.base import DeliveryResult, Message, Notifier, Outcome
from alerting.notify.dingtalk import DingTalkNotifier, dingtalk_sign
from alerting.notify.feishu import FeishuNotifier
from alerting.notify.im_robot import RobotNotifier, Rule, encode_json
from alerting.notify.slack import SlackNotifier
from alerting.notify.wecom import WeComNotifier
from devstack.im_robot_server import Answer, ImRobotServer, Robot
from devstack.process import free_port

VENDORS = ("wecom", "dingtalk", "feishu", "slack")
SIGNED = ("dingtalk", "feishu")
WECOM_KEY = "wk-3f0a9c51-77e2-4d5e-9a0b-secretkey01"
DING_TOKEN = "dt-8e1b2c3d4e5f-access-token-secret02"
DING_SECRET = "SECd1n6t4lk-signing-secret-03"
FEISHU_TOKEN = "fs-0c9d8e7f-hook-token-secret04"
FEISHU_SECRET = "fs-signing-secret-05"
SLACK_PATH = "T0TELEWATCH/B0ALERTS/slackwebhooksecret06"
SECRETS = (WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN, FEISHU_SECRET, "slackwebhooksecret06")
PHONES = ("8613800000001", "8613800000002")
MEMBER_IDS = {
    "feishu": {PHONES[0]: "ou_alice", PHONES[1]: "ou_bob"},
    "slack": {PHONES[0]: "U0ALICE", PHONES[1]: "U0BOB"},
}
EXPECTED_MENTIONS = {
    "wecom": PHONES,
    "dingtalk": PHONES,
    "feishu": ("ou_alice", "ou_bob"),
    "slack": ("U0ALICE", "U0BOB"),
}
#: Each vendor's limit on the text (Feishu: on the whole body), UTF-8 bytes.
LIMITS = {"wecom": 2048, "dingtalk": 20000, "feishu": 20 * 1024, "slack": 40000}
RATE_LIMITED = {
    "wecom": Answer(json={"errcode": 45009, "errmsg": "api freq out of limit"}),
    "dingtalk": Answer(json={"errcode": 130101, "errmsg": "send too fast"}),
    "feishu": Answer(json={"code": 11232, "data": {}, "msg": "frequency limited"}),
    "slack": Answer(429, text="rate_limited", headers={"Retry-After": "2"}),
}
BACK_OFF = {"wecom": 60.0, "dingtalk": 60.0, "feishu": 60.0, "slack": 2.0}
#: Generous limits for the tests that are not about rate limits (Slack's real one is 1/s).
ROOMY = ((1000, 1.0),)
LINK = "http://telewatch.local/alerts/42"


def robots(limits: tuple[tuple[int, float], ...] | None = ROOMY, feishu_limits: Any = None) -> list[Robot]:
    return [
        Robot("wecom", "wecom-ops", WECOM_KEY, limits=limits),
        Robot("dingtalk", "dingtalk-ops", DING_TOKEN, DING_SECRET, limits=limits),
        Robot("feishu", "feishu-ops", FEISHU_TOKEN, FEISHU_SECRET, limits=feishu_limits or limits),
        Robot("slack", "slack-ops", SLACK_PATH, limits=limits),
    ]


@asynccontextmanager
async def running(robot_list: list[Robot]) -> AsyncIterator[tuple[ImRobotServer, str]]:
    server = ImRobotServer(robot_list)
    base = await server.start()
    try:
        yield server, base
    finally:
        await server.stop()


@pytest.fixture
async def served() -> AsyncIterator[tuple[ImRobotServer, str]]:
    async with running(robots()) as pair:
        yield pair


def notifier(
    vendor: str,
    base: str,
    *,
    good: bool = True,
    rules: tuple[Rule, ...] = (),
    clock: Callable[[], float] = time.time,
    secret: str | None = None,
    timeout_s: float = 5.0,
) -> RobotNotifier:
    """A notifier for the server's robot of ``vendor`` (``good=False``: with a wrong key/token/path)."""
    bad = "" if good else "x"
    if vendor == "wecom":
        return WeComNotifier("wecom-ops", WECOM_KEY + bad, base_url=base, rules=rules, timeout_s=timeout_s)
    if vendor == "dingtalk":
        return DingTalkNotifier(
            "dingtalk-ops",
            DING_TOKEN + bad,
            secret or DING_SECRET,
            base_url=base,
            rules=rules,
            clock=clock,
            timeout_s=timeout_s,
        )
    if vendor == "feishu":
        return FeishuNotifier(
            "feishu-ops",
            FEISHU_TOKEN + bad,
            secret or FEISHU_SECRET,
            base_url=base,
            mention_ids=MEMBER_IDS["feishu"],
            rules=rules,
            clock=clock,
            timeout_s=timeout_s,
        )
    return SlackNotifier(
        "slack-ops", SLACK_PATH + bad, base_url=base, mention_ids=MEMBER_IDS["slack"], rules=rules, timeout_s=timeout_s
    )


def message(text: str = "基站 BTS-0042 离线 5 分钟", mentions: tuple[str, ...] = (), key: str = "a42") -> Message:
    return Message(key=key, title="【严重】基站离线", text=text, link=LINK, mentions=mentions, severity="critical")


async def send(vendor: str, base: str, msg: Message | None = None, **kwargs: Any) -> DeliveryResult:
    robot = notifier(vendor, base, **kwargs)
    try:
        return await robot.send(msg or message())
    finally:
        await robot.close()


def test_each_robot_is_a_notifier() -> None:
    kinds = []
    for vendor in VENDORS:
        robot: Notifier = notifier(vendor, "http://127.0.0.1:9")  # mypy checks the protocol
        kinds.append((robot.kind, robot.name))
    assert kinds == [(v, f"{v}-ops") for v in VENDORS]


# -- the shared conformance tests ---------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
async def test_text_is_delivered_and_recorded(vendor: str, served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    result = await send(vendor, base)
    assert result.outcome is Outcome.SENT, result.detail
    [got] = server.received
    assert (got.vendor, got.robot) == (vendor, f"{vendor}-ops")
    assert "基站离线" in got.text and "BTS-0042" in got.text
    assert got.text.rstrip().endswith(LINK + ">" if vendor == "slack" else LINK)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_long_chinese_text_is_cut_within_the_limit_keeping_link_and_mentions(
    vendor: str, served: tuple[ImRobotServer, str]
) -> None:
    server, base = served
    result = await send(vendor, base, message("告警内容" * 12000, mentions=PHONES))
    assert result.outcome is Outcome.SENT, result.detail
    [got] = server.received
    size = len(encode_json(got.payload)) if vendor == "feishu" else len(got.text.encode())
    assert LIMITS[vendor] - 16 < size <= LIMITS[vendor]
    assert "…" in got.text and LINK in got.text.rsplit("…", 1)[1]
    assert got.mentions == EXPECTED_MENTIONS[vendor]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_mentions(vendor: str, served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    assert (await send(vendor, base, message(mentions=PHONES))).outcome is Outcome.SENT
    assert server.received[0].mentions == EXPECTED_MENTIONS[vendor]
    assert (await send(vendor, base, message())).outcome is Outcome.SENT
    assert server.received[1].mentions == ()


@pytest.mark.parametrize("vendor", VENDORS)
async def test_rate_limit_answer_is_retry_with_back_off(vendor: str, served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    server.fail_next(1, RATE_LIMITED[vendor])
    robot = notifier(vendor, base)
    try:
        result = await robot.send(message())
        assert (result.outcome, result.retry_after_s) == (Outcome.RETRY, BACK_OFF[vendor])
        # backing off: answered locally, the vendor is not asked again
        again = await robot.send(message())
        assert again.outcome is Outcome.RETRY and again.retry_after_s is not None and again.retry_after_s > 0
        assert server.requests == 1
    finally:
        await robot.close()


@pytest.mark.parametrize("vendor", VENDORS)
async def test_server_enforces_the_rate_limit_with_the_vendor_answer(vendor: str) -> None:
    async with running(robots(((2, 60.0),))) as (server, base):
        robot = notifier(vendor, base)  # no local limiter: the server must say no
        try:
            outcomes = [(await robot.send(message(key=str(i)))).outcome for i in range(2)]
            third = await robot.send(message(key="3"))
        finally:
            await robot.close()
    assert outcomes == [Outcome.SENT, Outcome.SENT]
    assert third.outcome is Outcome.RETRY and third.retry_after_s is not None and third.retry_after_s > 1
    assert len(server.received) == 2


@pytest.mark.parametrize("vendor", VENDORS)
async def test_limiter_waits_instead_of_exceeding_the_vendor_limit(vendor: str) -> None:
    limits = ((3, 0.2),)
    feishu_limits = ((4, 0.3), (2, 0.1))
    async with running(robots(limits, feishu_limits)) as (server, base):
        rules = feishu_limits if vendor == "feishu" else limits
        robot = notifier(vendor, base, rules=tuple(Rule(n, w) for n, w in rules))
        try:
            results = await asyncio.gather(*(robot.send(message(key=str(i))) for i in range(6)))
        finally:
            await robot.close()
    assert [r.outcome for r in results] == [Outcome.SENT] * 6, [r.detail for r in results]
    assert len(server.received) == 6


@pytest.mark.parametrize("vendor", VENDORS)
async def test_bad_credentials_are_permanent(vendor: str, served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    result = await send(vendor, base, good=False)
    assert result.outcome is Outcome.PERMANENT, result.detail
    assert server.received == []


@pytest.mark.parametrize("vendor", VENDORS)
async def test_5xx_is_retry(vendor: str, served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    server.fail_next(1, Answer(503, text="Service Unavailable"))
    robot = notifier(vendor, base)
    try:
        first, second = await robot.send(message()), await robot.send(message())
    finally:
        await robot.close()
    assert first.outcome is Outcome.RETRY and "503" in first.detail
    assert second.outcome is Outcome.SENT
    assert len(server.received) == 1


@pytest.mark.parametrize("vendor", VENDORS)
async def test_connection_refused_is_retry(vendor: str) -> None:
    result = await send(vendor, f"http://127.0.0.1:{free_port()}")
    assert result.outcome is Outcome.RETRY
    assert result.detail.startswith("unreachable")


async def test_timeout_is_retry(served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    server.fail_next(1, Answer(json={"errcode": 0, "errmsg": "ok"}, delay_s=0.5))
    result = await send("wecom", base, timeout_s=0.05)
    assert (result.outcome, result.detail) == (Outcome.RETRY, "timed out")


@pytest.mark.parametrize("vendor", SIGNED)
async def test_forged_or_expired_signature_is_refused(vendor: str, served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    forged = await send(vendor, base, secret="not-the-secret")
    expired = await send(vendor, base, clock=lambda: time.time() - 2 * 3600)
    ahead = await send(vendor, base, clock=lambda: time.time() + 2 * 3600)
    code = "310000" if vendor == "dingtalk" else "19021"
    for result in (forged, expired, ahead):
        assert result.outcome is Outcome.PERMANENT and code in result.detail
    assert server.received == []
    within = await send(vendor, base, clock=lambda: time.time() - 50 * 60)
    assert within.outcome is Outcome.SENT


@pytest.mark.parametrize("vendor", VENDORS)
async def test_secrets_stay_out_of_details_and_logs(
    vendor: str, served: tuple[ImRobotServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, base = served
    caplog.set_level(logging.DEBUG)
    own = {"wecom": [WECOM_KEY], "dingtalk": [DING_TOKEN, DING_SECRET], "feishu": [FEISHU_TOKEN, FEISHU_SECRET]}
    echo = f"invalid webhook {' '.join(own.get(vendor, [SLACK_PATH]))}"
    server.fail_next(1, Answer(400, json={"errcode": 93000, "errmsg": echo, "code": 19001, "msg": echo}, text=echo))
    server.fail_next(1, Answer(200, text=f"<html>{echo}</html>"))
    results = [await send(vendor, base) for _ in range(3)]
    results.append(await send(vendor, base, good=False))
    results.append(await send(vendor, f"http://127.0.0.1:{free_port()}"))
    results.append(await send(vendor, base + "/%zz"))
    assert [r.outcome for r in results][:2] == [Outcome.PERMANENT, Outcome.RETRY]
    assert results[2].outcome is Outcome.SENT
    seen = " ".join(r.detail for r in results) + caplog.text
    assert "***" in seen
    for secret in SECRETS:
        assert secret not in seen


# -- vendor specifics ---------------------------------------------------------------------------


async def test_wecom_markdown_and_its_fallback_to_text_for_mentions(served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    robot = WeComNotifier("wecom-ops", WECOM_KEY, base_url=base, markdown=True, rules=())
    try:
        plain = await robot.send(message("告" * 3000))
        mentioned = await robot.send(message(mentions=PHONES))
    finally:
        await robot.close()
    assert plain.outcome is mentioned.outcome is Outcome.SENT
    first, second = server.received
    assert first.payload["msgtype"] == "markdown" and first.text.endswith(f"[{LINK}]({LINK})")
    assert 4096 - 3 < len(first.text.encode()) <= 4096
    assert second.payload["msgtype"] == "text" and second.mentions == PHONES


async def test_dingtalk_markdown_mentions(served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    robot = DingTalkNotifier("dingtalk-ops", DING_TOKEN, DING_SECRET, base_url=base, markdown=True, rules=())
    try:
        assert (await robot.send(message(mentions=PHONES))).outcome is Outcome.SENT
    finally:
        await robot.close()
    [got] = server.received
    assert got.payload["msgtype"] == "markdown" and got.payload["markdown"]["title"] == "【严重】基站离线"
    assert got.mentions == PHONES and got.text.endswith("@8613800000001 @8613800000002")


async def test_unmapped_mentions_are_written_as_text(served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    robot = SlackNotifier("slack-ops", SLACK_PATH, base_url=base, rules=())
    try:
        assert (await robot.send(message("a < b & c", mentions=PHONES))).outcome is Outcome.SENT
    finally:
        await robot.close()
    [got] = server.received
    assert got.mentions == () and "@8613800000001 @8613800000002" in got.text and "a &lt; b &amp; c" in got.text


# -- the server refuses what the vendors refuse -------------------------------------------------


async def _post(base: str, path: str, body: Any, *, method: str = "POST", raw: bytes | None = None) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            base + path,
            data=raw if raw is not None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        ) as answer,
    ):
        return answer.status, await answer.text()


def _ding_path(stamp_ms: int, sign: str) -> str:
    return f"/robot/send?access_token={DING_TOKEN}&timestamp={stamp_ms}&sign={sign}"


def _ding_stamp_with_plus() -> tuple[int, str]:
    """A current timestamp whose signature has a '+' (which must be sent as %2B)."""
    stamp = int(time.time() * 1000)
    while "+" not in dingtalk_sign(DING_SECRET, stamp):
        stamp += 1
    return stamp, dingtalk_sign(DING_SECRET, stamp)


async def test_server_checks_each_vendors_contract(served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    wecom = f"/cgi-bin/webhook/send?key={WECOM_KEY}"
    stamp, sign = _ding_stamp_with_plus()
    checks: list[tuple[tuple[int, str], int, str]] = [
        (await _post(base, wecom, {"msgtype": "text", "text": {"content": "x" * 2049}}), 200, "40058"),
        (await _post(base, wecom, {"msgtype": "markdown", "markdown": {"content": "告" * 1366}}), 200, "40058"),
        (await _post(base, wecom, {"msgtype": "image", "image": {}}), 200, "40008"),
        (await _post(base, wecom, None, raw=b"{not json"), 200, "40035"),
        (await _post(base, wecom, {}, method="GET"), 405, ""),
        (await _post(base, f"/robot/send?access_token={DING_TOKEN}", {"msgtype": "text"}), 200, "310000"),
        (await _post(base, _ding_path(stamp, sign), {"msgtype": "text", "text": {"content": "x"}}), 200, "310000"),
        (await _post(base, _ding_path(stamp, sign.replace("+", "%2B")), {"msgtype": "text"}), 200, "300001"),
        (await _post(base, f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}", None, raw=b" " * 20481), 400, "9499"),
        (await _post(base, f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}", {"msg_type": "text"}), 200, "19021"),
        (await _post(base, f"/services/{SLACK_PATH}", {"username": "x"}), 400, "no_text"),
        (await _post(base, f"/services/{SLACK_PATH}", {"text": "x" * 40001}), 400, "msg_too_long"),
        (await _post(base, "/services/T0/B0/nope", {"text": "x"}), 404, "no_service"),
    ]
    for (status, text), want_status, want in checks:
        assert status == want_status and want in text, (status, text, want)
    assert server.received == []


async def test_server_accepts_the_other_message_types(served: tuple[ImRobotServer, str]) -> None:
    server, base = served
    stamp = int(time.time() * 1000)
    feishu_stamp = str(int(time.time()))
    feishu_sign = base64.b64encode(
        hmac.new(f"{feishu_stamp}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()
    ).decode()
    ding = _ding_path(
        stamp, dingtalk_sign(DING_SECRET, stamp).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    )
    card = {"title": "t", "text": "card", "btns": [{"title": "ack", "actionURL": LINK}]}
    post = {"zh_cn": {"title": "t", "content": [[{"tag": "text", "text": "hi "}, {"tag": "at", "user_id": "ou_a"}]]}}
    answers = [
        await _post(base, ding, {"msgtype": "actionCard", "actionCard": card}),
        await _post(
            base,
            f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
            {"timestamp": feishu_stamp, "sign": feishu_sign, "msg_type": "post", "content": {"post": post}},
        ),
        await _post(
            base, f"/services/{SLACK_PATH}", {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "b"}}]}
        ),
    ]
    assert [status for status, _ in answers] == [200, 200, 200], answers
    assert [r.vendor for r in server.received] == ["dingtalk", "feishu", "slack"]
    assert server.received[1].mentions == ("ou_a",)

"""SMS notifiers: Kannel's sendsms against the real gateway of the devstack, the generic HTTP one against a local server."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from aiohttp import web

from alerting.notify.base import DeliveryResult, Message, Outcome
from alerting.notify.dlr import DeliveryReport, DlrError, DlrStatus, dlr_url, parse_dlr
from alerting.notify.http_sms import HttpSmsNotifier
from alerting.notify.kannel import KannelNotifier, compose_sms, sms_parts
from devstack.kannel_server import KannelServer, ReceivedSms
from devstack.process import free_port

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LINK = "http://tw.example/a/42"


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """A local aiohttp server answering every path with ``handler``; yields its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def dlr_inbox() -> AsyncIterator[tuple[str, list[DeliveryReport]]]:
    """A local DLR endpoint: (its URL, the reports it parsed)."""
    reports: list[DeliveryReport] = []

    async def receive(request: web.Request) -> web.Response:
        reports.append(parse_dlr(request.query))
        return web.Response(text="ok")

    async with serve(receive) as base:
        yield f"{base}/api/sms/dlr", reports


def kannel(server: KannelServer, password: str | None = None, **options: Any) -> KannelNotifier:
    """A notifier for the devstack's concatenating sendsms-user."""
    return KannelNotifier("devstack", server.endpoint, server.concat_username, password or server.password, **options)


def phone() -> str:
    return f"86138{uuid.uuid4().int % 10**8:08d}"


async def eventually(probe: Callable[[], T | None], what: str, tries: int = 150) -> T:
    """``probe()``'s first non-None value, polled every 0.1 s without blocking the loop (the DLR server runs on it)."""
    for _ in range(tries):
        if (found := probe()) is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {what} after {tries} tries")


def received(server: KannelServer, to: str) -> list[ReceivedSms] | None:
    return [m for m in server.received_messages() if m.receiver == to] or None


def reports_for(reports: list[DeliveryReport], key: str, count: int) -> list[DeliveryReport] | None:
    mine = [r for r in reports if r.key == key]
    return mine if len(mine) >= count else None


async def send(notifier: KannelNotifier | HttpSmsNotifier, message: Message) -> DeliveryResult:
    try:
        return await notifier.send(message)
    finally:
        await notifier.close()


# -- Kannel, real gateway ------------------------------------------------------------


async def test_long_chinese_sms_arrives_as_one_concatenated_message(
    kannel_server: KannelServer, dlr_inbox: tuple[str, list[DeliveryReport]]
) -> None:
    url, reports = dlr_inbox
    to = phone()
    key = f"rule-7/告警 #{uuid.uuid4().hex[:6]}"  # not URL-safe: travels as key64 past Kannel's escape codes
    message = Message(
        key, "【重大告警】基站离线", "北京朝阳区3号基站自02:00起失去连接，影响用户约一万二千人。" * 2, LINK, to
    )
    text = compose_sms(message, 10)
    assert sms_parts(text) == 2
    result = await send(kannel(kannel_server, dlr_base_url=url), message)
    assert result.outcome is Outcome.SENT, result
    assert result.detail == "HTTP 202: 0: Accepted for delivery"
    got = await eventually(lambda: received(kannel_server, to), f"SMS to {to}")
    assert got == [ReceivedSms("telewatch", to, text, parts=2)]
    mine = await eventually(lambda: reports_for(reports, key, 2), "two delivery reports")
    assert sorted(r.status for r in mine) == [DlrStatus.DELIVERED, DlrStatus.SMSC_ACK]
    assert all(r.key == key and r.to == to and r.kannel_id and r.at is not None for r in mine)
    assert {r.answer for r in mine} == {"", "ACK/"}


async def test_too_long_text_is_cut_to_max_parts_keeping_the_link(kannel_server: KannelServer) -> None:
    to = phone()
    message = Message(uuid.uuid4().hex, "告警", "小区退服。" * 100, LINK, to)
    result = await send(kannel(kannel_server, max_parts=3), message)
    assert result.outcome is Outcome.SENT, result
    (got,) = await eventually(lambda: received(kannel_server, to), f"SMS to {to}")
    assert got.parts == 3 and len(got.text) == 3 * 67
    assert got.text.startswith("告警\n小区退服。") and got.text.endswith(f"…\n{LINK}")


async def test_gsm_text_arrives_exactly(
    kannel_server: KannelServer, dlr_inbox: tuple[str, list[DeliveryReport]]
) -> None:
    url, reports = dlr_inbox
    to, key = phone(), f"a:{uuid.uuid4().hex}:sms"
    message = Message(key, "MAJOR", "Cell 4711 down [site {B}] 100% €", LINK, to)
    result = await send(kannel(kannel_server, dlr_base_url=url), message)
    assert result.outcome is Outcome.SENT, result
    got = await eventually(lambda: received(kannel_server, to), f"SMS to {to}")
    assert got == [ReceivedSms("telewatch", to, f"MAJOR\nCell 4711 down [site {{B}}] 100% €\n{LINK}")]
    mine = await eventually(lambda: reports_for(reports, key, 2), "two delivery reports")
    assert sorted(r.status for r in mine) == [DlrStatus.DELIVERED, DlrStatus.SMSC_ACK]


async def test_wrong_password_is_permanent_and_never_shown(kannel_server: KannelServer) -> None:
    secret = "wrong-Secret&42"
    result = await send(kannel(kannel_server, password=secret), Message("k", "t", "must not arrive", to=phone()))
    assert result == DeliveryResult(Outcome.PERMANENT, "HTTP 403: Authorization failed for sendsms")
    assert secret not in repr(result)


async def test_missing_sender_is_permanent(kannel_server: KannelServer) -> None:
    result = await send(kannel(kannel_server, sender=""), Message("k", "t", "x", to=phone()))
    assert result.outcome is Outcome.PERMANENT
    assert result.detail == "HTTP 400: Sender missing and no global set, rejected"


async def test_no_phone_number_is_permanent(kannel_server: KannelServer) -> None:
    result = await send(kannel(kannel_server), Message("k", "t", "x"))
    assert result.outcome is Outcome.PERMANENT


async def test_gateway_down_is_retry() -> None:
    notifier = KannelNotifier("down", f"http://127.0.0.1:{free_port()}/cgi-bin/sendsms", "u", "s3cret-pw")
    result = await send(notifier, Message("k", "t", "x", to=phone()))
    assert result.outcome is Outcome.RETRY
    assert "s3cret-pw" not in result.detail


async def test_kannel_503_is_retry_and_an_echoed_password_is_redacted() -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.Response(
            status=503, text=f"Temporal failure for {request.query_string}", headers={"Retry-After": "5"}
        )

    async with serve(busy) as base:
        result = await send(
            KannelNotifier("k", f"{base}/cgi-bin/sendsms", "u", "pw&secret"), Message("k", "t", "x", to="1")
        )
    assert (result.outcome, result.retry_after_s) == (Outcome.RETRY, 5.0)
    assert "secret" not in result.detail and "***" in result.detail


async def test_kannel_answer_with_message_id_gives_vendor_id() -> None:
    mid = str(uuid.uuid4())

    async def accept(request: web.Request) -> web.Response:
        return web.Response(status=202, text=f"0: Accepted for delivery: {mid}")

    async with serve(accept) as base:
        result = await send(KannelNotifier("k", f"{base}/cgi-bin/sendsms", "u", "p"), Message("k", "t", "x", to="1"))
    assert (result.outcome, result.vendor_id) == (Outcome.SENT, mid)


# -- delivery reports ------------------------------------------------------------------


def test_dlr_url_escapes_and_key_roundtrip() -> None:
    for key in ("a1:sms", "rule 7/告警%A&x=1"):
        url = dlr_url("http://tw/dlr", key)
        query = url.split("?", 1)[1].replace("%d", "16").replace("%T", "1700000000").replace("%I", "x")
        report = parse_dlr(query.replace("%p", "861").replace("%A", "").replace("%F", ""))
        assert (report.key, report.status, report.to) == (key, DlrStatus.SMSC_REJECT, "861")
        assert report.status.final and report.status.meaning == "rejected by the SMSC"
    with pytest.raises(ValueError, match="must not contain"):
        dlr_url("http://tw/dlr?x=%41", "k")


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("status=1", "without 'key'"),
        ("key=k", "without 'status'"),
        ("key=k&status=%25d", "not filled in"),
        ("key=k&status=3", "none of Kannel's"),
        ("key=k&status=abc", "none of Kannel's"),
        ("key=k&status=1&ts=yesterday", "not Unix seconds"),
        ("key64=%FF%FF&status=1", "garbled key64"),
    ],
)
def test_garbage_dlr_is_a_clear_error(query: str, error: str) -> None:
    with pytest.raises(DlrError, match=error):
        parse_dlr(query)


# -- generic HTTP gateway --------------------------------------------------------------


async def test_http_sms_sends_templated_json_with_auth() -> None:
    seen: list[tuple[str, dict[str, object], str | None]] = []

    async def gateway(request: web.Request) -> web.Response:
        seen.append((request.method, await request.json(), request.headers.get("Authorization")))
        return web.json_response({"message_id": 12345})

    async with serve(gateway) as base:
        notifier = HttpSmsNotifier(
            "op",
            f"{base}/v1/sms",
            fields={"mobile": "{to}", "content": "{text}", "ref": "{key}", "priority": 1},
            auth_header=("Authorization", "Bearer tok-123456"),
            id_field="message_id",
        )
        result = await send(notifier, Message("k1", "告警", "基站离线", LINK, "8613800000001"))
    assert (result.outcome, result.vendor_id) == (Outcome.SENT, "12345")
    body = {"mobile": "8613800000001", "content": f"告警\n基站离线\n{LINK}", "ref": "k1", "priority": 1}
    assert seen == [("POST", body, "Bearer tok-123456")]


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after"),
    [
        (429, {"Retry-After": "7"}, Outcome.RETRY, 7.0),
        (503, {}, Outcome.RETRY, None),
        (400, {}, Outcome.PERMANENT, None),
        (401, {}, Outcome.PERMANENT, None),
    ],
)
async def test_http_sms_maps_answers(
    status: int, headers: dict[str, str], outcome: Outcome, retry_after: float | None
) -> None:
    async def gateway(request: web.Request) -> web.Response:
        echo = json.dumps({"error": "nope", "auth": request.headers.get("X-Key")})
        return web.Response(status=status, text=echo, headers=headers)

    async with serve(gateway) as base:
        notifier = HttpSmsNotifier("op", base, auth_header=("X-Key", "key-secret-99"))
        result = await send(notifier, Message("k", "t", "x", to="1"))
    assert (result.outcome, result.retry_after_s) == (outcome, retry_after)
    assert result.detail.startswith(f"HTTP {status}:") and "key-secret-99" not in result.detail


async def test_http_sms_get_and_connection_refused() -> None:
    async def gateway(request: web.Request) -> web.Response:
        return web.Response(text=request.query["text"])

    async with serve(gateway) as base:
        notifier = HttpSmsNotifier("op", f"{base}/send", method="GET")
        assert (await send(notifier, Message("k", "t", "x", to="1"))).detail == "HTTP 200: t\nx"
    down = HttpSmsNotifier("op", f"http://127.0.0.1:{free_port()}/send")
    assert (await send(down, Message("k", "t", "x", to="1"))).outcome is Outcome.RETRY


def test_http_sms_refuses_unknown_placeholders() -> None:
    with pytest.raises(ValueError, match="uses \\['phone'\\]"):
        HttpSmsNotifier("op", "http://x", fields={"to": "{phone}"})

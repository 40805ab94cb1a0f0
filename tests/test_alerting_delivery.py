"""Delivery from the ledger's outbox through the real Kannel gateway and the IM robots' contract server.

An alert planned by the pipeline reaches the owner's phone at the fake SMS
centre (the right number, Chinese text as one concatenated SMS) and the IM
group's robot (signature checked by the contract server); a temporary failure
is retried with backoff and every attempt kept; a permanent one or a missing
secret ends as a dead letter with its reason; a row whose worker vanished is
claimed again with a note in its attempts.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from alerting.delivery import Delivery
from alerting.feed import Feed
from alerting.ledger import Ledger
from alerting.notify.registry import Channels, build_channels
from alerting.settings import AlertingSettings
from devstack.im_robot_server import Answer, ImRobotServer, Robot
from devstack.kannel_server import KannelServer
from fixtures.alerting import OWNERS, Pipeline, anomaly, eventually, minutes, points, settings

SMS_N = "sms_delivery_success_rate|channel=106900001"
CALLS = "call_setup_success_rate|cell_id=north-c1|region=north"
WECOM_KEY, DING_TOKEN, DING_SECRET = "wk-" + "1" * 20, "dt-" + "2" * 20, "SEC" + "3" * 40


@pytest.fixture
async def robots() -> AsyncIterator[tuple[ImRobotServer, str]]:
    server = ImRobotServer(
        [Robot("wecom", "sms-centre", WECOM_KEY), Robot("dingtalk", "wireless-noc", DING_TOKEN, DING_SECRET)]
    )
    base = await server.start()
    try:
        yield server, base
    finally:
        await server.stop()


def configured(base: str, phone: str, **extra: Any) -> AlertingSettings:
    owners = {**OWNERS, "people": {**OWNERS["people"], "li.wei": {**OWNERS["people"]["li.wei"], "phone": phone}}}
    owners["im_groups"] = {name: {**group, "url": base} for name, group in OWNERS["im_groups"].items()}
    return settings(owners=owners, delivery={"backoff_initial": "5s", "max_attempts": 3}, **extra)


ENV = {"TW_TEST_WECOM_KEY": WECOM_KEY, "TW_TEST_DING_TOKEN": DING_TOKEN, "TW_TEST_DING_SECRET": DING_SECRET}


def channels(config: AlertingSettings, kannel: KannelServer, env: dict[str, str] = ENV) -> Channels:
    return build_channels(config, env, kannel_url=kannel.endpoint, kannel_password=kannel.password)


def vendors(ledger: Ledger) -> list[tuple[str, str, str, str]]:
    """(channel, recipient, vendor, outcome) of every attempt, as the InfluxDB feed writes them."""
    found = points(Feed(ledger).lines(), "telewatch_delivery")
    return [(t["channel"], t["recipient"], t["vendor"], t["outcome"]) for t, _, _ in found]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def phone() -> str:
    return f"86139{uuid.uuid4().int % 10**8:08d}"


async def test_an_alert_reaches_the_owners_phone_and_im_group(
    ledger: Ledger, kannel_server: KannelServer, robots: tuple[ImRobotServer, str]
) -> None:
    server, base = robots
    number = phone()
    config = configured(base, number)
    p = Pipeline(ledger, config)
    p.feed(anomaly(SMS_N, minutes(0), value=0.412), at=minutes(0))
    p.run(minutes(0), 1)
    clock = Clock(minutes(1))
    delivery = Delivery(ledger, config.delivery, config.owners, channels(config, kannel_server), "w1", clock)
    try:
        assert await delivery.run_once() == 2
    finally:
        await delivery.channels.close()
    assert {i.state for i in ledger.outbox_items()} == {"sent"}
    [sms] = await eventually(lambda: [m for m in kannel_server.received_messages() if m.receiver == number], "SMS", 15)
    assert sms.parts >= 2 and "短信送达率 0.412，正常 0.97（0.95–0.99）" in sms.text and "http://tw.test/a/" in sms.text
    [im] = server.received_by("sms-centre")
    assert im.vendor == "wecom" and "短信送达率" in im.text and im.mentions == (number,)
    [attempt] = ledger.attempts(p.outbox("sms")[0].key)
    assert (attempt.attempt, attempt.outcome, attempt.worker_id) == (1, "sent", "w1")
    assert sorted(vendors(ledger)) == [("im", "sms-centre", "wecom", "sent"), ("sms", "li.wei", "kannel", "sent")]


async def test_signed_dingtalk_robot_gets_the_escalation(
    ledger: Ledger, kannel_server: KannelServer, robots: tuple[ImRobotServer, str]
) -> None:
    server, base = robots
    config = configured(base, phone())
    p = Pipeline(ledger, config)
    p.feed(anomaly(CALLS, minutes(0)), at=minutes(0))
    p.run(minutes(0), 1)
    delivery = Delivery(
        ledger, config.delivery, config.owners, channels(config, kannel_server), "w1", Clock(minutes(1))
    )
    try:
        await delivery.run_once()
    finally:
        await delivery.channels.close()
    [im] = server.received_by("wireless-noc")  # the contract server checked timestamp and HMAC signature
    assert im.vendor == "dingtalk" and "呼叫建立成功率" in im.text and im.mentions == ("8613800000003",)
    assert ("im", "wireless-noc", "dingtalk", "sent") in vendors(ledger)


async def test_a_temporary_failure_is_retried_with_backoff_and_every_attempt_kept(
    ledger: Ledger, kannel_server: KannelServer, robots: tuple[ImRobotServer, str]
) -> None:
    server, base = robots
    config = configured(base, phone(), sms={"gateway": "none"})
    p = Pipeline(ledger, config)
    p.feed(anomaly(SMS_N, minutes(0)), at=minutes(0))
    p.run(minutes(0), 1)
    clock = Clock(minutes(1))
    delivery = Delivery(ledger, config.delivery, config.owners, channels(config, kannel_server), "w1", clock)
    server.fail_next(2, Answer(status=503, text="busy"))
    try:
        await delivery.run_once()
        [row] = ledger.outbox_items()
        assert row.state == "failed" and minutes(1) + timedelta(seconds=5) <= row.next_attempt_at
        assert row.next_attempt_at <= minutes(1) + timedelta(seconds=10)
        assert await delivery.run_once() == 0  # not due yet
        clock.now = row.next_attempt_at
        await delivery.run_once()
        row = ledger.outbox_items()[0]
        assert row.state == "failed" and row.next_attempt_at >= clock.now + timedelta(seconds=10)  # doubled
        clock.now = row.next_attempt_at
        await delivery.run_once()
    finally:
        await delivery.channels.close()
    [row] = ledger.outbox_items()
    assert row.state == "sent"
    assert [(a.attempt, a.outcome) for a in ledger.attempts(row.key)] == [(1, "retry"), (2, "retry"), (3, "sent")]
    assert "HTTP 503" in ledger.attempts(row.key)[0].detail
    assert len(server.received_by("sms-centre")) == 1


async def test_permanent_refusals_and_missing_secrets_end_as_dead_letters_with_the_reason(
    ledger: Ledger, kannel_server: KannelServer, robots: tuple[ImRobotServer, str]
) -> None:
    _, base = robots
    config = configured(base, phone())
    p = Pipeline(ledger, config)
    p.feed(anomaly(SMS_N, minutes(0)), anomaly(CALLS, minutes(0)), at=minutes(0))
    p.run(minutes(0), 1)
    env = {"TW_TEST_WECOM_KEY": "wrong-key"}  # the DingTalk robot's token and secret are not set at all
    built = channels(config, kannel_server, env)
    assert built.problems() == [
        "im:wireless-noc: environment variable TW_TEST_DING_TOKEN (the robot's key/token) is not set"
    ]
    delivery = Delivery(ledger, config.delivery, config.owners, built, "w1", Clock(minutes(1)))
    try:
        await delivery.run_once()
    finally:
        await delivery.channels.close()
    dead = {d.recipient: d.dead_reason for d in ledger.dead_letters()}
    assert "93000" in str(dead["sms-centre"])
    assert "TW_TEST_DING_TOKEN" in str(dead["wireless-noc"])
    assert {i.recipient: i.state for i in ledger.outbox_items() if i.channel == "sms"} == {
        "li.wei": "sent",
        "zhang.min": "sent",
    }
    # WeCom refused the key (its vendor carried the attempt); no DingTalk robot could be built (no vendor).
    assert sorted(vendors(ledger)) == [
        ("im", "sms-centre", "wecom", "permanent"),
        ("im", "wireless-noc", "none", "permanent"),
        ("sms", "li.wei", "kannel", "sent"),
        ("sms", "zhang.min", "kannel", "sent"),
    ]


async def test_a_row_whose_worker_vanished_is_claimed_again_with_a_note(
    ledger: Ledger, kannel_server: KannelServer, robots: tuple[ImRobotServer, str]
) -> None:
    server, base = robots
    config = configured(base, phone(), sms={"gateway": "none"})
    p = Pipeline(ledger, config)
    p.feed(anomaly(SMS_N, minutes(0)), at=minutes(0))
    p.run(minutes(0), 1)
    assert len(ledger.claim_due(minutes(1), 10, "dead-worker")) == 1  # claimed, then the worker died
    clock = Clock(minutes(1) + timedelta(minutes=1))
    delivery = Delivery(ledger, config.delivery, config.owners, channels(config, kannel_server), "w2", clock)
    try:
        assert await delivery.run_once() == 0  # within the lease (2 min)
        clock.now = minutes(4)
        assert await delivery.run_once() == 1
    finally:
        await delivery.channels.close()
    [row] = ledger.outbox_items()
    attempts = ledger.attempts(row.key)
    assert [(a.attempt, a.outcome, a.worker_id) for a in attempts] == [(1, "retry", "dead-worker"), (2, "sent", "w2")]
    assert "may have been sent once already" in attempts[0].detail
    assert len(server.received_by("sms-centre")) == 1
    assert vendors(ledger) == [("im", "sms-centre", "unknown", "retry"), ("im", "sms-centre", "wecom", "sent")]

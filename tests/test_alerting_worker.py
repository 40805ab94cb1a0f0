"""The alerting worker as a user runs it (``telewatch alerting``), on Apache Kafka, the real Kannel gateway,
the IM robots' contract server (a signed DingTalk robot), the API (for Kannel's delivery receipts) and InfluxDB.

An injected incident becomes one alert and reaches the owner's phone (at the fake SMS centre: the right
number, Chinese text as one concatenated SMS, a delivery receipt back in the ledger) and the owner's IM
group (signature checked); the series' recovery resolves it and tells the owner; every transition is in
InfluxDB. Killed with SIGKILL at random points and restarted, the worker neither loses nor repeats a
message (the only repeat allowed is a message whose worker died between the gateway's answer and the
ledger's record of it, which the ledger then says).
"""

from __future__ import annotations

import asyncio
import random
import sys
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from alerting.api.app import start as start_api
from alerting.api.context import ApiContext
from alerting.ledger import Ledger
from core.contracts import Anomaly, Recovery
from devstack.im_robot_server import ImRobotServer, Robot
from devstack.influxdb_server import InfluxDBServer
from devstack.kafka_server import KafkaServer
from devstack.kannel_server import KannelServer, ReceivedSms
from devstack.process import free_port
from fixtures.alerting import OWNERS, anomaly, eventually, minutes, recovery
from fixtures.worker_process import WorkerProcess, worker_processes
from runtime.topics import ensure_topics
from stack_config import write_test_config
from telewatch.alerting_wiring import ack_links, ledger_url
from telewatch.config import Config, load_config

DING_TOKEN, DING_SECRET = "dt-" + uuid.uuid4().hex, "SEC" + uuid.uuid4().hex
SECRET = "x" * 64
ROOMY = ((10_000, 1.0),)


@dataclass
class Rig:
    config_path: Path
    config: Config
    phone: str
    robots: ImRobotServer
    ledger: Ledger


@pytest.fixture
async def rig(
    tmp_path: Path,
    kafka_server: KafkaServer,
    influxdb_server: InfluxDBServer,
    kannel_server: KannelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Rig]:
    # The owner's IM group is a DingTalk robot: the contract server checks each request's timestamp and signature.
    robots = ImRobotServer([Robot("dingtalk", "sms-centre", DING_TOKEN, DING_SECRET, limits=ROOMY)])
    robot_base = await robots.start()
    phone = f"86137{uuid.uuid4().int % 10**8:08d}"
    owners = {
        **OWNERS,
        "people": {**OWNERS["people"], "li.wei": {**OWNERS["people"]["li.wei"], "phone": phone}},
        "im_groups": {
            "sms-centre": {
                "kind": "dingtalk",
                "token_env": "TW_TEST_DING_TOKEN",
                "secret_env": "TW_TEST_DING_SECRET",
                "url": robot_base,
            }
        },
    }
    owners["people"] = {k: {**v, "im_groups": [g for g in v.get("im_groups", []) if g == "sms-centre"]}
                        for k, v in owners["people"].items()}  # fmt: skip
    owners["escalations"]["standard"][0]["notify"]["groups"] = []
    owners["owners"]["wireless"]["groups"] = []
    prefix = f"al{uuid.uuid4().hex[:8]}"
    api_port = free_port()
    path = write_test_config(
        tmp_path,
        kafka={"mode": "external", "bootstrap_servers": [kafka_server.endpoint],
               "topics": {"anomalies": {"name": f"{prefix}.anomalies", "partitions": 1}}},
        influxdb={"mode": "external", "url": influxdb_server.url, "database": prefix},
        alerting={
            "owners": owners,
            "route": {"receiver": "sms", "group_by": ["..."], "group_wait": "1s", "group_interval": "2s"},
            "resolve_after_windows": 3,
            "ledger_url": f"sqlite:///{tmp_path / 'ledger.db'}",
            "sms": {"kannel": {"url": kannel_server.endpoint, "username": kannel_server.concat_username,
                               "password_env": "TW_TEST_KANNEL_PASSWORD"}},
            "sms_budget": {"per_recipient_per_hour": 1000},
            "delivery": {"poll_every": "0.1s", "lease": "3s", "backoff_initial": "1s"},
            "api": {"public_url": f"http://127.0.0.1:{api_port}"},
        },
    )  # fmt: skip
    monkeypatch.setenv("TW_ACK_LINK_SECRET", SECRET)
    monkeypatch.setenv("TW_TEST_DING_TOKEN", DING_TOKEN)
    monkeypatch.setenv("TW_TEST_DING_SECRET", DING_SECRET)
    monkeypatch.setenv("TW_TEST_KANNEL_PASSWORD", kannel_server.password)
    config = load_config(path)
    await ensure_topics(config.bootstrap_servers(), config.kafka)
    ledger = Ledger.open(ledger_url(config))
    ctx = ApiContext(ledger=ledger, settings=config.alerting, links=ack_links(config), receipt_secret=SECRET.encode())
    runner, _ = await start_api(ctx, "127.0.0.1", api_port)
    try:
        yield Rig(path, config, phone, robots, ledger)
    finally:
        await runner.cleanup()
        await robots.stop()
        ledger.close()


def start(rig: Rig, name: str) -> WorkerProcess:
    data = rig.config_path.parent / "w"
    data.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "telewatch", "alerting", "-c", str(rig.config_path)]
    command += ["--status-file", str(data / f"{name}.json"), "--status-every", "0.05"]
    return WorkerProcess(command, data / f"{name}.json", data / f"{name}.log")


async def produce(config: Config, records: Sequence[Anomaly | Recovery]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap_servers())
    await producer.start()
    try:
        for record in records:
            await producer.send(
                config.kafka.topics.anomalies.name, msgspec.json.encode(record), key=record.series.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


def influx(config: Config, q: str) -> list[list[Any]]:
    params = urllib.parse.urlencode({"q": q, "db": config.influxdb.database})
    with urllib.request.urlopen(f"{config.influxdb.url}/query?{params}", timeout=10) as answer:
        body = msgspec.json.decode(answer.read())
    return [row for s in body["results"][0].get("series", []) for row in s["values"]]


SERIES = "sms_delivery_success_rate|channel=106900001"


async def test_an_incident_reaches_the_owner_and_its_recovery_closes_the_loop(
    rig: Rig, kannel_server: KannelServer
) -> None:
    episode = [anomaly(SERIES, minutes(m), value=0.41 + m / 100, severity="critical", started=minutes(0))
               for m in range(3)]  # fmt: skip
    with worker_processes() as started:
        worker = start(rig, "one")
        started.append(worker)
        await produce(rig.config, episode)
        received = await eventually(
            lambda: [m for m in kannel_server.received_messages() if m.receiver == rig.phone], "the owner's SMS"
        )
        [sms] = received
        assert sms.parts >= 2 and "[严重] 短信送达率 异常 channel=106900001" in sms.text
        assert (
            "短信送达率 0.43，正常 0.97（0.95–0.99），自 12-08 10:00 起" in sms.text
            and f"{rig.config.alerting.api.public_url}/a/" in sms.text
        )
        [im] = await eventually(lambda: rig.robots.received_by("sms-centre"), "the IM group's message")
        assert im.vendor == "dingtalk" and "短信送达率" in im.text and im.mentions == (rig.phone,)
        [alert] = rig.ledger.alerts()
        assert alert.status == "firing" and alert.peak == 0.41 and alert.value == 0.43
        sms_row = next(i for i in rig.ledger.outbox_items() if i.channel == "sms")
        receipts = await eventually(
            lambda: [r for r in rig.ledger.receipts(key=sms_row.key) if r.status == "delivered"],
            "Kannel's delivery receipt",
        )
        assert "delivered to the phone" in receipts[0].detail

        await produce(rig.config, [recovery(SERIES, minutes(m), m - 2) for m in range(3, 6)])
        await eventually(lambda: rig.ledger.alert(alert.id).status == "resolved", "the resolution")
        resolved = await eventually(
            lambda: [m for m in kannel_server.received_messages() if m.receiver == rig.phone and "已恢复" in m.text],
            "the owner told of the resolution",
        )
        assert len(resolved) == 1
        rows = await eventually(
            lambda: influx(rig.config, "SELECT alert_id, via FROM telewatch_alert GROUP BY status"), "InfluxDB points"
        )
        assert {row[1] for row in rows} == {alert.id}
        sent = await eventually(
            lambda: influx(rig.config, "SELECT count(attempt) FROM telewatch_delivery"), "deliveries"
        )
        assert sent[0][1] >= 2
        tagged = influx(rig.config, 'SHOW TAG VALUES FROM "telewatch_delivery" WITH KEY = "vendor"')
        assert {row[1] for row in tagged} == {"kannel", "dingtalk"}
        acked = influx(rig.config, "SELECT since_fired_s FROM telewatch_alert WHERE status = 'resolved'")
        assert acked and acked[0][1] > 0
        cells = await eventually(lambda: influx(rig.config, "SELECT count FROM telewatch_alerts_open"), "snapshots")
        assert len(cells) % 32 == 0  # every severity × status × age, zeros included, in each snapshot
        budget = influx(rig.config, "SELECT capacity, sent_today FROM telewatch_budget GROUP BY channel, template")
        assert budget and all(row[1] > 0 for row in budget)
        status = worker.status() or {}
        assert status["opened"] == 1 and status["resolved"] == 1 and status["dead"] == 0
    assert len([m for m in kannel_server.received_messages() if m.receiver == rig.phone]) == 2


def reached(counter: str, target: int, status: dict[str, Any]) -> bool:
    return int(status[counter]) >= target


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kill_9_at_random_points_neither_loses_nor_repeats_a_message(
    rig: Rig, kannel_server: KannelServer, seed: int
) -> None:
    rng = random.Random(seed)
    channels = [f"1069{seed}{i:04d}" for i in range(24)]
    waves = [channels[i : i + 12] for i in range(0, 24, 12)]

    def mine() -> list[ReceivedSms]:
        return [m for m in kannel_server.received_messages() if m.receiver == rig.phone]

    with worker_processes() as started:
        for round_, wave in enumerate(waves):
            worker = start(rig, f"w{round_}")
            started.append(worker)
            await worker.wait_for(lambda s: bool(s.get("assigned")), "the partition assigned")
            await produce(rig.config, [anomaly(f"sms_delivery_success_rate|channel={c}", minutes(0)) for c in wave])
            # Killed while reading the wave, or while sending it (its SMS and IM messages), at a random point.
            counter, target = rng.choice([("anomalies", rng.randint(1, 12)), ("sent", rng.randint(1, 16))])
            await worker.wait_for(partial(reached, counter, target), f"{target} {counter}")
            await asyncio.sleep(rng.uniform(0.0, 0.2))
            worker.kill9()
        final = start(rig, "final")
        started.append(final)
        await eventually(
            lambda: (
                len([i for i in rig.ledger.outbox_items() if i.channel == "sms"]) == 24
                and all(i.state == "sent" for i in rig.ledger.outbox_items())
            ),
            "every notification sent",
            limit_s=120,
        )

    def arrived() -> Counter[str]:
        return Counter(next(c for c in channels if f"channel={c}" in m.text) for m in mine())

    await eventually(lambda: set(arrived()) == set(channels), "every SMS at the SMS centre", limit_s=30)
    await asyncio.sleep(1.0)  # a repeat, if any, would arrive by now
    counted = arrived()
    repeated = {c for c, n in counted.items() if n > 1}
    noted = {
        next(c for c in channels if f"channel={c}" in i.payload["title"])
        for i in rig.ledger.outbox_items()
        if i.channel == "sms" and any("may have been sent once" in a.detail for a in rig.ledger.attempts(i.key))
    }
    assert repeated <= noted, "an SMS sent twice only where its worker died between sending and recording"
    assert len(rig.ledger.alerts()) == 24, "one alert per series, however often the records were read"
    told = " ".join(r.text for r in rig.robots.received_by("sms-centre"))
    assert all(f"channel={c}" in told for c in channels), "the IM group was told of every alert"

"""The API's service endpoints over a real ledger: Kannel delivery receipts (signed dlr-url), notifications and
dead letters, /metrics against the ledger's own numbers, /health, the owners registry (phones masked), the route
tree and the hotline lookup."""

from __future__ import annotations

import urllib.parse
from datetime import timedelta

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from alerting.api.receipts import KANNEL_RECEIPTS
from alerting.ledger import Ledger, Notification
from alerting.notify.base import Message
from alerting.notify.dlr import dlr_url, signature
from alerting.notify.kannel import KannelNotifier
from alerting.settings import AlertingSettings
from core.privacy import mask_msisdn
from fixtures.api import OWNERS, PHONES, SECRET, T0, Clock, context, seed, served, tokens

SMS = Notification("li.wei", "sms", {"to": PHONES[0], "text": "SMS success rate low in north"})


def callback(key: str, status: int, secret: bytes | None = SECRET) -> str:
    """The path and query Kannel fetches for ``key``: our dlr-url with its escape codes filled in."""
    url = dlr_url(f"http://tw{KANNEL_RECEIPTS}", key, secret)
    filled = {"%d": str(status), "%T": "1796432400", "%I": "kannel-7", "%p": PHONES[0], "%A": "ACK/", "%F": "smsc-9"}
    for code, value in filled.items():
        url = url.replace(code, urllib.parse.quote(value))
    return url.removeprefix("http://tw")


# -- delivery receipts ----------------------------------------------------------------------------------


async def test_a_signed_receipt_is_recorded_and_a_forged_or_unsigned_one_refused(ledger: Ledger) -> None:
    key = "alert:1:1:sms:li.wei"
    odd_key = "告警:7:sms"  # travels as key64
    ledger.enqueue(key, SMS, T0)
    ledger.enqueue(odd_key, SMS, T0)
    async with served(context(ledger)) as api:
        status, answer = await api.get(callback(key, 8))
        assert (status, answer) == (200, {"recorded": True, "status": "smsc_ack"})
        status, answer = await api.get(callback(odd_key, 1))
        assert (status, answer) == (200, {"recorded": True, "status": "delivered"})

        forged = callback(key, 1).replace(f"sig={signature(SECRET, key)}", f"sig={signature(b'x' * 32, key)}")
        unsigned = callback(key, 1, secret=None)
        other = callback(key, 1).replace("li.wei", "zhang.min")  # the signature of another key
        for path in (forged, unsigned, other):
            status, answer = await api.get(path)
            assert status == 401 and "sig" in answer["error"], (path, answer)
        status, answer = await api.get(f"{KANNEL_RECEIPTS}?status=1")
        assert status == 401 and "without 'key'" in answer["error"]

        status, answer = await api.get(callback("alert:9:9:sms:nobody", 1))  # signed, but no such notification
        assert status == 404 and "alert:9:9:sms:nobody" in answer["error"]
        status, answer = await api.get(callback(key, 1).replace("status=1", "status=3"))
        assert status == 400 and "status '3'" in answer["error"]

    kept = ledger.receipts(key=key)
    assert [(r.status, r.vendor_id, r.detail) for r in kept] == [
        ("smsc_ack", "smsc-9", "DLR 8 accepted by the SMSC: ACK/")
    ]
    assert [r.status for r in ledger.receipts(key=odd_key)] == ["delivered"]
    assert all(PHONES[0] not in r.detail for r in ledger.receipts())  # %p is never kept


async def test_receipts_are_refused_when_the_api_has_no_secret(ledger: Ledger) -> None:
    ledger.enqueue("k-1", SMS, T0)
    ctx = context(ledger)
    ctx.receipt_secret = b""
    async with served(ctx) as api:
        status, answer = await api.get(callback("k-1", 1))
    assert status == 503 and "receipt secret" in answer["error"]
    assert ledger.receipts() == []


def test_the_kannel_notifier_signs_its_dlr_url_and_keeps_kannels_escapes() -> None:
    notifier = KannelNotifier(
        "kannel", "http://kannel/cgi-bin/sendsms", "u", "p", dlr_base_url="http://tw/dlr", receipt_secret=SECRET
    )
    query = notifier._query(Message("alert:3:2:sms:li.wei", "t", "x", to=PHONES[0]))
    url = query["dlr-url"]
    assert f"key=alert:3:2:sms:li.wei&sig={signature(SECRET, 'alert:3:2:sms:li.wei')}&status=%d&ts=%T" in url
    assert url.count("%") == 6  # Kannel's six escape codes, nothing else
    plain = KannelNotifier("kannel", "http://kannel/cgi-bin/sendsms", "u", "p", dlr_base_url="http://tw/dlr")
    assert "sig=" not in plain._query(Message("k", "t", "x", to=PHONES[0]))["dlr-url"]


# -- notifications and dead letters ---------------------------------------------------------------------


async def test_dead_letters_and_an_alerts_notifications_with_their_attempts(ledger: Ledger) -> None:
    ids = seed(ledger)
    ledger.enqueue("k-dead", SMS, T0, alert_id=ids["sms"])
    ledger.enqueue("k-ok", Notification("ops", "im", {"text": f"call {PHONES[1]}"}), T0, alert_id=ids["sms"])
    ledger.enqueue("k-other", SMS, T0, alert_id=ids["drop"])
    ledger.claim_due(T0, 10, "w1")
    ledger.record_attempt("k-dead", "retry", "HTTP 503: busy", T0, next_attempt_at=T0 + timedelta(minutes=1))
    ledger.claim_due(T0 + timedelta(minutes=1), 10, "w1")
    ledger.record_attempt("k-dead", "permanent", f"HTTP 400: bad number {PHONES[0]}", T0 + timedelta(minutes=1))
    ledger.record_attempt("k-ok", "sent", "HTTP 200", T0, vendor_id="v-1")
    token = tokens(ledger).read
    async with served(context(ledger)) as api:
        status, dead = await api.get("/api/v1/deliveries?state=dead", token)
        assert status == 200 and dead["total"] == 1
        (row,) = dead["deliveries"]
        assert (row["key"], row["state"], row["attempt_count"], row["recipient"]) == ("k-dead", "dead", 2, "li.wei")
        assert [(a["attempt"], a["outcome"]) for a in row["attempts"]] == [(1, "retry"), (2, "permanent")]
        assert row["dead_reason"] == f"HTTP 400: bad number {mask_msisdn(PHONES[0])}"
        assert row["payload"]["to"] == mask_msisdn(PHONES[0])

        status, mine = await api.get(f"/api/v1/alerts/{ids['sms']}/deliveries", token)
        assert status == 200 and sorted(d["key"] for d in mine["deliveries"]) == ["k-dead", "k-ok"]
        status, im = await api.get("/api/v1/deliveries?channel=im", token)
        assert [(d["key"], d["state"], d["vendor_id"]) for d in im["deliveries"]] == [("k-ok", "sent", "v-1")]
        assert im["deliveries"][0]["payload"]["text"] == f"call {mask_msisdn(PHONES[1])}"
        status, page = await api.get("/api/v1/deliveries?limit=1", token)
        assert page["total"] == 3 and len(page["deliveries"]) == 1
        assert (await api.get("/api/v1/alerts/77777/deliveries", token))[0] == 404
        async with api.client.get("/api/v1/deliveries", headers={"Authorization": f"Bearer {token}"}) as raw:
            text = await raw.text()
        assert PHONES[0] not in text and PHONES[1] not in text


# -- /metrics and /health -------------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_are_the_ledgers_numbers_at_scrape_time(ledger: Ledger) -> None:
    ids = seed(ledger)
    ledger.ack(ids["drop"], "zhang.min", "im", T0 + timedelta(minutes=30), timedelta(minutes=30))
    for n in range(3):
        ledger.enqueue(f"k-{n}", SMS, T0, alert_id=ids["sms"])
    ledger.enqueue("k-im", Notification("ops", "im"), T0)
    ledger.claim_due(T0, 2, "w1")
    ledger.record_attempt("k-0", "permanent", "HTTP 400", T0)
    ledger.record_attempt("k-1", "sent", "HTTP 202", T0)
    ledger.record_receipt("v", "delivered", "DLR 1", T0, key="k-1")
    async with served(context(ledger, health={"consumer_lag": 42, "worker up": 1})) as api:
        async with api.client.get("/metrics") as answer:
            assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
            first = samples(await answer.text())
        ledger.resolve(ids["sms"], "li.wei", "im", T0 + timedelta(minutes=40))
        async with api.client.get("/metrics") as answer:
            second = samples(await answer.text())

    assert first[("telewatch_alerts", (("status", "firing"),))] == 2
    assert first[("telewatch_alerts", (("status", "acknowledged"),))] == 1
    assert first[("telewatch_alerts", (("status", "resolved"),))] == 0
    outbox = {labels: v for (name, labels), v in first.items() if name == "telewatch_outbox_rows"}
    assert outbox == {
        (("channel", "sms"), ("state", "dead")): 1,
        (("channel", "sms"), ("state", "sent")): 1,
        (("channel", "sms"), ("state", "pending")): 1,
        (("channel", "im"), ("state", "pending")): 1,
    }
    assert first[("telewatch_dead_letters", ())] == len(ledger.dead_letters()) == 1
    attempts = {labels: v for (name, labels), v in first.items() if name == "telewatch_delivery_attempts_total"}
    assert attempts == {
        (("channel", "sms"), ("outcome", "permanent")): 1,
        (("channel", "sms"), ("outcome", "sent")): 1,
        (("channel", "sms"), ("outcome", "retry")): 0,
    }
    assert first[("telewatch_delivery_receipts_total", (("status", "delivered"),))] == 1
    assert first[("telewatch_consumer_lag", ())] == 42 and first[("telewatch_worker_up", ())] == 1
    # Computed at scrape time: the resolve shows in the next scrape.
    assert second[("telewatch_alerts", (("status", "firing"),))] == 1
    assert second[("telewatch_alerts", (("status", "resolved"),))] == 1


async def test_health_is_ok_with_a_reachable_ledger(ledger: Ledger) -> None:
    async with served(context(ledger)) as api:
        assert await api.get("/health") == (200, {"status": "ok"})


async def test_health_is_503_and_reads_are_503_when_the_ledger_is_unreachable() -> None:
    unreachable = Ledger(sa.create_engine("sqlite:////nonexistent-dir/ledger.db"))
    async with served(context(unreachable)) as api:
        status, answer = await api.get("/health")
        assert status == 503 and "unreachable" in answer["error"]
        status, answer = await api.get("/api/v1/alerts", "tw_any")
        assert status == 503 and "unreachable" in answer["error"]


# -- configuration and the hotline ----------------------------------------------------------------------


async def test_owners_show_people_with_masked_phones_and_who_is_on_call(ledger: Ledger) -> None:
    token = tokens(ledger).read
    clock = Clock()  # 2026-12-05, the 5th day of the daily rotation from 12-01: zhang.min, li.wei, ... → zhang.min
    async with served(context(ledger, clock)) as api:
        async with api.client.get("/api/v1/owners", headers={"Authorization": f"Bearer {token}"}) as raw:
            text = await raw.text()
        status, owners = await api.get("/api/v1/owners", token)
    assert status == 200
    assert all(phone not in text for phone in PHONES)
    assert owners["people"]["li.wei"] == {
        "name": "李伟",
        "phone": mask_msisdn(PHONES[0]),
        "language": "en",
        "im_groups": ["sms-centre"],
    }
    assert owners["rotations"]["noc-duty"]["on_call"] == "zhang.min"
    assert owners["owners"]["sms"]["department"] == "短信中心"
    assert owners["im_groups"]["sms-centre"]["token_env"] == "TW_WECOM_SMS_CENTRE_KEY"
    chain = owners["escalations"]["standard"]
    assert [(s["notify"], s["wait"], s["notify_oncall"]) for s in chain] == [
        ({"people": ["li.wei"], "groups": []}, None, None),
        (None, "15m", None),
        (None, None, "noc-duty"),
    ]


async def test_routes_default_to_one_per_owner_and_show_inherited_options(ledger: Ledger) -> None:
    token = tokens(ledger).read
    async with served(context(ledger)) as api:
        status, default = await api.get("/api/v1/routes", token)
    assert status == 200 and default["configured"] is False
    root = default["route"]
    assert root["receiver"] == "noc" and root["group_wait_s"] == 30.0
    assert [(r["receiver"], r["matchers"]) for r in root["routes"]] == [
        ("sms", ['metric=~"sms_delivery_.*"']),
        ("wireless", ['metric="call_drop_rate"']),
    ]
    tree = {
        "receiver": "wireless",
        "group_by": ["region"],
        "group_wait": "10s",
        "routes": [{"matchers": ['metric=~"sms_.*"'], "receiver": "sms", "continue": True, "repeat_interval": "1h"}],
    }
    settings = AlertingSettings.model_validate({"owners": OWNERS, "route": tree})
    async with served(context(ledger, settings=settings)) as api:
        status, configured = await api.get("/api/v1/routes", token)
    assert status == 200 and configured["configured"] is True
    (child,) = configured["route"]["routes"]
    assert child["path"] == "0.0" and child["continue"] is True and child["receiver"] == "sms"
    assert (child["group_by"], child["group_wait_s"], child["repeat_interval_s"]) == (["region"], 10.0, 3600.0)


async def test_the_hotline_lists_the_incidents_where_the_caller_is(ledger: Ledger) -> None:
    ids = seed(ledger)
    ledger.ack(ids["drop"], "zhang.min", "api", T0 + timedelta(minutes=30), timedelta(hours=1))
    token = tokens(ledger).read
    async with served(context(ledger)) as api:
        status, north = await api.get("/api/v1/hotline?region=north&cell=c042", token)
        assert status == 200 and (north["region"], north["cell"]) == ("north", "c042")
        assert [(i["alert_id"], i["progress"]) for i in north["incidents"]] == [
            (str(ids["drop"]), "处理中（张敏）"),
            (str(ids["sms"]), "已发现，正在通知负责人"),
        ]
        assert north["incidents"][0]["script"] == "该区域通话质量下降，工程师正在处理。"
        status, other_cell = await api.get("/api/v1/hotline?region=north&cell=c001", token)
        assert [i["alert_id"] for i in other_cell["incidents"]] == [str(ids["sms"])]
        status, answer = await api.get("/api/v1/hotline", token)
        assert status == 400 and "'region' is required" in answer["error"]

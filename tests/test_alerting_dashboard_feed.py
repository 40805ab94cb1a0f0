"""What the alerting dashboards read from InfluxDB: the vendor of each delivery attempt, the time since an alert
first fired, escalation steps (exactly once, across a feed restart), and the open-alerts and SMS-budget snapshots.

Over a real ledger (SQLite and PostgreSQL); escalation points are also written to a real InfluxDB 1.6.7.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from alerting.feed import SNAPSHOT_S, Feed, budget_lines, open_alert_lines, snapshot_slot
from alerting.ledger import Ledger, Notification
from alerting.notify.registry import build_channels, vendor_of
from alerting.pipeline.budget import decide, template_of
from alerting.pipeline.plan import Planner
from alerting.settings import AlertingSettings
from core.influx_schema import AGE_BUCKETS, alerts_open_line, budget_line, delivery_line, escalation_line, to_ns
from devstack.influxdb_server import InfluxDBServer
from fixtures.alerting import SENDER, Pipeline, anomaly, minutes, points, settings
from runtime.influx_sink import InfluxSink, V1Writer

CALLS = [f"call_setup_success_rate|cell_id=north-c{i}|region=north" for i in range(2)]
SMS_N = "sms_delivery_success_rate|channel=106900001"


def ts(t: datetime) -> int:
    return to_ns(t)


# -- line builders ---------------------------------------------------------------------------------------


def test_line_builders_refuse_or_leave_out_what_influxdb_cannot_take() -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    assert "used" not in budget_line("10690000", "rest", 0, 3, t)  # no capacity: no share
    assert "used=1.5 " in budget_line("10690000", "rest", 2, 3, t)  # critical SMS over budget: above 1
    with pytest.raises(ValueError, match="tiebreak_ns"):
        escalation_line("m", "major", 1, 7, 1, t, 1000)
    with pytest.raises(TypeError):
        delivery_line("sms", "li.wei", "sent", 1, 0.1, t)  # type: ignore[call-arg]  # the vendor is required
    assert alerts_open_line("info", "acknowledged", "4h+", 0, 0, t).endswith(" count=0i,correlated=0i " + str(ts(t)))


def test_vendor_names_are_the_configs_names() -> None:
    """The notifiers build_channels makes (nothing is sent) are named as the config names their vendor."""
    kinds = ("wecom", "dingtalk", "feishu", "slack")
    groups = {kind: {"kind": kind, "token_env": "TW_TEST_TOKEN", "secret_env": "TW_TEST_SECRET"} for kind in kinds}
    env = {"TW_TEST_TOKEN": "t" * 20, "TW_TEST_SECRET": "s" * 20, "TW_KANNEL_PASSWORD": "pw"}
    config = AlertingSettings.model_validate({"owners": {"im_groups": groups}})
    kannel = build_channels(config, env, kannel_url="http://127.0.0.1:1")
    http = build_channels(
        AlertingSettings.model_validate({"sms": {"gateway": "http", "http": {"url": "http://127.0.0.1:1/send"}}}),
        env,
        kannel_url="http://127.0.0.1:1",
    )
    assert vendor_of(kannel.sms) == "kannel" and vendor_of(http.sms) == "http" and vendor_of(None) == "none"
    assert {name: vendor_of(robot) for name, robot in kannel.im.items()} == {k: k for k in kinds}


# -- transitions and attempts --------------------------------------------------------------------------------


def test_transitions_carry_the_seconds_since_the_alert_first_fired(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    # The episode started 10 min before it fired (event time): the clock starts at the firing, not the episode.
    p.feed(anomaly(SMS_N, minutes(0), started=minutes(-10)), at=minutes(0))
    [alert] = ledger.alerts()
    ledger.ack(alert.id, "li.wei", "sms_link", minutes(4), timedelta(minutes=10))
    ledger.expire_acks(minutes(14))  # fires again: 14 min after it first fired
    ledger.ack(alert.id, "wang.fang", "im", minutes(15.5), timedelta(minutes=10))
    ledger.resolve(alert.id, "wang.fang", "api", minutes(20))
    found = points(Feed(ledger).lines(), "telewatch_alert")
    assert [(tags["status"], fields["since_fired_s"], t) for tags, fields, t in found] == [
        ("firing", "0.0", ts(minutes(0))),
        ("acknowledged", "240.0", ts(minutes(4))),
        ("firing", "840.0", ts(minutes(14))),
        ("acknowledged", "930.0", ts(minutes(15.5))),
        ("resolved", "1200.0", ts(minutes(20))),
    ]


def test_attempts_carry_the_vendor_recorded_with_them(ledger: Ledger) -> None:
    now = minutes(1)
    for key, recipient, channel in [("k-sms", "li.wei", "sms"), ("k-digest", "li.wei", "sms_digest"),
                                    ("k-im", "sms-centre", "im"), ("k-none", "wireless-noc", "im")]:  # fmt: skip
        ledger.enqueue(key, Notification(recipient, channel, {"title": key}), minutes(0))
    ledger.claim_due(now, 10, "w1")
    for key, vendor in [("k-sms", "kannel"), ("k-digest", "kannel"), ("k-im", "wecom"), ("k-none", "none")]:
        ledger.record_attempt(key, "sent" if vendor != "none" else "permanent", "ok", now, vendor=vendor)
    ledger.enqueue("k-lost", Notification("sms-centre", "im", {"title": "lost"}), now)
    ledger.claim_due(now, 10, "gone")  # claimed by a worker that died: the next claim notes an attempt
    ledger.claim_due(minutes(10), 10, "w2")
    found = points(Feed(ledger).lines(), "telewatch_delivery")
    assert [(tags["channel"], tags["recipient"], tags["vendor"], tags["outcome"]) for tags, _, _ in found] == [
        ("sms", "li.wei", "kannel", "sent"),
        ("sms_digest", "li.wei", "kannel", "sent"),
        ("im", "sms-centre", "wecom", "sent"),
        ("im", "wireless-noc", "none", "permanent"),
        ("im", "sms-centre", "unknown", "retry"),  # the vanished worker's claim: its vendor was never recorded
    ]
    assert found[0][1]["latency_s"] == "60.0"


# -- escalation -----------------------------------------------------------------------------------------------


async def test_each_escalation_step_is_one_point_even_across_a_feed_restart(
    ledger: Ledger, influxdb_server: InfluxDBServer
) -> None:
    p = Pipeline(ledger, settings())
    p.feed(*(anomaly(s, minutes(0)) for s in CALLS), at=minutes(0))
    # The chain: notify the owner (told by the group already: skipped), wait 15m, the on-call (step 3), wait 30m,
    # repeat once: the owner's person and group again (step 1, at 45 min, though the tick began on the first
    # pass), wait 15m, the on-call again.
    p.run(minutes(0), 61, every_s=60)
    feed = Feed(ledger)
    first = feed.lines()
    assert feed.lines() == []  # nothing new: nothing twice
    steps = points(first, "telewatch_escalation")
    ids = sorted(a.id for a in ledger.alerts())
    # Each at its step's time, nudged by under a microsecond so that the two alerts' points stay apart.
    assert sorted((t["step"], f["targets"], f["alert_id"], tm // 1000) for t, f, tm in steps) == sorted(
        [("3", "1i", f"{i}i", ts(minutes(15)) // 1000) for i in ids]
        + [("1", "2i", f"{i}i", ts(minutes(45)) // 1000) for i in ids]
        + [("3", "1i", f"{i}i", ts(minutes(60)) // 1000) for i in ids]
    )
    assert len({tm for _, _, tm in steps}) == 6
    assert {(t["metric"], t["severity"]) for t, _, _ in steps} == {("call_setup_success_rate", "major")}
    assert p.schedule.counts.escalations == 6
    comments = [h.comment for a in ids for h in ledger.history(a) if h.comment and h.comment.startswith("escalation")]
    assert len(comments) == 6

    again = Feed(ledger).lines()  # a restarted worker's feed starts from the first row
    assert points(again, "telewatch_escalation") == steps
    db = f"t_{uuid.uuid4().hex[:12]}"
    async with InfluxSink(V1Writer(influxdb_server.url, db), flush_interval_s=0.1) as sink:
        sink.add(first)
        sink.add(again)
        await asyncio.wait_for(sink.flush(), 10)
    answer = influxdb_server.query('SELECT count("alert_id") FROM "telewatch_escalation" GROUP BY "step"', db=db)
    counts = {s["tags"]["step"]: s["values"][0][1] for s in answer["results"][0]["series"]}
    assert counts == {"1": 2, "3": 4}  # two alerts escalating in the same tick stay two points


def test_a_step_that_notifies_nobody_has_no_point(ledger: Ledger) -> None:
    interval = {"name": "night", "periods": [{"times": [{"start_time": "00:00", "end_time": "24:00"}]}]}
    p = Pipeline(ledger, settings(time_intervals=[interval], quiet_hours="night"))  # SMS for critical only
    p.feed(anomaly(CALLS[0], minutes(0)), at=minutes(0))
    p.run(minutes(0), 20, every_s=60)  # the on-call step (chen.jie, SMS only) at 15 min: kept off SMS
    assert points(Feed(ledger).lines(), "telewatch_escalation") == []
    assert p.schedule.counts.escalations == 0


# -- snapshots ------------------------------------------------------------------------------------------------


def _cells(lines: list[str]) -> dict[tuple[str, str, str], tuple[int, int]]:
    return {
        (t["severity"], t["status"], t["age"]): (int(f["count"].rstrip("i")), int(f["correlated"].rstrip("i")))
        for t, f, _ in points(lines, "telewatch_alerts_open")
    }


def test_the_open_alerts_snapshot_counts_every_cell_zeros_included(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    now = minutes(300)
    correlated = "call_setup_success_rate|region=north|scenario=dropped_calls"
    p.feed(anomaly(SMS_N, minutes(0), severity="critical", started=minutes(-60)), at=minutes(0))  # 5 h: 4h+
    p.feed(anomaly("sms_delivery_success_rate|channel=106900002", minutes(0), severity="warning"), at=minutes(0))
    p.feed(anomaly(CALLS[0], minutes(250), severity="major"), at=minutes(250))  # 50 min: 15m-1h
    p.feed(anomaly(CALLS[0].replace("c0", "c1"), minutes(290), severity="major"), at=minutes(290))  # 0-15m
    p.feed(anomaly(CALLS[0].replace("c0", "c1"), minutes(286), severity="major"), at=minutes(291))  # same alert
    # A correlated incident (metric anomaly + complaint surge) and the plain anomaly of the same series.
    p.feed(anomaly(correlated, minutes(250), severity="major", detector="correlation"), at=minutes(250))
    p.feed(anomaly(correlated, minutes(250), severity="major"), at=minutes(250))
    p.feed(anomaly("sms_delivery_success_rate|channel=106900003", minutes(0), severity="info"), at=minutes(0))
    by_id = {a.labels["series"] + a.labels["detector"]: a.id for a in ledger.alerts()}
    ledger.ack(by_id[SMS_N + "auto"], "li.wei", "api", minutes(100), timedelta(hours=10))
    ledger.resolve(by_id["sms_delivery_success_rate|channel=106900003auto"], "li.wei", "api", minutes(10))
    # The warning alert's latest anomaly is critical: it counts where its messages put it.
    p.feed(anomaly("sms_delivery_success_rate|channel=106900002", minutes(200), severity="critical"), at=minutes(200))

    lines = open_alert_lines(ledger, now)
    cells = _cells(lines)
    assert len(lines) == len(cells) == 4 * 2 * 4
    nonzero = {cell: n for cell, n in cells.items() if n != (0, 0)}
    assert nonzero == {
        ("critical", "acknowledged", "4h+"): (1, 0),
        ("critical", "firing", "4h+"): (1, 0),
        ("major", "firing", "15m-1h"): (3, 1),  # a cell alert, and the incident with its plain anomaly
        ("major", "firing", "0-15m"): (1, 0),
    }
    assert {age for _, _, age in cells} == {name for name, _ in AGE_BUCKETS}
    assert {t for _, _, t in points(lines, "telewatch_alerts_open")} == {ts(datetime(2026, 12, 8, 7, 0, tzinfo=UTC))}


def test_the_budget_snapshot_is_what_decide_decides_on(ledger: Ledger) -> None:
    budget = {
        "capacity": {"first_day": 2, "days_2_10": 5, "rest": 9},
        "per_channel": {"10690099": {"first_day": 7, "days_2_10": 8, "rest": 9}},
        "per_recipient_per_hour": 100,
    }
    config = settings(sms_budget=budget, route={"receiver": "sms", "group_by": ["..."]})
    day = datetime(2026, 12, 1, 2, tzinfo=UTC)  # 10:00 on the 1st in Shanghai: first_day
    p = Pipeline(ledger, config)
    for i in range(3):
        p.feed(anomaly(f"sms_delivery_success_rate|channel=10690000{i}", day), at=day)
    p.run(day, 1)
    assert len(p.outbox("sms")) == 2 and len(p.outbox("sms_digest")) == 1  # the third went to the digest
    planner = Planner(config, None, SENDER)
    now = day + timedelta(minutes=5)
    found = {
        t["channel"]: (t["template"], f) for t, f, _ in points(budget_lines(ledger, planner, now), "telewatch_budget")
    }
    assert found == {
        SENDER: ("first_day", {"capacity": "2i", "sent_today": "2i", "used": "1.0"}),
        "10690099": ("first_day", {"capacity": "7i", "sent_today": "0i", "used": "0.0"}),
    }
    assert template_of(now.date()) == "first_day"
    sent = planner.sms_sent_today(now, ledger.count_queued)
    assert decide(config.sms_budget, SENDER, "warning", now, sent, 0).action == "digest"  # full, as the snapshot says
    # Past local midnight the next template and a fresh count.
    after = datetime(2026, 12, 1, 16, 0, 1, tzinfo=UTC)  # 00:00:01 on the 2nd in Shanghai
    [mine] = [
        (t, f) for t, f, _ in points(budget_lines(ledger, planner, after), "telewatch_budget") if t["channel"] == SENDER
    ]
    assert mine == ({"channel": SENDER, "template": "days_2_10"}, {"capacity": "5i", "sent_today": "0i", "used": "0.0"})
    assert decide(config.sms_budget, SENDER, "warning", after, 0, 0).action == "send"


def test_no_sms_gateway_no_sms_channel_in_the_budget(ledger: Ledger) -> None:
    planner = Planner(settings(sms={"gateway": "none"}), None, SENDER)
    assert budget_lines(ledger, planner, minutes(0)) == []


def test_snapshots_are_taken_once_per_slot_from_the_first_tick(ledger: Ledger) -> None:
    feed = Feed(ledger)
    planner = Planner(settings(), None, SENDER)
    start = minutes(0) + timedelta(seconds=7)
    first = feed.snapshot(planner, start)
    assert len(points(first, "telewatch_alerts_open")) == 32 and len(points(first, "telewatch_budget")) == 1
    assert feed.snapshot(planner, start + timedelta(seconds=22)) == []  # same 30 s slot
    later = feed.snapshot(planner, start + timedelta(seconds=23))
    assert {t for _, _, t in points(later, "telewatch_alerts_open")} == {ts(minutes(0) + timedelta(seconds=30))}
    assert snapshot_slot(start) == minutes(0) and SNAPSHOT_S == 30

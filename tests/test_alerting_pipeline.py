"""The alerting pipeline over a real ledger (SQLite and PostgreSQL): anomalies in, planned notifications out.

Each noise-control stage has a test that fails without it: grouping, inhibition,
silences, time intervals, quiet hours, the SMS budget by calendar template,
escalation steps and the acknowledgement timeout; and the lifecycle: dedup by
fingerprint, auto-resolve telling the owner, a new episode after resolution,
and a batch read twice changing nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerting.ledger import Ledger, Matcher
from fixtures.alerting import Pipeline, anomaly, minutes, recovery, settings

SMS_N = "sms_delivery_success_rate|channel=106900001"
CELLS = [f"call_setup_success_rate|cell_id=north-c{i}|region=north" for i in range(3)]
REGION = "call_setup_success_rate|region=north"


def texts(items: list) -> list[str]:  # type: ignore[type-arg]
    return [f"{i.payload['title']}\n{i.payload['text']}" for i in items]


def test_one_alert_per_series_episode_updated_not_duplicated(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    p.feed(anomaly(SMS_N, minutes(0), 0.6), at=minutes(0))
    p.feed(anomaly(SMS_N, minutes(1), 0.4), anomaly(SMS_N, minutes(2), 0.5), at=minutes(2))
    [alert] = ledger.alerts()
    assert (alert.status, alert.value, alert.peak, alert.started_at) == ("firing", 0.5, 0.4, minutes(0))
    assert alert.labels["metric"] == "sms_delivery_success_rate" and alert.labels["channel"] == "106900001"
    assert [h.to_status for h in ledger.history(alert.id)] == ["firing"]


def test_group_wait_then_one_message_to_the_owner_by_sms_and_im(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    p.feed(anomaly(SMS_N, minutes(0)), at=minutes(0))
    p.run(minutes(0), 0.4)  # 24 s: still within group_wait (30 s)
    assert p.outbox() == []
    p.run(minutes(0.5), 1)
    sms, im = p.outbox("sms"), p.outbox("im")
    assert [(i.recipient, i.channel) for i in sms + im] == [("li.wei", "sms"), ("sms-centre", "im")]
    assert "短信送达率 0.5，正常 0.97（0.95–0.99）" in sms[0].payload["text"]
    assert "负责：短信中心 李伟" in sms[0].payload["text"]
    assert sms[0].payload["link"].startswith("http://tw.test/a/") and "8613800000001" not in str(sms[0].payload)
    assert im[0].payload["mentions"] == ["li.wei"]
    p.run(minutes(1.5), 10)  # nothing changed: no repeat before repeat_interval (4 h)
    assert len(p.outbox()) == 2


def test_grouping_puts_a_regions_cell_alerts_in_one_message(ledger: Ledger) -> None:
    grouped = Pipeline(ledger, settings(route={"receiver": "wireless", "group_by": ["metric", "region"]}))
    grouped.feed(*(anomaly(s, minutes(0)) for s in CELLS), at=minutes(0))
    grouped.run(minutes(0), 1)
    [sms] = grouped.outbox("sms")
    assert "等 3 条告警" in sms.payload["title"] and all(f"north-c{i}" in sms.payload["text"] for i in range(3))


def test_without_grouping_every_cell_alert_is_a_message(ledger: Ledger) -> None:
    alone = Pipeline(ledger, settings(route={"receiver": "wireless", "group_by": ["..."]}))
    alone.feed(*(anomaly(s, minutes(0)) for s in CELLS), at=minutes(0))
    alone.run(minutes(0), 1)
    assert len(alone.outbox("sms")) == 3


def test_a_regionwide_outage_inhibits_its_cells(ledger: Ledger) -> None:
    rule = {"source_matchers": ['scope="region"'], "target_matchers": ['scope="cell"'], "equal": ["region", "metric"]}
    p = Pipeline(ledger, settings(route={"receiver": "wireless", "group_by": ["..."]}, inhibit_rules=[rule]))
    p.feed(anomaly(REGION, minutes(0), severity="critical"), *(anomaly(s, minutes(0)) for s in CELLS), at=minutes(0))
    p.run(minutes(0), 1)
    [sms] = p.outbox("sms")
    assert "region=north" in sms.payload["title"] and "north-c" not in sms.payload["text"]
    assert len(ledger.alerts()) == 4  # inhibited alerts exist; only their messages are held back


def test_a_silence_mutes_until_it_is_expired(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    silence = ledger.create_silence(
        [Matcher("channel", "106900001")], minutes(-1), minutes(60), "li.wei", "SMSC maintenance", minutes(-1)
    )
    p.feed(anomaly(SMS_N, minutes(0)), at=minutes(0))
    p.run(minutes(0), 10)
    assert p.outbox() == []
    ledger.expire_silence(silence.id, minutes(10))
    p.run(minutes(10), 6)  # the next flush after group_interval (5 min) sees an unmuted alert
    assert [i.recipient for i in p.outbox()] == ["li.wei", "sms-centre"]


def test_a_muted_time_interval_holds_the_route_until_it_ends(ledger: Ledger) -> None:
    # 10:00-11:00 in Shanghai is T0's first hour
    interval = {"name": "maintenance", "periods": [{"times": [{"start_time": "10:00", "end_time": "11:00"}],
                                                    "location": "Asia/Shanghai"}]}  # fmt: skip
    route = {"receiver": "sms", "mute_time_intervals": ["maintenance"]}
    p = Pipeline(ledger, settings(route=route, time_intervals=[interval]))
    p.feed(anomaly(SMS_N, minutes(0)), at=minutes(0))
    p.run(minutes(0), 55, every_s=60)
    assert p.outbox() == []
    p.run(minutes(60), 6, every_s=60)
    assert [i.recipient for i in p.outbox()] == ["li.wei", "sms-centre"]


def test_quiet_hours_keep_non_critical_alerts_off_sms_but_not_off_im(ledger: Ledger) -> None:
    interval = {"name": "night", "periods": [{"times": [{"start_time": "00:00", "end_time": "24:00"}]}]}
    p = Pipeline(ledger, settings(time_intervals=[interval], quiet_hours="night", route={"receiver": "sms",
                                                                                        "group_by": ["..."]}))  # fmt: skip
    p.feed(anomaly(SMS_N, minutes(0), severity="major"), at=minutes(0))
    p.feed(anomaly("sms_delivery_success_rate|channel=106900002", minutes(0), severity="critical"), at=minutes(0))
    p.run(minutes(0), 1)
    assert [i.payload["severity"] for i in p.outbox("sms")] == ["critical"]
    assert len(p.outbox("im")) == 2


def _budget_run(ledger: Ledger, day: datetime) -> Pipeline:
    budget = {"capacity": {"first_day": 1, "days_2_10": 2, "rest": 3}, "per_recipient_per_hour": 100}
    p = Pipeline(ledger, settings(sms_budget=budget, route={"receiver": "sms", "group_by": ["..."]}))
    for i in range(4):
        p.feed(anomaly(f"sms_delivery_success_rate|channel=10690000{i}", day), at=day)
    p.run(day, 1)
    return p


def test_sms_budget_follows_the_calendar_template_and_digests_the_rest(ledger: Ledger) -> None:
    first = datetime(2026, 12, 1, 2, tzinfo=UTC)  # 10:00 on the 1st in Shanghai: template first_day, capacity 1
    p = _budget_run(ledger, first)
    assert len(p.outbox("sms")) == 1 and len(p.outbox("sms_digest")) == 3 and len(p.outbox("im")) == 4
    digest = p.outbox("sms_digest")[0]
    assert "has sent its 1 SMS for 2026-12-01 (template first_day)" in digest.payload["budget"]
    assert digest.next_attempt_at == datetime(2026, 12, 1, 16, tzinfo=UTC)  # midnight in Shanghai


def test_sms_budget_on_a_rest_of_month_day(ledger: Ledger) -> None:
    p = _budget_run(ledger, datetime(2026, 12, 20, 2, tzinfo=UTC))  # template rest, capacity 3
    assert len(p.outbox("sms")) == 3 and len(p.outbox("sms_digest")) == 1


def test_critical_sms_goes_out_over_budget_with_the_reason(ledger: Ledger) -> None:
    budget = {"capacity": {"first_day": 0, "days_2_10": 0, "rest": 0}}
    p = Pipeline(ledger, settings(sms_budget=budget))
    p.feed(anomaly(SMS_N, minutes(0), severity="critical"), at=minutes(0))
    p.run(minutes(0), 1)
    [sms] = p.outbox("sms")
    assert "has sent its 0 SMS" in sms.payload["budget"]


def test_escalation_walks_the_chain_until_acknowledged(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    p.feed(anomaly(CELLS[0], minutes(0)), at=minutes(0))
    p.run(minutes(0), 14, every_s=60)
    assert [(i.recipient, i.channel) for i in p.outbox()] == [("zhang.min", "sms"), ("wireless-noc", "im")]
    p.run(minutes(15), 1, every_s=60)  # after the 15 min wait: the on-call of rotation duty
    assert [(i.recipient, i.channel) for i in p.outbox()][2:] == [("chen.jie", "sms")]
    [alert] = ledger.alerts()
    assert "escalation: chen.jie (step 3)" in [h.comment for h in ledger.history(alert.id)]
    assert "Lead: 无线网优, 张敏" in p.outbox()[2].payload["text"]  # chen.jie reads English
    ledger.ack(alert.id, "chen.jie", "sms_link", minutes(20), timedelta(minutes=30))
    p.run(minutes(20), 29, every_s=60)  # acknowledged: the chain's next steps wait
    assert len(p.outbox()) == 3
    # The acknowledgement times out at 50 min: the chain resumes, its 30 min wait is over, and its repeat goes
    # back to the first step, which tells the owner's lead and group again (only the first pass skips them).
    p.run(minutes(50), 0, every_s=60)
    assert [(i.recipient, i.channel) for i in p.outbox()][3:] == [("zhang.min", "sms"), ("wireless-noc", "im")]
    assert "escalation: zhang.min (step 1), wireless-noc (step 1)" in [h.comment for h in ledger.history(alert.id)]


def test_an_acknowledgement_that_times_out_fires_again_and_escalation_resumes(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings(ack_timeout="10m"))
    p.feed(anomaly(CELLS[0], minutes(0)), at=minutes(0))
    p.run(minutes(0), 1)
    [alert] = ledger.alerts()
    ledger.ack(alert.id, "zhang.min", "im", minutes(2), timedelta(minutes=10))
    p.run(minutes(2), 9, every_s=60)
    assert ledger.alert(alert.id).status == "acknowledged" and len(p.outbox()) == 2
    p.run(minutes(12), 1, every_s=60)
    assert ledger.alert(alert.id).status == "firing"
    assert [h.comment for h in ledger.history(alert.id)][-2:] == [
        "ack deadline passed",
        "escalation: chen.jie (step 3)",
    ]
    assert [i.recipient for i in p.outbox()][2:] == ["chen.jie"]  # the resumed chain's next step, at once


def test_recovery_resolves_after_n_normal_windows_and_tells_the_owner(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    p.feed(anomaly(SMS_N, minutes(0)), at=minutes(0))
    p.run(minutes(0), 1)
    p.feed(recovery(SMS_N, minutes(2), 1), recovery(SMS_N, minutes(3), 2), at=minutes(3))
    [alert] = ledger.alerts()
    assert alert.status == "firing" and alert.normal_windows == 2
    p.feed(recovery(SMS_N, minutes(4), 3), at=minutes(4))
    assert ledger.alert(alert.id).status == "resolved"
    assert ledger.history(alert.id)[-1].comment == "series normal for 3 windows"
    p.run(minutes(4), 6)
    told = p.outbox("sms")
    assert len(told) == 2 and "已恢复" in told[1].payload["title"]
    assert ledger.groups() == []  # resolved and told: the group ended
    p.feed(anomaly(SMS_N, minutes(10)), at=minutes(10))  # it comes back: a new episode, a new id
    assert [a.id != alert.id for a in ledger.alerts(status="firing")] == [True]


def test_a_batch_read_twice_changes_nothing(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    p.feed(anomaly(SMS_N, minutes(0), 0.6), at=minutes(0))
    p.run(minutes(0), 1)
    p.feed(recovery(SMS_N, minutes(2), 1), recovery(SMS_N, minutes(3), 2), recovery(SMS_N, minutes(4), 3),
           at=minutes(4))  # fmt: skip
    before = (ledger.alerts(), ledger.outbox_items(), ledger.groups())
    p.offset = 0  # Kafka delivers the same records again after a crash
    p.feed(anomaly(SMS_N, minutes(0), 0.6), at=minutes(5))
    p.feed(recovery(SMS_N, minutes(2), 1), recovery(SMS_N, minutes(3), 2), recovery(SMS_N, minutes(4), 3),
           at=minutes(5))  # fmt: skip
    assert (ledger.alerts(), ledger.outbox_items(), ledger.groups()) == before
    assert p.intake.counts.skipped == 4


def test_a_malformed_record_is_counted_and_named_not_fatal(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    p.intake.take("telewatch.anomalies/0", [(0, b'{"kind": "anomaly", "series": 3}'), (1, b"not json")], minutes(0))
    assert p.intake.counts.malformed == 2 and "telewatch.anomalies/0@0" in p.intake.counts.problems[0]
    assert ledger.mark("telewatch.anomalies/0") == 1


def test_a_link_in_a_grouped_message_acknowledges_every_alert_it_told_of(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings(route={"receiver": "wireless", "group_by": ["metric", "region"]}))
    p.feed(*(anomaly(s, minutes(0)) for s in CELLS), at=minutes(0))
    p.run(minutes(0), 1)
    first, *others = ledger.alerts()
    ledger.transition_by_link("d" * 64, first.id, "ack", "zhang.min", minutes(2), timedelta(minutes=30), "on it")
    assert {a.status for a in ledger.alerts()} == {"acknowledged"}
    note = ledger.history(others[0].id)[-1]
    assert (note.by, note.via, note.comment) == ("zhang.min", "sms_link", f"acknowledged with alert {first.id}: on it")
    p.run(minutes(2), 20, every_s=60)  # nobody escalates an acknowledged alert
    assert len(p.outbox("sms")) == 1


def test_the_im_group_is_told_who_acknowledged_with_the_new_status(ledger: Ledger) -> None:
    p = Pipeline(ledger, settings())
    p.feed(anomaly(SMS_N, minutes(0)), at=minutes(0))
    [alert] = ledger.alerts()
    [told] = p.schedule.planner.for_person(alert, "li.wei", "acknowledged")
    assert told.recipient == "sms-centre" and "已确认" in told.payload["title"]
    assert told.payload["text"].startswith("李伟 已处理：")

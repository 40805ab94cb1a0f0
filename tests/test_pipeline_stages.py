"""The grouping and SMS-budget stages: Alertmanager's group timing; the calendar budget and per-recipient limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from alerting.pipeline.budget import SmsBudget, SmsBudgetSettings, template_of
from alerting.pipeline.group import GroupedAlert, Grouper
from alerting.routing.routes import Router, RouteSpec

ROUTE = Router(RouteSpec.model_validate({"receiver": "noc", "group_by": ["region"]})).root


def alert(n: int, region: str = "north", status: str = "firing") -> GroupedAlert:
    return GroupedAlert(f"a{n}", {"region": region, "cell": f"c{n}"}, status)  # type: ignore[arg-type]


def test_a_new_groups_alerts_arriving_within_group_wait_go_out_as_one_notification() -> None:
    grouper = Grouper()
    for n in range(50):  # an outage: 50 cells in 20 s
        grouper.add(ROUTE, alert(n), now=n * 0.4)
    grouper.add(ROUTE, alert(99, region="south"), now=5.0)
    assert grouper.due(29.9) == []
    flushes = grouper.due(30.0)
    assert [(f.reason, len(f.alerts)) for f in flushes] == [("first", 50)]
    (south,) = grouper.due(35.0)
    assert south.key[1] == (("region", "south"),) and len(south.alerts) == 1


def test_changes_wait_for_group_interval_and_an_unchanged_group_repeats_after_repeat_interval() -> None:
    grouper = Grouper()
    grouper.add(ROUTE, alert(1), now=0.0)
    assert len(grouper.due(30.0)) == 1
    grouper.add(ROUTE, alert(2), now=40.0)
    assert grouper.due(100.0) == []  # group_interval 5 min from the first notification
    (changed,) = grouper.due(330.0)
    assert changed.reason == "changed" and {a.alert_id for a in changed.alerts} == {"a1", "a2"}
    quiet = [grouper.due(330.0 + k * 300.0) for k in range(1, 50)]
    repeats = [f for fl in quiet for f in fl]
    assert [f.reason for f in repeats] == ["repeat"]  # once in 4 h, not every 5 min
    assert grouper.next_due() is not None


def test_a_resolved_alert_is_notified_once_then_leaves_and_an_empty_group_ends() -> None:
    grouper = Grouper()
    grouper.add(ROUTE, alert(1), now=0.0)
    grouper.due(30.0)
    grouper.add(ROUTE, alert(1, status="resolved"), now=60.0)
    (resolved,) = grouper.due(330.0)
    assert resolved.reason == "changed" and resolved.alerts[0].status == "resolved"
    assert len(grouper) == 0 and grouper.due(10_000.0) == []


@pytest.mark.parametrize(("day", "template"), [(1, "first_day"), (2, "days_2_10"), (10, "days_2_10"), (11, "rest")])
def test_the_calendar_template_in_force(day: int, template: str) -> None:
    assert template_of(datetime(2026, 12, day).date()) == template


def settings(**kw: object) -> SmsBudgetSettings:
    return SmsBudgetSettings.model_validate({"capacity": {"first_day": 2, "days_2_10": 3, "rest": 4}, **kw})


def test_a_spent_channel_budget_sends_non_critical_sms_to_the_digest_and_critical_ones_anyway() -> None:
    budget = SmsBudget(settings(location="UTC"))
    first = datetime(2026, 12, 1, 8, tzinfo=UTC)
    actions = [budget.admit("1069", f"86138{n:08d}", "warning", first + timedelta(minutes=n)).action for n in range(4)]
    assert actions == ["send", "send", "digest", "digest"]
    critical = budget.admit("1069", "8613900000000", "critical", first)
    assert critical.action == "send_over_budget" and "first_day" in critical.reason
    second = first + timedelta(days=1)  # the 2nd: a new day, template days_2_10 (3)
    assert [budget.admit("1069", f"86137{n:08d}", "warning", second).action for n in range(4)] == [
        "send",
        "send",
        "send",
        "digest",
    ]
    assert budget.admit("1070", "8613700000009", "warning", second).action == "send"  # another channel


def test_calendar_days_are_counted_in_the_configured_zone() -> None:
    budget = SmsBudget(settings(location="Asia/Shanghai"))
    late_on_the_1st_utc = datetime(2026, 11, 30, 20, tzinfo=UTC)  # 04:00 on 1 December in Shanghai
    assert budget.capacity("1069", late_on_the_1st_utc.astimezone(budget._zone).date()) == 2


def test_the_per_recipient_hourly_limit() -> None:
    budget = SmsBudget(settings(per_recipient_per_hour=2, capacity={"first_day": 99, "days_2_10": 99, "rest": 99}))
    t0 = datetime(2026, 12, 15, 8, tzinfo=UTC)
    got = [budget.admit("1069", "8613800000001", "major", t0 + timedelta(minutes=m)).action for m in (0, 10, 20, 61)]
    assert got == ["send", "send", "digest", "send"]


def test_per_channel_capacity_and_a_bad_template_are_checked() -> None:
    budget = SmsBudget(settings(per_channel={"1069": {"first_day": 0, "days_2_10": 0, "rest": 1}}))
    assert budget.admit("1069", "x", "warning", datetime(2026, 12, 1, tzinfo=UTC)).action == "digest"
    with pytest.raises(ValidationError, match="missing: rest"):
        SmsBudgetSettings.model_validate({"capacity": {"first_day": 1, "days_2_10": 1}})

"""Routing: the route tree (Alertmanager's semantics and defaults), inhibit rules, matchers and time intervals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from alerting.routing.inhibit import Inhibitor, InhibitRule
from alerting.routing.matchers import Matcher
from alerting.routing.routes import GROUP_INTERVAL_S, GROUP_WAIT_S, REPEAT_INTERVAL_S, Router, RouteSpec
from alerting.routing.time_intervals import TimeInterval

TREE = RouteSpec.model_validate(
    {
        "receiver": "noc",
        "group_by": ["metric", "region"],
        "routes": [
            {
                "matchers": ['metric=~"sms_.*"'],
                "receiver": "sms-owner",
                "group_wait": "10s",
                "routes": [{"matchers": ['severity="critical"'], "receiver": "sms-duty", "repeat_interval": "1h"}],
            },
            {"matchers": ['category=~".+"'], "receiver": "complaints", "continue": True, "group_by": ["..."]},
            {"matchers": ['region="north"'], "receiver": "north-noc"},
            {"matchers": ['region="north"'], "receiver": "never-reached"},
        ],
    }
)


def receivers(labels: dict[str, str]) -> list[str]:
    return [r.receiver for r in Router(TREE).routes_for(labels)]


def test_the_first_matching_child_takes_an_alert_and_its_children_are_tried() -> None:
    assert receivers({"metric": "sms_delivery_success_rate", "severity": "warning"}) == ["sms-owner"]
    assert receivers({"metric": "sms_delivery_success_rate", "severity": "critical"}) == ["sms-duty"]
    assert receivers({"metric": "call_drop_rate", "region": "north"}) == ["north-noc"]  # not "never-reached"


def test_continue_lets_the_following_siblings_take_the_alert_too() -> None:
    assert receivers({"metric": "complaint_count", "category": "network", "region": "north"}) == [
        "complaints",
        "north-noc",
    ]


def test_the_root_takes_what_no_child_does() -> None:
    assert receivers({"metric": "call_drop_rate", "region": "south"}) == ["noc"]


def test_options_are_inherited_and_default_to_alertmanagers() -> None:
    router = Router(TREE)
    root = router.root
    assert (
        (root.group_wait_s, root.group_interval_s, root.repeat_interval_s)
        == (
            GROUP_WAIT_S,
            GROUP_INTERVAL_S,
            REPEAT_INTERVAL_S,
        )
        == (30.0, 300.0, 14400.0)
    )
    (duty,) = router.routes_for({"metric": "sms_x", "severity": "critical"})
    assert duty.group_wait_s == 10.0  # from its parent
    assert duty.repeat_interval_s == 3600.0  # its own
    assert duty.group_interval_s == 300.0  # from the root
    assert duty.group_by == ("metric", "region")
    assert router.receivers() == {"noc", "sms-owner", "sms-duty", "complaints", "north-noc", "never-reached"}


def test_group_keys_take_the_route_labels_or_all_of_them() -> None:
    labels = {"metric": "complaint_count", "category": "network", "region": "north", "cell": "c1"}
    complaints, north = Router(TREE).routes_for(labels)
    assert north.group_key(labels) == (("metric", "complaint_count"), ("region", "north"))
    assert complaints.group_key(labels) == tuple(sorted(labels.items()))


def test_a_bad_matcher_or_duration_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="write label=value"):
        RouteSpec.model_validate({"receiver": "x", "matchers": ["region north"]})
    with pytest.raises(ValidationError, match="bad regular expression"):
        RouteSpec.model_validate({"receiver": "x", "matchers": ['metric=~"("']})
    with pytest.raises(ValidationError, match="duration"):
        RouteSpec.model_validate({"receiver": "x", "group_wait": "soon"})
    with pytest.raises(ValueError, match="root route needs a receiver"):
        Router(RouteSpec.model_validate({}))


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('region="north"', {"region": "north"}, True),
        ("region!=north", {"region": "south"}, True),
        ('cell=~"c1.*"', {"cell": "c12"}, True),
        ('cell=~"c1"', {"cell": "c12"}, False),  # anchored
        ('cell!~"c1.*"', {"cell": "c2"}, True),
        ('region="a\\"b"', {"region": 'a"b'}, True),
        ('region=""', {}, True),  # a missing label is empty
    ],
)
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert Matcher.parse(text).matches(labels) is expected


RULE = InhibitRule.model_validate(
    {"source_matchers": ['scope="region"'], "target_matchers": ['scope="cell"'], "equal": ["region", "metric"]}
)


def test_a_region_outage_mutes_its_cells_only() -> None:
    region = {"scope": "region", "region": "north", "metric": "call_setup_success_rate"}
    cell = {"scope": "cell", "region": "north", "cell": "c1", "metric": "call_setup_success_rate"}
    other_region = {**cell, "region": "south"}
    other_metric = {**cell, "metric": "call_drop_rate"}
    inhibitor = Inhibitor([RULE])
    assert inhibitor.inhibited(cell, [region, cell])
    assert not inhibitor.inhibited(other_region, [region, other_region])
    assert not inhibitor.inhibited(other_metric, [region, other_metric])
    assert not inhibitor.inhibited(region, [region, cell])  # the rule mutes cells, not regions
    assert not Inhibitor([]).inhibited(cell, [region, cell])


def test_an_alert_does_not_inhibit_itself() -> None:
    both = InhibitRule.model_validate({"source_matchers": ['a="1"'], "target_matchers": ['a="1"']})
    alert = {"a": "1"}
    assert not Inhibitor([both]).inhibited(alert, [alert])
    assert Inhibitor([both]).inhibited(alert, [alert, {"a": "1", "b": "2"}])


def interval(period: dict[str, object]) -> TimeInterval:
    return TimeInterval.model_validate({"name": "t", "periods": [period]})


def test_time_intervals_by_time_weekday_day_month_and_location() -> None:
    friday_noon_utc = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # Friday, 20:00 in Shanghai
    assert interval({"weekdays": ["monday:friday"]}).contains(friday_noon_utc)
    assert not interval({"weekdays": ["saturday", "sunday"]}).contains(friday_noon_utc)
    assert interval({"times": [{"start_time": "19:00", "end_time": "21:00"}], "location": "Asia/Shanghai"}).contains(
        friday_noon_utc
    )
    assert not interval({"times": [{"start_time": "19:00", "end_time": "21:00"}]}).contains(friday_noon_utc)
    assert interval({"days_of_month": ["-1"]}).contains(datetime(2026, 2, 28, tzinfo=UTC))
    assert not interval({"days_of_month": ["-1"]}).contains(datetime(2026, 2, 27, tzinfo=UTC))
    assert interval({"days_of_month": ["2:10"]}).contains(datetime(2026, 2, 10, 23, 59, tzinfo=UTC))
    assert interval({"months": ["december"]}).contains(friday_noon_utc)
    assert interval({"months": ["11:12"]}).contains(friday_noon_utc)
    assert not interval({"months": ["january:march"]}).contains(friday_noon_utc)


def test_bad_time_interval_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="HH:MM"):
        interval({"times": [{"start_time": "25:00", "end_time": "26:00"}]})
    with pytest.raises(ValidationError, match="IANA"):
        interval({"location": "Mars/Olympus"})
    with pytest.raises(ValidationError, match="not a weekday"):
        interval({"weekdays": ["funday"]})

"""The hotline lookup: the incidents a caller's region and cell are in, with the owner's script."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from alerting.hotline import OpenAlert, lookup
from alerting.owners import OwnersRegistry

REGISTRY = OwnersRegistry.model_validate(
    yaml.safe_load((Path(__file__).parents[1] / "config" / "owners.example.yaml").read_text())["alerting"]["owners"]
)


def at(hour: int) -> datetime:
    return datetime(2026, 12, 5, hour, tzinfo=UTC)


ALERTS = [
    OpenAlert("region", {"metric": "call_drop_rate", "region": "north"}, "firing", at(1)),
    OpenAlert(
        "cell", {"metric": "call_setup_success_rate", "region": "north", "cell_id": "c7"}, "acknowledged", at(2), "张敏"
    ),
    OpenAlert("sms", {"metric": "sms_delivery_success_rate", "channel": "106900001"}, "firing", at(3)),
    OpenAlert("south", {"metric": "call_drop_rate", "region": "south"}, "firing", at(4)),
    OpenAlert("internal", {"metric": "network_kpi", "region": "north"}, "firing", at(5)),
    OpenAlert("done", {"metric": "complaint_count", "category": "repair", "region": "north"}, "resolved", at(0)),
]


def test_a_caller_in_a_cell_hears_of_the_cells_region_and_nationwide_incidents_newest_first() -> None:
    found = lookup(ALERTS, REGISTRY, region="north", cell="c7")
    assert [i.alert_id for i in found] == ["sms", "cell", "region", "done"]
    by_id = {i.alert_id: i for i in found}
    assert by_id["cell"].progress == "处理中（张敏）"
    assert by_id["done"].progress == "已恢复" and by_id["done"].what == "投诉量（repair）"
    assert by_id["sms"].script.startswith("短信通道故障")
    assert by_id["region"].since == "12-05 09:00"


def test_another_cells_and_another_regions_incidents_and_internal_metrics_are_left_out() -> None:
    found = {i.alert_id for i in lookup(ALERTS, REGISTRY, region="north", cell="c8")}
    assert found == {"sms", "region", "done"}
    assert {i.alert_id for i in lookup(ALERTS, REGISTRY, region="south")} == {"sms", "south"}

"""The owners registry: references checked, the shipped example owns every metric and complaint category."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from alerting.owners import OwnersRegistry, Rotation
from core.contracts import ComplaintCategory
from core.metrics import default_metrics

EXAMPLE = Path(__file__).parents[1] / "config" / "owners.example.yaml"


def example() -> OwnersRegistry:
    return OwnersRegistry.model_validate(yaml.safe_load(EXAMPLE.read_text())["alerting"]["owners"])


def test_the_example_owns_every_shipped_metric() -> None:
    registry = example()
    for metric in default_metrics():
        found = registry.owner_of({"metric": metric.name})
        assert found is not None, f"no owner for {metric.name}"


@pytest.mark.parametrize("category", typing.get_args(ComplaintCategory))
def test_the_example_owns_every_complaint_category_with_a_script(category: str) -> None:
    found = example().owner_of({"metric": "complaint_count", "category": category})
    assert found is not None and found[0] == f"complaints-{category}"
    assert found[1].explanation, "hotline agents need a script for every category"


def test_the_first_matching_owner_wins() -> None:
    name, _ = example().owner_of({"metric": "complaint_count", "category": "unknown"}) or ("", None)
    assert name == "complaints-other"
    assert example().owner_of({"metric": "not_shipped"}) is None


def registry(**changes: object) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(EXAMPLE.read_text())["alerting"]["owners"]
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"owners": {"x": {"matchers": ['metric="a"'], "department": "d", "people": ["nobody"]}}}, "unknown person"),
        (
            {"owners": {"x": {"matchers": ['metric="a"'], "department": "d", "people": ["li.wei"], "escalation": "q"}}},
            "unknown escalation chain 'q'",
        ),
        ({"escalations": {"e": [{"repeat": 1}, {"wait": "5m"}]}}, "repeat must be the last step"),
        ({"escalations": {"e": [{"wait": "5m", "repeat": 1}]}}, "exactly one of"),
        ({"escalations": {"e": [{"notify_oncall": "nights"}]}}, "unknown rotation 'nights'"),
        ({"people": {"p": {"name": "P", "phone": "call me"}}}, "6-15 digits"),
        ({"im_groups": {"g": {"kind": "wecom", "token_env": "the key is abc"}}}, "environment variable name"),
    ],
)
def test_bad_registries_are_refused_naming_the_entry_and_the_fix(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OwnersRegistry.model_validate(registry(**change))


def test_the_rotation_hands_over_each_shift() -> None:
    start = datetime(2026, 1, 5, 1, tzinfo=UTC)
    rotation = Rotation(people=["a", "b", "c"], shift="1d", start=start)
    assert [rotation.on_call(start + timedelta(days=d, hours=1)) for d in range(4)] == ["a", "b", "c", "a"]

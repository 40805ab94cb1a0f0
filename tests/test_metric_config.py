"""Metric definitions in configuration: the shipped set, and precise refusals of bad ones."""

from __future__ import annotations

import pytest

from core.config_loader import ConfigError, load_model
from streams.settings import StreamsSettings
from telewatch.config import Config


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_model(Config, text, "t.yaml")
    return info.value.problems


def test_default_metrics_cover_domain_kpis() -> None:
    names = {m.name for m in StreamsSettings().metrics}
    assert names == {
        "call_setup_success_rate", "call_drop_rate", "call_setup_time_p95", "sms_delivery_success_rate",
        "sms_delivery_latency_p95", "network_kpi", "complaint_count",
    }  # fmt: skip


def test_a_new_metric_is_only_configuration() -> None:
    text = """
streams:
  metrics:
    - name: volte_call_failure_rate
      source: calls
      kind: ratio
      where: {network: [VoLTE]}
      numerator: {result: [failed]}
      dimensions: [[region]]
"""
    config = load_model(Config, text, "t.yaml")
    (metric,) = config.streams.for_source("calls")
    assert metric.name == "volte_call_failure_rate" and metric.where == {"network": ["VoLTE"]}


BASE = "streams:\n  metrics:\n    - name: m\n      source: calls\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "      kind: ratio\n      numerator: {result: [maybe]}\n      dimensions: [[region]]\n",
            "t.yaml:3: streams.metrics.0: numerator: result has no value 'maybe'; "
            "allowed: answered, no_answer, busy, failed, dropped",
        ),
        (
            "      kind: mean\n      field: region\n      dimensions: [[region]]\n",
            "t.yaml:3: streams.metrics.0: field 'region' is not numeric; mean needs a number",
        ),
        (
            "      kind: count\n      dimensions: [[town]]\n",
            "t.yaml:3: streams.metrics.0: dimension 'town' is not a field of calls events; fields: ts, region, "
            "call_id, cell_id, network, result, setup_ms, duration_s, cause_code",
        ),
        (
            "      kind: percentile\n      field: setup_ms\n      dimensions: [[region]]\n",
            "t.yaml:3: streams.metrics.0: kind percentile needs percentile",
        ),
        (
            "      kind: count\n      dimensions: [[region]]\n      colour: red\n",
            "t.yaml:7: streams.metrics.0.colour: unknown option; check its spelling against docs/CONFIG.md",
        ),
    ],
)
def test_bad_metric_is_refused_with_line_and_reason(body: str, expected: str) -> None:
    assert errors_of(BASE + body) == [expected]


def test_duplicate_metric_names_are_refused() -> None:
    one = "    - {name: m, source: complaints, kind: count, dimensions: [[region]]}\n"
    problems = errors_of("streams:\n  metrics:\n" + one + one)
    assert problems == ["t.yaml:2: streams.metrics: metric names must be unique; defined more than once: m"]

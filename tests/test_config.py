"""Config loading: defaults, precise errors with file and line, secrets masked, reference in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config_loader import ConfigError, load_model
from telewatch.config import DEFAULT_CONFIG, Config, load_config
from telewatch.config_reference import render_reference

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "CONFIG.md"


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_model(Config, text, "t.yaml")
    return info.value.problems


def test_shipped_config_is_valid() -> None:
    config = load_config(DEFAULT_CONFIG)
    assert config.kafka.mode == "embedded"
    assert config.bootstrap_servers() == [f"127.0.0.1:{config.stack.tansu_port}"]


def test_empty_file_gives_defaults() -> None:
    assert load_model(Config, "", "t.yaml") == Config()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "kafka:\n  topics:\n    calls:\n      name: x\n      partitions: 0\n",
            "t.yaml:5: kafka.topics.calls.partitions: Input should be greater than or equal to 1",
        ),
        (
            "kafka:\n  mode: embedded\n  bootstrap_server: [a:1]\n",
            "t.yaml:3: kafka.bootstrap_server: unknown option; check its spelling against docs/CONFIG.md",
        ),
        (
            "kafka:\n  mode: cloud\n",
            "t.yaml:2: kafka.mode: Input should be 'embedded' or 'external'",
        ),
        (
            "kafka:\n  mode: external\n  bootstrap_servers: [kafka-1]\n",
            "t.yaml:1: kafka: bootstrap server 'kafka-1' must be host:port, e.g. kafka-1.example.net:9092",
        ),
        (
            "stack:\n  tansu_port: 9000\n  kafka_port: 9000\n",
            "t.yaml:1: stack: kafka_port and tansu_port both use port 9000; give each server its own port",
        ),
        (
            "influxdb:\n  mode: external\n  api: v2\n  org: ops\n",
            "t.yaml:1: influxdb: api v2 needs bucket, token; set them or use api: v1 for InfluxDB 1.x",
        ),
        (
            "kafka:\n  topics:\n    metrics: {name: same}\n    alerts: {name: same}\n",
            "t.yaml:2: kafka.topics: topic names must be unique; used more than once: same",
        ),
        ("kafka: [1, 2\n", "t.yaml:2: YAML syntax error: expected ',' or ']', but got '<stream end>'"),
        ("- just\n- a list\n", "t.yaml:1: the top level must be a mapping of sections"),
    ],
)
def test_invalid_config_names_line_field_and_fix(text: str, expected: str) -> None:
    assert errors_of(text) == [expected]


def test_every_error_is_reported_not_just_the_first() -> None:
    problems = errors_of("stack:\n  tansu_port: 0\n  kafka_port: 99999\n")
    assert problems == [
        "t.yaml:2: stack.tansu_port: Input should be greater than or equal to 1",
        "t.yaml:3: stack.kafka_port: Input should be less than or equal to 65535",
    ]


def test_secrets_are_masked_in_repr_and_errors() -> None:
    text = "influxdb:\n  mode: external\n  api: v2\n  org: o\n  bucket: b\n  token: s3cr3t-token\n"
    config = load_model(Config, text, "t.yaml")
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in str(config.model_dump())
    assert config.influxdb.token is not None and config.influxdb.token.get_secret_value() == "s3cr3t-token"
    problems = errors_of(text.replace("bucket: b", "bucket: [b]"))
    assert not any("s3cr3t" in p for p in problems)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_reference_doc_is_generated_from_schema() -> None:
    assert REFERENCE.read_text() == render_reference(), "run: telewatch config reference > docs/CONFIG.md"


def test_reference_documents_every_option() -> None:
    text = render_reference()
    for option in (
        "kafka.topics.calls.partitions",
        "stack.tansu_port",
        "influxdb.token",
        "validation.max_future_skew_s",
    ):
        assert f"`{option}`" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "detectors:\n  metrics:\n    sms_delivery_sucess_rate: {direction: down}\n",
            "t.yaml:3: detectors.metrics.sms_delivery_sucess_rate: unknown metric 'sms_delivery_sucess_rate'; "
            "declared metrics: call_setup_success_rate, call_drop_rate, call_setup_time_p95, "
            "sms_delivery_success_rate, sms_delivery_latency_p95, network_kpi, complaint_count (see streams.metrics)",
        ),
        (
            "detectors:\n  series:\n    - match: 'sms_latency*|channel=1069*'\n      threshold: 6\n",
            "t.yaml:3: detectors.series.0.match: pattern 'sms_latency*|channel=1069*' matches no declared metric "
            "(series keys start with the metric name, e.g. 'sms_delivery_success_rate|channel=*'); declared metrics: "
            "call_setup_success_rate, call_drop_rate, call_setup_time_p95, sms_delivery_success_rate, "
            "sms_delivery_latency_p95, network_kpi, complaint_count",
        ),
        (
            "detectors:\n  correlation:\n    scenarios:\n      network.call_drop:\n        - call_drop_rate\n"
            "        - call_drops\n",
            "t.yaml:6: detectors.correlation.scenarios.network.call_drop.1: scenario network.call_drop names unknown "
            "metric 'call_drops'; declared metrics: call_setup_success_rate, call_drop_rate, call_setup_time_p95, "
            "sms_delivery_success_rate, sms_delivery_latency_p95, network_kpi, complaint_count",
        ),
    ],
)
def test_references_between_sections_are_checked_at_their_line(text: str, expected: str) -> None:
    assert errors_of(text) == [expected]


def test_shipped_per_metric_choices_do_not_require_their_metrics() -> None:
    text = (
        "streams:\n  metrics:\n    - {name: volte_failures, source: calls, kind: count, dimensions: [[region]]}\n"
        "detectors:\n  series:\n    - {match: 'volte_*', threshold: 5}\n"
    )
    config = load_model(Config, text, "t.yaml")
    assert [m.name for m in config.streams.metrics] == ["volte_failures"]
    assert "call_drop_rate" in config.detectors.metrics, "the shipped choices stay, harmless"


def test_a_config_built_in_code_is_checked_too() -> None:
    from detectors.settings import DetectorSettings

    with pytest.raises(ValueError, match="unknown metric 'typo_rate'"):
        Config(detectors=DetectorSettings.model_validate({"metrics": {"typo_rate": {"threshold": 5}}}))

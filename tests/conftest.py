"""Shared fixtures: each real server is started once per test session by the project's own code."""

pytest_plugins = [
    "fixtures.tansu",
    "fixtures.kafka",
    "fixtures.influxdb",
    "fixtures.kannel",
    "fixtures.ledger_db",
    "fixtures.grafana_api",
]

"""The telewatch configuration file: the sections of every stage composed into one root model.

Every option is documented in ``docs/CONFIG.md``; a test checks that each
field appears there. The shared sections (Kafka, InfluxDB, stack) come from
:mod:`core.settings`, each stage's section from the stage. What no single
section can check, references from one section into another (a metric named
under ``detectors:`` must be declared under ``streams.metrics``), is checked
here, and reported at the line that names it.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from pydantic import Field, model_validator

from alerting.settings import AlertingSettings
from core.config_loader import Loc, LocatedProblems, load_model_file
from core.settings import REPO_ROOT, Platform, ValidationSettings
from detectors.settings import DEFAULT_METRIC_SPECS, DetectorSettings
from simulator.settings import SimulatorSettings
from streams.settings import StreamsSettings

DEFAULT_CONFIG = REPO_ROOT / "config" / "telewatch.yaml"


class Config(Platform):
    """The whole telewatch configuration file."""

    validation: ValidationSettings = Field(default=ValidationSettings(), description="Event validation")
    streams: StreamsSettings = Field(default=StreamsSettings(), description="KPI aggregation and metric definitions")
    detectors: DetectorSettings = Field(
        default_factory=DetectorSettings, description="Anomaly detection per series, complaint correlation"
    )
    alerting: AlertingSettings = Field(
        default_factory=AlertingSettings, description="Owners, routes, inhibition, silences' time, SMS budget"
    )
    simulator: SimulatorSettings = Field(default=SimulatorSettings(), description="Traffic simulator")

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        problems = reference_problems(self)
        if problems:
            raise LocatedProblems(problems)
        return self


def reference_problems(config: Config) -> list[tuple[Loc, str]]:
    """References between sections that point at nothing: each with its key path and the fix."""
    declared = [m.name for m in config.streams.metrics]
    known = ", ".join(declared)
    problems: list[tuple[Loc, str]] = []
    for name in config.detectors.metrics:
        # The shipped per-metric choices stay harmless when their metric is not declared.
        if name not in declared and name not in DEFAULT_METRIC_SPECS:
            problems.append(
                (
                    ("detectors", "metrics", name),
                    f"unknown metric {name!r}; declared metrics: {known} (see streams.metrics)",
                )
            )
    for index, override in enumerate(config.detectors.series):
        metric_pattern = override.match.split("|", 1)[0]
        if not any(fnmatch.fnmatchcase(name, metric_pattern) for name in declared):
            problems.append(
                (
                    ("detectors", "series", index, "match"),
                    f"pattern {override.match!r} matches no declared metric (series keys start with the metric "
                    f"name, e.g. 'sms_delivery_success_rate|channel=*'); declared metrics: {known}",
                )
            )
    correlation = config.detectors.correlation
    # The shipped mapping stays harmless when some of its metrics are not declared; a written one is checked.
    scenarios = correlation.scenarios if "scenarios" in correlation.model_fields_set else {}
    for scenario, metrics in scenarios.items():
        for position, metric in enumerate(metrics):
            if metric not in declared:
                problems.append(
                    (
                        ("detectors", "correlation", "scenarios", scenario, position),
                        f"scenario {scenario} names unknown metric {metric!r}; declared metrics: {known}",
                    )
                )
    if config.alerting.resolve_after_windows > config.detectors.recovery_windows:
        problems.append(
            (
                ("alerting", "resolve_after_windows"),
                f"alerts resolve after {config.alerting.resolve_after_windows} normal windows but the detectors "
                f"report only {config.detectors.recovery_windows} (detectors.recovery_windows): raise that, "
                "or lower this",
            )
        )
    return problems


def load_config(path: Path | None = None) -> Config:
    """Load and validate a config file (default: ``config/telewatch.yaml``)."""
    return load_model_file(Config, path or DEFAULT_CONFIG)

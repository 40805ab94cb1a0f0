"""The ``detectors:`` section of the config: which detector judges which series, and how.

A series' detector is the ``default`` spec, overridden by the spec of its
metric (``metrics:``), then by every ``series:`` override whose pattern
matches its key (in order). Each override names only what it changes.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from core.settings import Section

Family = Literal["auto", "seasonal", "robust", "holt_winters", "snarimax", "half_space_trees"]
Direction = Literal["up", "down", "both"]
ParamValue = float | int | str | bool
#: Default ``alone_score``.
ALONE_SCORE = 0.55


class DetectorSpec(Section):
    """How one series is judged."""

    family: Family = Field(
        default="auto",
        description="auto (seasonal or local level, whichever forecasts the series better), "
        "seasonal (level + daily profile), robust (rolling median/IQR), holt_winters, snarimax "
        "(river forecasters, residual scored), half_space_trees (river, multivariate: value, volume, time of day)",
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict, description="Parameters of the family (see docs/DETECTORS.md), e.g. {period_s: 604800}"
    )
    direction: Direction = Field(
        default="both", description="Which deviation is bad: down (a rate dropping), up (latency, drops), or both"
    )
    threshold: float = Field(
        default=4.0, gt=0, le=100, description="Deviation, in standard deviations of the series, that is anomalous"
    )
    min_anomalous: int = Field(default=2, ge=1, le=100, description="N: anomalous windows among the last M to flag")
    alone_score: float = Field(
        default=ALONE_SCORE,
        ge=0.5,
        le=1.0,
        description="A point whose score reaches this is flagged by itself, without N of M (1: never)",
    )
    of_last: int = Field(default=3, ge=1, le=100, description="M: the windows N is counted over")
    warmup_points: int = Field(default=30, ge=0, le=100000, description="Points learned before anything is flagged")
    min_volume: float = Field(
        default=20, ge=0, description="Ratios and counts: a point behind fewer events than this is not judged"
    )
    min_delta: float = Field(
        default=0.0, ge=0, description="A deviation smaller than this (in the series' units) is never anomalous"
    )
    relearn_after: int = Field(
        default=60, ge=1, description="After this many anomalous windows in a row the new level is learned as normal"
    )
    silence_after: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="A series with traffic that sends no point for this many windows is anomalous",
    )

    @model_validator(mode="after")
    def _check(self) -> DetectorSpec:
        if self.min_anomalous > self.of_last:
            raise ValueError(f"min_anomalous ({self.min_anomalous}) cannot exceed of_last ({self.of_last})")
        from detectors.families import check_params  # the families import this module

        check_params(self.family, self.params)
        return self


class DetectorOverride(Section):
    """Part of a :class:`DetectorSpec`: only the options it names change."""

    family: Family | None = Field(default=None, description="As in the default spec (params reset unless given)")
    params: dict[str, ParamValue] | None = Field(default=None, description="As in the default spec")
    direction: Direction | None = Field(default=None, description="As in the default spec")
    threshold: float | None = Field(default=None, gt=0, le=100, description="As in the default spec")
    min_anomalous: int | None = Field(default=None, ge=1, le=100, description="As in the default spec")
    alone_score: float | None = Field(default=None, ge=0.5, le=1.0, description="As in the default spec")
    of_last: int | None = Field(default=None, ge=1, le=100, description="As in the default spec")
    warmup_points: int | None = Field(default=None, ge=0, le=100000, description="As in the default spec")
    min_volume: float | None = Field(default=None, ge=0, description="As in the default spec")
    min_delta: float | None = Field(default=None, ge=0, description="As in the default spec")
    relearn_after: int | None = Field(default=None, ge=1, description="As in the default spec")
    silence_after: int | None = Field(default=None, ge=1, le=1000, description="As in the default spec")

    def apply(self, spec: DetectorSpec) -> DetectorSpec:
        """``spec`` with this override's options (validated again as a whole)."""
        changes = self.model_dump(exclude_none=True, exclude={"match"})
        if "family" in changes and "params" not in changes:
            changes["params"] = {}  # another family's parameters do not carry over
        return DetectorSpec.model_validate({**spec.model_dump(), **changes})


class SeriesOverride(DetectorOverride):
    """An override for the series whose key matches ``match`` (shell-style: ``*``, ``?``, ``[...]``)."""

    match: str = Field(min_length=1, description="Series key pattern, e.g. 'sms_delivery_success_rate|channel=1069*'")


class CorrelationSettings(Section):
    """Metric anomalies and complaint surges that form one incident."""

    window_s: int = Field(
        default=1800, ge=60, le=86400, description="A surge and a metric anomaly this close in time are correlated"
    )
    scenarios: dict[str, list[str]] = Field(
        default_factory=lambda: dict(DEFAULT_SCENARIO_METRICS),
        description="Complaint scenario → the metrics it is about (operators' end-to-end mapping)",
    )


#: Which metrics each shipped complaint scenario is about.
DEFAULT_SCENARIO_METRICS: dict[str, list[str]] = {
    "network.no_signal": ["call_setup_success_rate", "network_kpi"],
    "network.call_drop": ["call_drop_rate", "network_kpi"],
    "network.slow_data": ["network_kpi"],
    "network.cannot_call": ["call_setup_success_rate", "call_setup_time_p95"],
    "reminder.billing_sms_missing": ["sms_delivery_success_rate", "sms_delivery_latency_p95"],
    "reminder.balance_alert_late": ["sms_delivery_latency_p95", "sms_delivery_success_rate"],
    "activation.code_not_received": ["sms_delivery_success_rate", "sms_delivery_latency_p95"],
}

#: The shipped per-metric choices: a drop in a success rate is bad, a rise in drops, latency or complaints is.
DEFAULT_METRIC_SPECS: dict[str, dict[str, Any]] = {
    "call_setup_success_rate": {"direction": "down"},
    "call_drop_rate": {"direction": "up"},
    "call_setup_time_p95": {"direction": "up", "min_volume": 50},
    "sms_delivery_success_rate": {"direction": "down"},
    "sms_delivery_latency_p95": {"direction": "up", "min_volume": 50},
    "network_kpi": {"direction": "both", "min_volume": 0},
    "complaint_count": {"direction": "up", "min_volume": 0, "min_anomalous": 1, "of_last": 1},
}


class DetectorSettings(Section):
    """The detectors stage: a default detector, per-metric choices, per-series overrides, correlation."""

    default: DetectorSpec = Field(default_factory=DetectorSpec, description="The detector of every series")
    metrics: dict[str, DetectorOverride] = Field(
        default_factory=lambda: {k: DetectorOverride.model_validate(v) for k, v in DEFAULT_METRIC_SPECS.items()},
        description="Per metric name: what differs from the default (merged over the shipped choices, which set "
        "direction per metric: down for success rates, up for drops, latencies and complaints)",
    )
    series: list[SeriesOverride] = Field(
        default_factory=list, description="Per series pattern, applied in order after the metric's: what differs"
    )
    correlation: CorrelationSettings = Field(default_factory=CorrelationSettings, description="Correlated incidents")
    recovery_windows: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="After a flagged point, report this many normal windows in a row (kind: recovery) so alerting "
        "can resolve; at least alerting.resolve_after_windows",
    )

    @field_validator("metrics", mode="before")
    @classmethod
    def _over_shipped(cls, value: Any) -> Any:
        """Entries given in the file are merged over the shipped per-metric choices (the file wins per metric)."""
        if isinstance(value, dict):
            return {**DEFAULT_METRIC_SPECS, **value}
        return value

    @model_validator(mode="after")
    def _overrides_valid(self) -> DetectorSettings:
        for name, override in self.metrics.items():
            try:
                override.apply(self.default)
            except ValueError as exc:
                raise ValueError(f"metrics.{name}: {_first_error(exc)}") from None
        for index, override in enumerate(self.series):
            try:
                override.apply(self.default)
            except ValueError as exc:
                raise ValueError(f"series.{index} ({override.match!r}): {_first_error(exc)}") from None
        return self

    def spec_for(self, metric: str, series: str) -> DetectorSpec:
        """The detector spec of one series."""
        return self.spec_of(metric, self.matching(series))

    def matching(self, series: str) -> tuple[int, ...]:
        """Indices of the ``series`` overrides whose pattern matches a series key."""
        return tuple(i for i, o in enumerate(self.series) if fnmatch.fnmatchcase(series, o.match))

    def spec_of(self, metric: str, matching: tuple[int, ...]) -> DetectorSpec:
        """The spec of a metric's series that the given ``series`` overrides match (cacheable by both)."""
        spec = self.default
        override = self.metrics.get(metric)
        if override is not None:
            spec = override.apply(spec)
        for index in matching:
            spec = self.series[index].apply(spec)
        return spec


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc)

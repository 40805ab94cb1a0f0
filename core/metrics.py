"""Metric definitions: the KPI series telewatch computes, judges and routes, declared in configuration.

A metric names its source topic, the dimension sets it is broken down by, and
how it is computed: a ``ratio`` of filtered counts (carrying numerator and
denominator), a ``percentile`` of a field, the ``mean`` of a field, or a
``count``. Adding a metric is a config change only.
"""

from __future__ import annotations

import re
import types
from typing import Any, Literal, Union, get_args, get_origin

import msgspec
from pydantic import Field, field_validator, model_validator

from core.contracts import INPUT_CONTRACTS
from core.settings import Section

_METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def event_fields(source: str) -> dict[str, Any]:
    """Field name → type of a source topic's event contract."""
    struct = INPUT_CONTRACTS[source]
    return {f.name: f.type for f in msgspec.structs.fields(struct)}


def _allowed_values(annotation: Any) -> tuple[str, ...] | None:
    """The values of a Literal field (also inside ``X | None``), else None."""
    origin = get_origin(annotation)
    if origin is Literal:
        return tuple(str(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            values = _allowed_values(arg)
            if values is not None:
                return values
    return None


def _is_numeric(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_numeric(a) for a in get_args(annotation) if a is not type(None))
    metadata_type = getattr(annotation, "__origin__", None)  # Annotated[int, Meta(...)]
    return metadata_type in (int, float)


#: A filter: event field → accepted values (an event matches when every listed field has one of them).
Filter = dict[str, list[str]]


class MetricDefinition(Section):
    """One metric: its source, breakdowns and computation."""

    name: str = Field(description="Metric name, used in series keys and dashboards (lower_snake_case)")
    source: Literal["calls", "sms", "kpi", "complaints"] = Field(description="Input topic role it is computed from")
    kind: Literal["ratio", "percentile", "mean", "count"] = Field(
        description="ratio: numerator/denominator counts; percentile/mean: of `field`; count: events"
    )
    dimensions: list[list[str]] = Field(
        min_length=1,
        description="Breakdowns: each list of event fields gives one family of series, e.g. [[region], [region, cell_id]]",
    )
    where: Filter = Field(default_factory=dict, description="Only events matching this filter count (all kinds)")
    numerator: Filter | None = Field(default=None, description="ratio: events counted in the numerator")
    denominator: Filter = Field(default_factory=dict, description="ratio: events counted in the denominator")
    field: str | None = Field(default=None, description="percentile/mean: the numeric event field")
    percentile: float | None = Field(default=None, gt=0, lt=100, description="percentile: which one, e.g. 95")
    description: str = Field(default="", description="What the metric means, shown on dashboards")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _METRIC_NAME.match(value):
            raise ValueError(f"metric name {value!r} must be lower_snake_case: a-z, 0-9 and _, starting with a letter")
        return value

    @model_validator(mode="after")
    def _check(self) -> MetricDefinition:
        fields = event_fields(self.source)
        for dims in self.dimensions:
            if not dims:
                raise ValueError("a dimension set may not be empty; list at least one field, e.g. [region]")
            unknown = [d for d in dims if d not in fields]
            if unknown:
                raise ValueError(
                    f"dimension {unknown[0]!r} is not a field of {self.source} events; fields: {_names(fields)}"
                )
            if len(set(dims)) != len(dims):
                raise ValueError(f"dimension set {dims} lists a field twice")
        for label, filt in (
            ("where", self.where),
            ("numerator", self.numerator or {}),
            ("denominator", self.denominator),
        ):
            _check_filter(label, filt, fields, self.source)
        needs = {
            "ratio": ("numerator",),
            "percentile": ("field", "percentile"),
            "mean": ("field",),
            "count": (),
        }[self.kind]
        missing = [n for n in needs if getattr(self, n) is None]
        if missing:
            raise ValueError(f"kind {self.kind} needs {' and '.join(missing)}")
        unused = [n for n in ("numerator", "field", "percentile") if n not in needs and getattr(self, n) is not None]
        if unused:
            raise ValueError(f"kind {self.kind} takes no {' or '.join(unused)}")
        if self.kind != "ratio" and self.denominator:
            raise ValueError(f"kind {self.kind} takes no denominator (use `where` to filter events)")
        if self.field is not None:
            if self.field not in fields:
                raise ValueError(
                    f"field {self.field!r} is not a field of {self.source} events; fields: {_names(fields)}"
                )
            if not _is_numeric(fields[self.field]):
                raise ValueError(f"field {self.field!r} is not numeric; {self.kind} needs a number")
        return self


def _names(fields: dict[str, Any]) -> str:
    return ", ".join(fields)


def _check_filter(label: str, filt: Filter, fields: dict[str, Any], source: str) -> None:
    for name, values in filt.items():
        if name not in fields:
            raise ValueError(f"{label}: {name!r} is not a field of {source} events; fields: {_names(fields)}")
        if not values:
            raise ValueError(f"{label}: {name} lists no values; give at least one or leave the field out")
        allowed = _allowed_values(fields[name])
        if allowed is not None:
            wrong = [v for v in values if v not in allowed]
            if wrong:
                raise ValueError(f"{label}: {name} has no value {wrong[0]!r}; allowed: {', '.join(allowed)}")


def _ratio(
    name: str, source: str, numerator: Filter, denominator: Filter, dims: list[list[str]], text: str
) -> MetricDefinition:
    return MetricDefinition(
        name=name, source=source, kind="ratio", numerator=numerator, denominator=denominator,  # type: ignore[arg-type]
        dimensions=dims, description=text,
    )  # fmt: skip


CALL_DIMS = [["region"], ["region", "cell_id"]]
SMS_DIMS = [["channel"], ["channel", "kind"]]


def default_metrics() -> list[MetricDefinition]:
    """The metrics of DOMAIN.md: call, SMS, network KPI and complaint series."""
    return [
        _ratio(
            "call_setup_success_rate", "calls", {"result": ["answered", "no_answer", "busy", "dropped"]}, {},
            CALL_DIMS, "Share of call attempts whose setup succeeded (all but `failed`)",
        ),
        _ratio(
            "call_drop_rate", "calls", {"result": ["dropped"]}, {"result": ["answered", "dropped"]},
            CALL_DIMS, "Share of connected calls that dropped",
        ),
        MetricDefinition(
            name="call_setup_time_p95", source="calls", kind="percentile", field="setup_ms", percentile=95,
            dimensions=CALL_DIMS, description="95th percentile of call setup time (ms)",
        ),
        _ratio(
            "sms_delivery_success_rate", "sms", {"status": ["delivered"]}, {}, SMS_DIMS,
            "Share of SMS delivered",
        ),
        MetricDefinition(
            name="sms_delivery_latency_p95", source="sms", kind="percentile", field="latency_ms", percentile=95,
            where={"status": ["delivered"]}, dimensions=SMS_DIMS,
            description="95th percentile of submit-to-delivery latency of delivered SMS (ms)",
        ),
        MetricDefinition(
            name="network_kpi", source="kpi", kind="mean", field="value",
            dimensions=[["region", "element", "kpi"], ["region", "kpi"]],
            description="Mean of each network KPI per element and per region",
        ),
        MetricDefinition(
            name="complaint_count", source="complaints", kind="count",
            dimensions=[["region", "category"], ["region", "category", "scenario"]],
            description="Complaints per category and scenario per region",
        ),
    ]  # fmt: skip

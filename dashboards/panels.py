"""Panel factories shared by the dashboards: one look for time series, state grids, stats, bar gauges and tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.models import common, dashboard

from dashboards.influxql import DATASOURCE, InfluxQL

#: Score colours: the detectors' score is 0.5 at the threshold (docs/DETECTORS.md), so amber from 0.5, red from 0.8.
SCORE_STEPS = [(None, "green"), (0.5, "orange"), (0.8, "red")]
#: Severity levels as the anomaly measurement numbers them: info 0, warning 1, major 2, critical 3.
SEVERITY_COLOURS = {"info": "blue", "warning": "yellow", "major": "orange", "critical": "red"}

AnyPanel = TypeVar("AnyPanel", timeseries.Panel, statetimeline.Panel, stat.Panel, bargauge.Panel, table.Panel)


def _placed(
    panel: AnyPanel, title: str, description: str, targets: Sequence[InfluxQL], width: int, height: int
) -> AnyPanel:
    """What every panel has: title, description, the datasource, its queries and its size."""
    return (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .span(width)
        .height(height)
    )


def thresholds(steps: Sequence[tuple[float | None, str]]) -> dashboard_builder.ThresholdsConfig:
    """Absolute thresholds: ``[(None, "green"), (0.5, "orange")]``."""
    return (
        dashboard_builder.ThresholdsConfig()
        .mode(dashboard.ThresholdsMode.ABSOLUTE)
        .steps([dashboard.Threshold(value=value, color=colour) for value, colour in steps])
    )


def _legend(placement: common.LegendPlacement = common.LegendPlacement.BOTTOM) -> common_builder.VizLegendOptions:
    return (
        common_builder.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(placement)
        .show_legend(True)
    )


def _last() -> common_builder.ReduceDataOptions:
    return common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def colour_by_name(colours: dict[str, str]) -> list[tuple[str, list[dashboard.DynamicConfigValue]]]:
    """Overrides giving each named series a fixed colour (e.g. severities)."""
    return [
        (name, [dashboard.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour})])
        for name, colour in colours.items()
    ]


def time_series(
    title: str,
    description: str,
    targets: Sequence[InfluxQL],
    *,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    bars: bool = False,
    stacked: bool = False,
    colours: dict[str, str] | None = None,
) -> timeseries.Panel:
    """A time series panel (lines, or stacked bars for counts)."""
    panel = (
        _placed(timeseries.Panel(), title, description, targets, width, height)
        .unit(unit)
        .legend(_legend())
        .fill_opacity(60 if bars else 10)
        .draw_style(common.GraphDrawStyle.BARS if bars else common.GraphDrawStyle.LINE)
    )
    if stacked:
        panel = panel.stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL))
    for name, properties in colour_by_name(colours or {}):
        panel = panel.override_by_name(name, properties)
    return panel


def state_grid(
    title: str, description: str, target: InfluxQL, *, width: int = 24, height: int = 10
) -> statetimeline.Panel:
    """A state timeline coloured by the detectors' score: green normal, amber anomalous, red far out."""
    return (
        _placed(statetimeline.Panel(), title, description, [target], width, height)
        .min(0)
        .max(1)
        .decimals(2)
        .thresholds(thresholds(SCORE_STEPS))
        .color_scheme(dashboard_builder.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(False)
        .legend(_legend())
    )


def big_numbers(
    title: str,
    description: str,
    target: InfluxQL,
    *,
    width: int = 6,
    height: int = 4,
    steps: Sequence[tuple[float | None, str]] = ((None, "green"), (1, "red")),
    unit: str = "short",
    colours: dict[str, str] | None = None,
) -> stat.Panel:
    """A stat panel showing each series' latest value."""
    panel = (
        _placed(stat.Panel(), title, description, [target], width, height)
        .unit(unit)
        .reduce_options(_last())
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .thresholds(thresholds(steps))
    )
    if colours:
        panel = panel.color_scheme(dashboard_builder.FieldColor().mode(dashboard.FieldColorModeId.FIXED))
        for name, properties in colour_by_name(colours):
            panel = panel.override_by_name(name, properties)
    return panel


def bars(
    title: str,
    description: str,
    target: InfluxQL,
    *,
    unit: str = "short",
    width: int = 6,
    height: int = 8,
    maximum: float | None = None,
    steps: Sequence[tuple[float | None, str]] = ((None, "green"),),
) -> bargauge.Panel:
    """A horizontal bar gauge of each series' latest value."""
    panel = (
        _placed(bargauge.Panel(), title, description, [target], width, height)
        .unit(unit)
        .min(0)
        .reduce_options(_last())
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .thresholds(thresholds(steps))
    )
    return panel.max(maximum) if maximum is not None else panel


def rows_table(title: str, description: str, target: InfluxQL, *, width: int = 12, height: int = 8) -> table.Panel:
    """A table of raw rows (newest first), e.g. recent alert transitions."""
    return (
        _placed(table.Panel(), title, description, [target], width, height)
        .frame_index(0)
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
    )


def text_row(title: str) -> dashboard_builder.Row:
    """A row header grouping the panels after it."""
    return dashboard_builder.Row(title)

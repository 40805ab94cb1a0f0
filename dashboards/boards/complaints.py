"""Complaints: how many, about what, where; the surges the detectors flagged; and, beside them, the metrics
each complaint scenario is about (a surge with an anomalous mapped metric confirms customer impact)."""

from __future__ import annotations

from collections.abc import Mapping

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.models import dashboard

from core import influx_schema as schema
from dashboards.influxql import InfluxQL, annotation
from dashboards.navigation import COMPLAINTS, board, drill_down_link
from dashboards.panels import SCORE_STEPS, thresholds, time_series
from dashboards.variables import matches, tag_values

COMPLAINTS_METRIC = "complaint_count"
FILTER = f"\"metric\" = '{COMPLAINTS_METRIC}' AND {matches('region')} AND {matches('category')}"


def scenario_metrics(scenarios: Mapping[str, list[str]]) -> dashboard_builder.CustomVariable:
    """A variable whose options are the scenarios and whose value is the regex of the metrics each maps to."""
    options = [
        dashboard.VariableOption(selected=i == 0, text=name, value="|".join(metrics))
        for i, (name, metrics) in enumerate(sorted(scenarios.items()))
    ]
    return (
        dashboard_builder.CustomVariable("mapped")
        .label("Scenario → metrics")
        .description("detectors.correlation.scenarios: the metrics each complaint scenario is about")
        .values(", ".join(f"{o.text} : {o.value}" for o in options))
        .options(options)
        .current(options[0])
    )


def _count(where: str, by: str) -> str:
    return (
        f'SELECT sum("value") FROM "{schema.METRIC}" WHERE {FILTER} AND {where} AND $timeFilter '
        f"GROUP BY time($__interval), {by} fill(none)"
    )


def build(scenarios: Mapping[str, list[str]]) -> dashboard.Dashboard:
    """The complaints dashboard; ``scenarios`` is the configured scenario → metrics mapping."""
    surges = (
        f'SELECT max("value") AS "surge" FROM "{schema.ANOMALY}" WHERE {FILTER} AND "scenario" = \'\' AND '
        "$timeFilter GROUP BY time($__interval) fill(none)"
    )
    return (
        board(
            COMPLAINTS,
            "telewatch · complaints",
            "Complaints per category, scenario and region with the surges "
            "marked, beside the metrics each scenario maps to.",
        )
        .with_variable(
            tag_values("region", "Region", schema.METRIC, "region", where=f"\"metric\" = '{COMPLAINTS_METRIC}'")
        )
        .with_variable(
            tag_values("category", "Category", schema.METRIC, "category", where=f"\"metric\" = '{COMPLAINTS_METRIC}'")
        )
        .with_variable(
            tag_values("scenario", "Scenario", schema.METRIC, "scenario", where=f"\"metric\" = '{COMPLAINTS_METRIC}'")
        )
        .with_variable(scenario_metrics(scenarios))
        .annotation(
            annotation(
                "Complaint surges",
                f'SELECT "value" AS "text", "series"::tag AS "tags" FROM "{schema.ANOMALY}" WHERE {FILTER} AND '
                "$timeFilter",
                "orange",
            )
        )
        .with_panel(
            time_series(
                "Complaints per category",
                "Complaints per interval, stacked by category; the red points are the "
                "intervals where the detectors flagged a surge (all categories of the selection).",
                [
                    InfluxQL("A", _count("\"scenario\" = ''", '"category"'), alias="$tag_category"),
                    InfluxQL("B", surges, alias="$col"),
                ],
                bars=True,
                stacked=True,
                colours={"surge": "red"},
            ).override_by_name(
                "surge",
                [
                    dashboard.DynamicConfigValue(id_val="custom.drawStyle", value="points"),
                    dashboard.DynamicConfigValue(id_val="custom.pointSize", value=9),
                    dashboard.DynamicConfigValue(id_val="custom.stacking", value={"mode": "none", "group": "A"}),
                ],
            )
        )
        .with_panel(
            time_series(
                "Complaints per region",
                "Where the complaints come from.",
                [InfluxQL("A", _count("\"scenario\" = ''", '"region"'), alias="$tag_region")],
                bars=True,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "Complaints per scenario",
                "The scenario codes the CRM files complaints under.",
                [
                    InfluxQL(
                        "A",
                        _count(f"{matches('scenario')} AND \"scenario\" != ''", '"scenario"'),
                        alias="$tag_scenario",
                    )
                ],
                bars=True,
                stacked=True,
                width=24,
            )
        )
        .with_panel(
            time_series(
                "Metrics the scenario maps to (worst score per region or channel)",
                "Pick a scenario in 'Scenario → metrics': the detector scores of the metrics it is about, per "
                "region (SMS metrics: per channel). A surge beside a score above 0.5 in the same area is a "
                "correlated incident.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT max("score") FROM "{schema.SCORE}" WHERE "metric" =~ /^($mapped)$/ AND '
                        f"{matches('region')} AND $timeFilter "
                        'GROUP BY time($__interval), "metric", "region", "channel" fill(none)',
                        alias="$tag_metric · $tag_region$tag_channel",
                    )
                ],
                width=24,
            )
            .min(0)
            .max(1)
            .thresholds(thresholds(SCORE_STEPS))
            .data_links([drill_down_link("Drill down", {"metric": "metric", "region": "region"})])
        )
        .build()
    )

"""Metric drill-down: one series with its expected band, the anomalies flagged on it, the volume behind it,
and the alerts and notifications it caused."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models import dashboard

from core import influx_schema as schema
from dashboards.influxql import InfluxQL, annotation
from dashboards.navigation import METRIC, board
from dashboards.panels import SCORE_STEPS, thresholds, time_series
from dashboards.variables import matches, tag_values

DEFAULT_METRIC = "call_setup_success_rate"
SERIES = "\"series\" = '$series' AND $timeFilter"


def _band_panel() -> timeseries.Panel:
    panel = time_series(
        "Value and expected band",
        "The series' value per window, what its detector expected and the band around it (expected ± threshold × "
        "spread); red points are windows flagged as anomalous.",
        [
            InfluxQL(
                "A",
                f'SELECT mean("value") AS "value" FROM "{schema.METRIC}" WHERE {SERIES} '
                "GROUP BY time($__interval) fill(none)",
                alias="$col",
            ),
            InfluxQL(
                "B",
                f'SELECT mean("expected") AS "expected", mean("lower") AS "lower", mean("upper") AS "upper" '
                f'FROM "{schema.SCORE}" WHERE {SERIES} GROUP BY time($__interval) fill(none)',
                alias="$col",
            ),
            InfluxQL(
                "C",
                f'SELECT max("value") AS "anomaly" FROM "{schema.ANOMALY}" WHERE {SERIES} '
                "GROUP BY time($__interval) fill(none)",
                alias="$col",
            ),
        ],
        width=24,
        height=10,
        colours={"value": "blue", "expected": "green", "anomaly": "red"},
    )
    fixed_grey = {"mode": "fixed", "fixedColor": "#8ab8ff"}
    return (
        panel.override_by_name(
            "lower",
            [
                dashboard.DynamicConfigValue(id_val="custom.fillBelowTo", value="upper"),
                dashboard.DynamicConfigValue(id_val="custom.lineWidth", value=0),
                dashboard.DynamicConfigValue(id_val="color", value=fixed_grey),
            ],
        )
        .override_by_name(
            "upper",
            [
                dashboard.DynamicConfigValue(id_val="custom.lineWidth", value=0),
                dashboard.DynamicConfigValue(id_val="color", value=fixed_grey),
            ],
        )
        .override_by_name(
            "anomaly",
            [
                dashboard.DynamicConfigValue(id_val="custom.drawStyle", value="points"),
                dashboard.DynamicConfigValue(id_val="custom.pointSize", value=9),
            ],
        )
    )


def build() -> dashboard.Dashboard:
    """The metric drill-down dashboard."""
    series_filter = (
        f"\"metric\" = '$metric' AND {matches('region')} AND {matches('cell_id', 'cell')} AND {matches('channel')}"
    )
    return (
        board(
            METRIC,
            "telewatch · metric drill-down",
            "One KPI series: value against the expected band, anomaly "
            "markers, the volume behind a rate, alert transitions and deliveries as annotations.",
        )
        .with_variable(tag_values("metric", "Metric", schema.SCORE, "metric", single=DEFAULT_METRIC))
        .with_variable(tag_values("region", "Region", schema.SCORE, "region", where="\"metric\" = '$metric'"))
        .with_variable(
            tag_values("cell", "Cell", schema.SCORE, "cell_id", where=f"\"metric\" = '$metric' AND {matches('region')}")
        )
        .with_variable(tag_values("channel", "SMS channel", schema.SCORE, "channel", where="\"metric\" = '$metric'"))
        .with_variable(tag_values("series", "Series", schema.SCORE, "series", where=series_filter, single=""))
        .annotation(
            annotation(
                "Alert transitions",
                f'SELECT "by" AS "text", "status"::tag AS "tags", "alert_id" FROM "{schema.ALERT}" '
                f"WHERE \"metric\" = '$metric' AND {matches('region')} AND $timeFilter",
                "red",
            )
        )
        .annotation(
            annotation(
                "Notifications",
                f'SELECT "recipient"::tag AS "text", "outcome"::tag AS "tags", "latency_s" FROM "{schema.DELIVERY}" '
                "WHERE $timeFilter",
                "blue",
            )
        )
        .with_panel(_band_panel())
        .with_panel(
            time_series(
                "Detector score",
                "0 is normal, 0.5 is the threshold (dashed), 1 is far out.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT max("score") AS "score" FROM "{schema.SCORE}" WHERE {SERIES} '
                        "GROUP BY time($__interval) fill(none)",
                        alias="$col",
                    )
                ],
            )
            .min(0)
            .max(1)
            .thresholds(thresholds(SCORE_STEPS))
        )
        .with_panel(
            time_series(
                "Volume behind the value",
                "Events counted in each window: a rate over few events is noisy, and a "
                "drop in volume is itself a symptom.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT sum("count") AS "events" FROM "{schema.METRIC}" WHERE {SERIES} '
                        "GROUP BY time($__interval) fill(none)",
                        alias="$col",
                    )
                ],
                bars=True,
            )
        )
        .build()
    )

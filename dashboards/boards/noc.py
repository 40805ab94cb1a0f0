"""NOC overview: is anything wrong right now, where, how bad, and is somebody on it?"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from core import influx_schema as schema
from dashboards.influxql import InfluxQL
from dashboards.navigation import NOC, board, drill_down_link
from dashboards.panels import SEVERITY_COLOURS, bars, big_numbers, rows_table, state_grid, text_row, time_series
from dashboards.variables import matches, tag_values

AGE_BUCKETS = ["0-15m", "15m-1h", "1h-4h", "4h+"]


def _open(field: str, where: str, by: str, *, over_time: bool) -> str:
    """Open alerts from the alerting worker's snapshots: the latest snapshot's counts, summed ``by`` a tag."""
    interval = "time($__interval), " if over_time else ""
    inner = (
        f'SELECT last("{field}") AS "n" FROM "{schema.ALERTS_OPEN}" WHERE {where}$timeFilter '
        f'GROUP BY {interval}"severity", "status", "age"'
    )
    return f'SELECT sum("n") FROM ({inner}) WHERE $timeFilter GROUP BY {interval}"{by}"'


def build() -> dashboard.Dashboard:
    """The NOC overview dashboard."""
    scope = f"{matches('metric')} AND {matches('region')} AND "
    return (
        board(
            NOC,
            "telewatch · NOC overview",
            "Every KPI per region and SMS channel at a glance, open alerts by "
            "severity and age, correlated incidents and who acknowledged what.",
        )
        .with_variable(tag_values("metric", "Metric", schema.SCORE, "metric"))
        .with_variable(tag_values("region", "Region", schema.SCORE, "region"))
        .with_variable(tag_values("channel", "SMS channel", schema.SCORE, "channel"))
        .with_row(text_row("Open alerts"))
        .with_panel(
            big_numbers(
                "Open alerts by severity",
                "Alerts firing or acknowledged, not yet resolved, per severity.",
                InfluxQL("A", _open("count", "", "severity", over_time=False), alias="$tag_severity"),
                width=8,
                colours=SEVERITY_COLOURS,
            )
        )
        .with_panel(
            big_numbers(
                "Not acknowledged",
                "Open alerts nobody has acknowledged yet, per severity.",
                InfluxQL(
                    "A",
                    _open("count", "\"status\" = 'firing' AND ", "severity", over_time=False),
                    alias="$tag_severity",
                ),
                width=6,
                colours=SEVERITY_COLOURS,
            )
        )
        .with_panel(
            big_numbers(
                "Correlated incidents",
                "Open alerts where a complaint surge and a metric anomaly of the same "
                "scenario and area coincide: customer impact is confirmed.",
                InfluxQL("A", _open("correlated", "", "status", over_time=False), alias="$tag_status"),
                width=4,
                steps=((None, "green"), (1, "red")),
            )
        )
        .with_panel(
            bars(
                "Open alerts by age",
                "How long the open alerts have been open (since they first fired).",
                InfluxQL("A", _open("count", "", "age", over_time=False), alias="$tag_age"),
                width=6,
                height=4,
                steps=((None, "green"), (1, "orange")),
            )
        )
        .with_row(text_row("KPIs at a glance (worst detector score; amber: anomalous, red: far out)"))
        .with_panel(
            state_grid(
                "Per region",
                "The worst score of each metric's series in each region (cells included) over each "
                "interval. Click a row to open the metric drill-down.",
                InfluxQL(
                    "A",
                    f'SELECT max("score") FROM "{schema.SCORE}" WHERE {scope}"region" != \'\' AND $timeFilter '
                    'GROUP BY time($__interval), "metric", "region" fill(none)',
                    alias="$tag_metric · $tag_region",
                ),
                height=12,
            ).data_links([drill_down_link("Drill down", {"metric": "metric", "region": "region"})])
        )
        .with_panel(
            state_grid(
                "Per SMS channel",
                "The worst score of each SMS metric's series on each channel (kinds included).",
                InfluxQL(
                    "A",
                    f'SELECT max("score") FROM "{schema.SCORE}" WHERE {matches("metric")} AND '
                    f"{matches('channel')} AND \"channel\" != '' AND $timeFilter "
                    'GROUP BY time($__interval), "metric", "channel" fill(none)',
                    alias="$tag_metric · $tag_channel",
                ),
                height=6,
            ).data_links([drill_down_link("Drill down", {"metric": "metric", "channel": "channel"})])
        )
        .with_row(text_row("Alerts over time"))
        .with_panel(
            time_series(
                "Open alerts by severity",
                "Open alerts in the alerting worker's snapshots (every 30 s).",
                [InfluxQL("A", _open("count", "", "severity", over_time=True), alias="$tag_severity")],
                stacked=True,
                width=8,
                colours=SEVERITY_COLOURS,
            )
        )
        .with_panel(
            time_series(
                "Acknowledgement state",
                "Open alerts firing (nobody on it) and acknowledged (an owner is on it).",
                [InfluxQL("A", _open("count", "", "status", over_time=True), alias="$tag_status")],
                stacked=True,
                width=8,
                colours={"firing": "red", "acknowledged": "green"},
            )
        )
        .with_panel(
            time_series(
                "Anomalies by severity",
                "Anomalous windows the detectors flagged, per severity.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT count("score") FROM "{schema.ANOMALY}" WHERE {scope}$timeFilter '
                        'GROUP BY time($__interval), "severity" fill(none)',
                        alias="$tag_severity",
                    )
                ],
                bars=True,
                stacked=True,
                width=8,
                colours=SEVERITY_COLOURS,
            )
        )
        .with_panel(
            rows_table(
                "Latest alert transitions",
                "Fired, acknowledged (by whom, how) and resolved, newest first.",
                InfluxQL(
                    "A",
                    f'SELECT "alert_id", "metric", "region", "channel", "scenario", "severity", "status", "via", '
                    f'"by" FROM "{schema.ALERT}" WHERE $timeFilter ORDER BY time DESC LIMIT 50',
                    result_format="table",
                ),
                width=24,
            )
        )
        .build()
    )

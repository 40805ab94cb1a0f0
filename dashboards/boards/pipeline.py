"""Pipeline health: is data flowing (events/s per topic), are the workers keeping up (lag), what is being
thrown away (dead letters, late events, InfluxDB drops) and are workers restarting?"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from core import influx_schema as schema
from dashboards.influxql import InfluxQL
from dashboards.navigation import PIPELINE, board
from dashboards.panels import big_numbers, time_series
from dashboards.variables import matches, tag_values

PROCESS = f"{matches('stage')} AND \"topic\" = '' AND $timeFilter"


def _per_topic(field: str, aggregate: str) -> str:
    """A per-topic field summed over the workers consuming the topic."""
    inner = (
        f'SELECT {aggregate}("{field}") AS "v" FROM "{schema.WORKER}" WHERE {matches("stage")} AND '
        f'{matches("topic")} AND "topic" != \'\' AND $timeFilter GROUP BY time($__interval), "worker", "topic"'
    )
    return f'SELECT sum("v") FROM ({inner}) WHERE $timeFilter GROUP BY time($__interval), "topic" fill(none)'


def build() -> dashboard.Dashboard:
    """The pipeline health dashboard."""
    return (
        board(
            PIPELINE,
            "telewatch · pipeline health",
            "Events per second per topic, consumer lag, dead letters by "
            "reason, late events, the InfluxDB write buffer and drops, and worker restarts.",
        )
        .with_variable(tag_values("stage", "Stage", schema.WORKER, "stage"))
        .with_variable(tag_values("topic", "Topic", schema.WORKER, "topic"))
        .with_panel(
            time_series(
                "Records per second per topic",
                "What the workers consume, summed over the workers of each topic.",
                [InfluxQL("A", _per_topic("records_per_s", "mean"), alias="$tag_topic")],
                unit="ops",
            )
        )
        .with_panel(
            time_series(
                "Consumer lag per topic",
                "Records behind the end of each topic, over the partitions assigned to "
                "the workers. Growing lag: add workers (up to the partition count) or look for a slow output.",
                [InfluxQL("A", _per_topic("lag", "last"), alias="$tag_topic")],
            )
        )
        .with_panel(
            time_series(
                "Dead letters by reason",
                "Events that could not be used, on the dead-letter topic with their reason (docs/EVENTS.md).",
                [
                    InfluxQL(
                        "A",
                        f'SELECT sum("count") FROM "{schema.DEADLETTER}" WHERE $timeFilter '
                        'GROUP BY time($__interval), "reason" fill(none)',
                        alias="$tag_reason",
                    )
                ],
                bars=True,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "Late events per metric",
                "Events that arrived after their window closed (also dead-lettered as "
                "late): a source's clock or its transport is behind.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT sum("count") FROM "{schema.LATE}" WHERE $timeFilter '
                        'GROUP BY time($__interval), "metric" fill(none)',
                        alias="$tag_metric",
                    )
                ],
                bars=True,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "InfluxDB write buffer",
                "Points waiting in each worker's InfluxDB buffer; a buffer that keeps "
                "growing means InfluxDB is slow or down (the oldest points are dropped when it is full).",
                [
                    InfluxQL(
                        "A",
                        f'SELECT max("influx_buffered") FROM "{schema.WORKER}" WHERE {PROCESS} '
                        'GROUP BY time($__interval), "stage", "worker" fill(none)',
                        alias="$tag_stage $tag_worker",
                    )
                ],
            )
        )
        .with_panel(
            big_numbers(
                "InfluxDB points dropped",
                "Points each stage's workers dropped since they started (buffer full or "
                "refused by InfluxDB); anything above 0 is a hole in the dashboards.",
                InfluxQL(
                    "A",
                    f'SELECT sum("d") FROM (SELECT last("influx_dropped") AS "d" FROM "{schema.WORKER}" '
                    f'WHERE {PROCESS} GROUP BY "stage", "worker") GROUP BY "stage"',
                    alias="$tag_stage",
                ),
                width=6,
            )
        )
        .with_panel(
            big_numbers(
                "Worker starts in range",
                "Processes started per stage in the time range: more than the workers "
                "you run means they are restarting.",
                InfluxQL(
                    "A",
                    f'SELECT sum("started") FROM "{schema.WORKER}" WHERE {PROCESS} GROUP BY "stage"',
                    alias="$tag_stage",
                ),
                width=6,
                steps=((None, "green"),),
            )
        )
        .with_panel(
            time_series(
                "Worker starts",
                "When worker processes (re)started, per stage.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT sum("started") FROM "{schema.WORKER}" WHERE {PROCESS} '
                        'GROUP BY time($__interval), "stage" fill(none)',
                        alias="$tag_stage",
                    )
                ],
                bars=True,
                stacked=True,
            )
        )
        .build()
    )

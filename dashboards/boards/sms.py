"""SMS channels: is each channel delivering, how fast, and how does that compare with what this part of the
month (calendar template) makes normal?"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from core import influx_schema as schema
from dashboards.influxql import InfluxQL, annotation
from dashboards.navigation import SMS, board, drill_down_link
from dashboards.panels import big_numbers, time_series
from dashboards.variables import matches, tag_values

RATE = "sms_delivery_success_rate"
LATENCY = "sms_delivery_latency_p95"
#: A channel's own series (no kind tag), or one kind on a channel.
PER_CHANNEL = f"{matches('channel')} AND \"kind\" = ''"
PER_KIND = f"{matches('channel')} AND {matches('kind')} AND \"kind\" != ''"


def _rate(where: str, by: str) -> str:
    """Delivered / submitted over each interval, weighted by volume (sum of counts, not mean of rates)."""
    return (
        f'SELECT sum("numerator") / sum("denominator") AS "rate" FROM "{schema.METRIC}" '
        f"WHERE \"metric\" = '{RATE}' AND {where} AND $timeFilter GROUP BY time($__interval), {by} fill(none)"
    )


def _p95(where: str, by: str) -> str:
    """The worst window's p95 latency in each interval."""
    return (
        f'SELECT max("value") FROM "{schema.METRIC}" WHERE "metric" = \'{LATENCY}\' AND {where} AND $timeFilter '
        f"GROUP BY time($__interval), {by} fill(none)"
    )


def build() -> dashboard.Dashboard:
    """The SMS channels dashboard."""
    drill = [drill_down_link("Drill down", {"metric": "metric", "channel": "channel"})]
    return (
        board(
            SMS,
            "telewatch · SMS channels",
            "Delivery rate and p95 latency per channel and message kind, the "
            "volume, and the calendar capacity template in force (1st / 2nd–10th / rest of the month).",
        )
        .with_variable(tag_values("channel", "Channel", schema.METRIC, "channel", where=f"\"metric\" = '{RATE}'"))
        .with_variable(tag_values("kind", "Kind", schema.METRIC, "kind", where=f"\"metric\" = '{RATE}'"))
        .annotation(
            annotation(
                "SMS anomalies",
                f'SELECT "severity_level" AS "text", "series"::tag AS "tags" FROM "{schema.ANOMALY}" '
                f'WHERE "metric" =~ /^sms_/ AND {matches("channel")} AND $timeFilter',
                "red",
            )
        )
        .with_panel(
            big_numbers(
                "Calendar template in force",
                "Which capacity template the alerting budget counts against today: "
                "first_day (the 1st), days_2_10 (billing reminders peak) or rest; the value is today's alert SMS "
                "capacity of the channel.",
                InfluxQL(
                    "A",
                    f'SELECT last("capacity") FROM "{schema.BUDGET}" WHERE $timeFilter GROUP BY "template", "channel"',
                    alias="$tag_template · $tag_channel",
                ),
                width=24,
                height=3,
                steps=((None, "blue"),),
            )
        )
        .with_panel(
            time_series(
                "Delivery rate per channel",
                "Delivered / submitted, weighted by volume. Judge a dip against the "
                "template in force: billing days carry 2–5× the load.",
                [InfluxQL("A", _rate(PER_CHANNEL, '"channel"'), alias="$tag_channel")],
                unit="percentunit",
            ).data_links(drill)
        )
        .with_panel(
            time_series(
                "Delivery p95 latency per channel",
                "Submit-to-delivery latency of delivered SMS, 95th percentile (worst window in each interval).",
                [InfluxQL("A", _p95(PER_CHANNEL, '"channel"'), alias="$tag_channel")],
                unit="ms",
            ).data_links(drill)
        )
        .with_panel(
            time_series(
                "Delivery rate per channel and kind",
                "The same per message kind: verification codes fail loudest.",
                [InfluxQL("A", _rate(PER_KIND, '"channel", "kind"'), alias="$tag_channel · $tag_kind")],
                unit="percentunit",
            )
        )
        .with_panel(
            time_series(
                "Delivery p95 latency per channel and kind",
                "Late verification codes are failures to the customer.",
                [InfluxQL("A", _p95(PER_KIND, '"channel", "kind"'), alias="$tag_channel · $tag_kind")],
                unit="ms",
            )
        )
        .with_panel(
            time_series(
                "Submitted per channel",
                "SMS submitted in each interval: the load the template plans for.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT sum("denominator") FROM "{schema.METRIC}" WHERE "metric" = \'{RATE}\' AND '
                        f'{PER_CHANNEL} AND $timeFilter GROUP BY time($__interval), "channel" fill(none)',
                        alias="$tag_channel",
                    )
                ],
                bars=True,
                stacked=True,
                width=24,
            )
        )
        .build()
    )

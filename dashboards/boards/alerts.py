"""Alerting: are the owners being told (sent / retried / failed per channel and vendor), is the SMS budget
holding, how often does escalation kick in, and how long until somebody acknowledges?"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from core import influx_schema as schema
from dashboards.influxql import InfluxQL
from dashboards.navigation import ALERTING, board
from dashboards.panels import bars, big_numbers, time_series
from dashboards.variables import matches, tag_values

OUTCOME_COLOURS = {"sent": "green", "retry": "orange", "permanent": "red"}
DELIVERIES = f"{matches('channel')} AND {matches('vendor')} AND $timeFilter"


def build() -> dashboard.Dashboard:
    """The alerting dashboard."""
    return (
        board(
            ALERTING,
            "telewatch · alerting",
            "Notifications sent, retried and failed per channel and vendor, the "
            "SMS budget, escalations and time to acknowledge.",
        )
        .with_variable(tag_values("channel", "Channel", schema.DELIVERY, "channel"))
        .with_variable(tag_values("vendor", "Vendor", schema.DELIVERY, "vendor"))
        .with_panel(
            big_numbers(
                "Attempts in range by outcome",
                "sent: accepted by the SMS gateway or IM service; retry: failed, "
                "tried again; permanent: given up (dead letter, see the alert's page).",
                InfluxQL(
                    "A",
                    f'SELECT count("attempt") FROM "{schema.DELIVERY}" WHERE {DELIVERIES} GROUP BY "outcome"',
                    alias="$tag_outcome",
                ),
                width=8,
                colours=OUTCOME_COLOURS,
            )
        )
        .with_panel(
            big_numbers(
                "Mean time to acknowledge",
                "From an alert's first firing to its acknowledgement, over the range.",
                InfluxQL(
                    "A",
                    f'SELECT mean("since_fired_s") FROM "{schema.ALERT}" WHERE "status" = \'acknowledged\' '
                    "AND $timeFilter",
                    alias="acknowledged after",
                ),
                width=8,
                unit="s",
                steps=((None, "green"), (900, "orange"), (3600, "red")),
            )
        )
        .with_panel(
            bars(
                "SMS budget used today",
                "Alert SMS sent today against the channel's capacity for the calendar "
                "template in force; past 100 % only critical alerts go out, the rest wait for the digest.",
                InfluxQL(
                    "A",
                    f'SELECT last("used") FROM "{schema.BUDGET}" WHERE $timeFilter GROUP BY "channel", "template"',
                    alias="$tag_channel ($tag_template)",
                ),
                unit="percentunit",
                width=8,
                height=4,
                maximum=1,
                steps=((None, "green"), (0.8, "orange"), (1, "red")),
            )
        )
        .with_panel(
            time_series(
                "Attempts per channel and outcome",
                "Delivery attempts per interval.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT count("attempt") FROM "{schema.DELIVERY}" WHERE {DELIVERIES} '
                        'GROUP BY time($__interval), "channel", "outcome" fill(none)',
                        alias="$tag_channel · $tag_outcome",
                    )
                ],
                bars=True,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "Attempts per vendor and outcome",
                "Which gateway or IM service is failing.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT count("attempt") FROM "{schema.DELIVERY}" WHERE {DELIVERIES} '
                        'GROUP BY time($__interval), "vendor", "outcome" fill(none)',
                        alias="$tag_vendor · $tag_outcome",
                    )
                ],
                bars=True,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "Queue to send",
                "Seconds from queueing a notification to its successful attempt (grouping waits "
                "and retries included), mean and worst per channel.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT mean("latency_s") AS "mean", max("latency_s") AS "max" FROM '
                        f'"{schema.DELIVERY}" WHERE "outcome" = \'sent\' AND {DELIVERIES} '
                        'GROUP BY time($__interval), "channel" fill(none)',
                        alias="$tag_channel $col",
                    )
                ],
                unit="s",
            )
        )
        .with_panel(
            time_series(
                "SMS budget use",
                "Share of today's alert SMS capacity used, per channel.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT last("used") FROM "{schema.BUDGET}" WHERE $timeFilter '
                        'GROUP BY time($__interval), "channel" fill(none)',
                        alias="$tag_channel",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            time_series(
                "Escalations per step",
                "Escalation steps that told somebody: step 0 is the owner's lead, later "
                "steps reach further because nobody acknowledged.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT count("alert_id") FROM "{schema.ESCALATION}" WHERE $timeFilter '
                        'GROUP BY time($__interval), "step" fill(none)',
                        alias="step $tag_step",
                    )
                ],
                bars=True,
                stacked=True,
            )
        )
        .with_panel(
            time_series(
                "Alert transitions",
                "Alerts fired, acknowledged and resolved per interval.",
                [
                    InfluxQL(
                        "A",
                        f'SELECT count("alert_id") FROM "{schema.ALERT}" WHERE $timeFilter '
                        'GROUP BY time($__interval), "status" fill(none)',
                        alias="$tag_status",
                    )
                ],
                bars=True,
                stacked=True,
                colours={"firing": "red", "acknowledged": "yellow", "resolved": "green"},
            )
        )
        .build()
    )

"""What every telewatch dashboard shares: uids, the tag that links them, the time range, the link menu."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard

#: Every telewatch dashboard carries this tag; the link menu lists the dashboards that do.
TAG = "telewatch"
#: The folder the dashboards live in (file provisioning and ``telewatch dashboards push``).
FOLDER_UID = "telewatch"
FOLDER_TITLE = "telewatch"

NOC = "telewatch-noc"
METRIC = "telewatch-metric"
SMS = "telewatch-sms"
COMPLAINTS = "telewatch-complaints"
ALERTING = "telewatch-alerting"
PIPELINE = "telewatch-pipeline"


def board(uid: str, title: str, description: str) -> dashboard_builder.Dashboard:
    """A dashboard with telewatch's defaults: last 6 hours, refreshed every 30 s, UTC, the link menu."""
    return (
        dashboard_builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .timezone("utc")
        .time("now-6h", "now")
        .refresh("30s")
        .readonly()
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
        .link(
            dashboard_builder.DashboardLink("telewatch dashboards")
            .type(dashboard.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def drill_down_link(title: str, variables: dict[str, str]) -> cogbuilder.Builder[dashboard.DashboardLink]:
    """A data link to the metric drill-down for the clicked series, keeping the time range.

    ``variables`` maps a drill-down variable to the clicked series' label, e.g. ``{"metric": "metric"}``.
    """
    query = "&".join(f"var-{var}=${{__field.labels.{label}}}" for var, label in variables.items())
    return (
        dashboard_builder.DashboardLink(title)
        .type(dashboard.DashboardLinkType.LINK)
        .url(f"/d/{METRIC}/?{query}&${{__url_time_range}}")
        .keep_time(True)
    )

"""The dashboards' template variables: tag values read from InfluxDB, and how a query filters on them.

A filter variable offers "All", whose value is ``.*``; a query filters with
``"region" =~ /^$region$/``, which also matches series without that tag (an
SMS series has no region), so "All" never hides a series.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.models import dashboard

from dashboards.influxql import DATASOURCE

ALL = dashboard.VariableOption(selected=True, text="All", value="$__all")


def tag_values(
    name: str, label: str, measurement: str, key: str, *, where: str = "", single: str | None = None
) -> dashboard_builder.QueryVariable:
    """A variable listing the values of tag ``key`` (optionally narrowed by ``where``).

    By default it is a filter (several values or All); ``single`` makes it pick
    exactly one value, starting at that one (``""``: Grafana's first).
    """
    query = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"' + (f" WHERE {where}" if where else "")
    variable = (
        dashboard_builder.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
    )
    if single is not None:
        return (
            variable.current(dashboard.VariableOption(selected=True, text=single, value=single)) if single else variable
        )
    return variable.multi(True).include_all(True).all_value(".*").current(ALL)


def matches(tag: str, variable: str | None = None) -> str:
    """The condition that ``tag`` is one of the variable's values: ``"region" =~ /^$region$/``."""
    return f'"{tag}" =~ /^${variable or tag}$/'

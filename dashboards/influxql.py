"""InfluxQL queries on telewatch's InfluxDB datasource, as Grafana panel targets and annotation queries.

The SDK has no InfluxDB query type, so this module supplies the target
Grafana's InfluxDB plugin stores for a raw InfluxQL query (``query``,
``rawQuery``, ``resultFormat``, ``alias``). ``$timeFilter`` and
``$__interval`` are Grafana's macros; ``$region`` etc. are the dashboards'
template variables (:mod:`dashboards.variables`).
"""

from __future__ import annotations

from typing import Literal

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

#: The datasource every panel queries: provisioned by ``dashboards/provisioning`` and ``telewatch dashboards push``.
DATASOURCE_UID = "telewatch-influxdb"
DATASOURCE = dashboard.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)

ResultFormat = Literal["time_series", "table"]


class InfluxQLQuery(cogvariants.Dataquery):
    """A raw InfluxQL query of Grafana's InfluxDB datasource."""

    def __init__(self, ref_id: str, query: str, result_format: ResultFormat, alias: str | None) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        """The target as Grafana stores it."""
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE.to_json(),
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """A panel target: ``InfluxQL("A", "SELECT ...", alias="$tag_region")``."""

    def __init__(
        self, ref_id: str, query: str, *, result_format: ResultFormat = "time_series", alias: str | None = None
    ) -> None:
        self._query = InfluxQLQuery(ref_id, query, result_format, alias)

    def build(self) -> InfluxQLQuery:
        """The target."""
        return self._query


class InfluxAnnotationTarget(dashboard.AnnotationTarget):
    """An annotation's InfluxQL query: the ``text`` column becomes the annotation's text, ``tags`` its tags."""

    def __init__(self, query: str) -> None:
        super().__init__()
        self.query = query

    def to_json(self) -> dict[str, object]:
        """The target as Grafana's InfluxDB plugin stores an annotation query."""
        return {
            "refId": "Anno",
            "query": self.query,
            "rawQuery": True,
            "resultFormat": "table",
            "fromAnnotations": True,
            "textColumn": "text",
            "tagsColumn": "tags",
        }


class _Target(cogbuilder.Builder[dashboard.AnnotationTarget]):
    def __init__(self, target: InfluxAnnotationTarget) -> None:
        self._target = target

    def build(self) -> dashboard.AnnotationTarget:
        return self._target


def annotation(name: str, query: str, color: str) -> cogbuilder.Builder[dashboard.AnnotationQuery]:
    """A dashboard annotation from an InfluxQL query selecting ``text`` and ``tags`` columns."""
    return (
        dashboard_builder.AnnotationQuery()
        .name(name)
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color(color)
        .target(_Target(InfluxAnnotationTarget(query)))
    )


def annotation_queries(annotations: list[dashboard.AnnotationQuery]) -> list[str]:
    """The InfluxQL text of each annotation that has one (for checks)."""
    return [a.target.query for a in annotations if isinstance(a.target, InfluxAnnotationTarget)]

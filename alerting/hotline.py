"""The customer-service reminder: what a hotline agent can tell a caller about incidents where they are.

Given the open alerts and a caller's region (and cell, when the CRM knows it),
:func:`lookup` lists the customer-impacting incidents there: what is wrong in
plain words, since when, where it stands (firing, being handled by whom,
resolved recently) and the explanation script the owner configured
(``alerting.owners.owners.<name>.explanation``). An alert for the whole region
applies to every cell in it, an alert for a cell only to that cell, and an
alert with no region (an SMS channel's outage) everywhere. Internal
metrics nobody configured a script for are not customer-impacting and are left
out. No subscriber number appears in anything it returns.

>>> from datetime import datetime, timezone
>>> from alerting.owners import OwnersRegistry
>>> registry = OwnersRegistry.model_validate({"people": {"z": {"name": "张敏", "phone": "8613800000003"}},
...     "owners": {"calls": {"matchers": ['metric="call_drop_rate"'], "department": "无线网优", "people": ["z"],
...                          "explanation": "该区域通话质量下降，工程师正在处理。"}}})
>>> open_alert = OpenAlert("A7", {"metric": "call_drop_rate", "region": "north"}, "acknowledged",
...     datetime(2026, 12, 5, 1, 5, tzinfo=timezone.utc), "张敏")
>>> [(i.alert_id, i.progress, i.script) for i in lookup([open_alert], registry, region="north", cell="c042")]
[('A7', '处理中（张敏）', '该区域通话质量下降，工程师正在处理。')]
>>> lookup([open_alert], registry, region="south")
[]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from alerting.owners import OwnersRegistry
from alerting.render import METRIC_NAMES, ZONE

#: Labels that name where an alert is, most specific last.
_CELL_LABELS = ("cell_id", "cell")


@dataclass(frozen=True)
class OpenAlert:
    """An alert as the ledger lists it for the lookup."""

    alert_id: str
    labels: Mapping[str, str]
    status: Literal["firing", "acknowledged", "resolved"]
    started_at: datetime
    handled_by: str = ""


@dataclass(frozen=True)
class Incident:
    """One line of the hotline answer."""

    alert_id: str
    what: str
    where: str
    since: str
    progress: str
    department: str
    script: str


def _progress(alert: OpenAlert) -> str:
    if alert.status == "resolved":
        return "已恢复"
    if alert.status == "acknowledged":
        return f"处理中（{alert.handled_by}）" if alert.handled_by else "处理中"
    return "已发现，正在通知负责人"


def lookup(
    alerts: Iterable[OpenAlert], registry: OwnersRegistry, region: str, cell: str | None = None
) -> list[Incident]:
    """The customer-impacting incidents for a caller in ``region`` (and ``cell``), newest first."""
    found: list[tuple[datetime, Incident]] = []
    for alert in alerts:
        labels = alert.labels
        if "region" in labels and labels["region"] != region:
            continue
        alert_cell = _cell_of(labels)
        if alert_cell is not None and alert_cell != cell:
            continue
        owned = registry.owner_of(labels)
        if owned is None or not owned[1].explanation:
            continue
        owner = owned[1]
        metric = labels.get("metric", "")
        what = METRIC_NAMES.get(metric, (metric, metric))[0]
        if "category" in labels:
            what += f"（{labels['category']}）"
        found.append(
            (
                alert.started_at,
                Incident(
                    alert_id=alert.alert_id,
                    what=what,
                    where=" ".join(v for v in (labels.get("region"), alert_cell) if v),
                    since=alert.started_at.astimezone(ZONE).strftime("%m-%d %H:%M"),
                    progress=_progress(alert),
                    department=owner.department,
                    script=owner.explanation,
                ),
            )
        )
    return [incident for _, incident in sorted(found, key=lambda pair: pair[0], reverse=True)]


def _cell_of(labels: Mapping[str, str]) -> str | None:
    for name in _CELL_LABELS:
        if name in labels:
            return labels[name]
    return None

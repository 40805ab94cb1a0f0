"""Push telewatch's datasource, folder and dashboards to an existing Grafana, idempotently.

:func:`push` first reads everything (Grafana's version, the datasource, the
folder, each dashboard), so a wrong URL, a bad token or a too old Grafana
fails before anything is written. Then it writes only what differs: a second
push reports every object "unchanged" and sends no write request. A dashboard
is updated with the version it was read at, so an edit made in Grafana in
between fails with 412 instead of being overwritten, unless forced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dashboards.grafana_client import GrafanaTarget
from dashboards.grafana_errors import GrafanaTooOld
from dashboards.push_datasource import DATASOURCE_UID, InfluxDatasource

#: The oldest Grafana whose dashboard schema telewatch's dashboards use.
MIN_GRAFANA = (11, 0)
FOLDER_UID = "telewatch"
FOLDER_TITLE = "telewatch"
#: Dashboard fields Grafana owns: set on save, so never compared and never sent from a file.
SERVER_OWNED = frozenset({"id", "version"})
COMMIT_MESSAGE = "telewatch dashboards push"


class Outcome(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    read_only = "read-only in Grafana (provisioned from a file), not updated"
    only_in_grafana = "only in Grafana (left alone)"


_COUNTED = {
    Outcome.created: "created",
    Outcome.updated: "updated",
    Outcome.unchanged: "unchanged",
    Outcome.read_only: "read-only",
    Outcome.only_in_grafana: "only in Grafana",
}


@dataclass(frozen=True)
class Change:
    """What a push did to one object, e.g. ``dashboard telewatch-noc (NOC overview): updated (panels)``."""

    kind: str
    name: str
    outcome: Outcome
    detail: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """The outcome and what differs, e.g. ``updated (panels)``."""
        return f"{self.outcome} ({', '.join(self.detail)})" if self.detail else str(self.outcome)

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.status}"


@dataclass
class PushReport:
    """The Grafana pushed to and each object's outcome, in order."""

    url: str
    grafana_version: str
    changes: list[Change] = field(default_factory=list)

    def summary(self) -> str:
        counts = Counter(change.outcome for change in self.changes)
        parts = [f"{counts[outcome]} {_COUNTED[outcome]}" for outcome in Outcome if counts[outcome]]
        return f"Grafana {self.grafana_version} at {self.url}: {', '.join(parts) or 'nothing to push'}"


@dataclass(frozen=True)
class _Step:
    change: Change
    write: Callable[[], object] | None = None


def push(
    target: GrafanaTarget,
    dashboards: list[dict[str, Any]],
    influx: InfluxDatasource,
    *,
    force: bool = False,
    skip_datasource: bool = False,
    on_change: Callable[[Change], None] | None = None,
) -> PushReport:
    """Make Grafana hold ``influx``'s datasource, the telewatch folder and ``dashboards``; report each object.

    ``force`` overwrites dashboards changed in Grafana meanwhile (and resends the InfluxDB password);
    ``skip_datasource`` leaves the datasource alone (an Editor token suffices then). ``on_change`` hears
    each change as it is made. Raises :class:`~dashboards.grafana_errors.GrafanaError`.
    """
    version = target.version()
    found = GrafanaTarget.version_tuple(version)
    if found is None or found < MIN_GRAFANA:
        minimum = ".".join(map(str, MIN_GRAFANA))
        raise GrafanaTooOld(f"Grafana at {target.url} is version {version}; telewatch needs Grafana {minimum} or newer")
    steps = [] if skip_datasource else [_datasource_step(target, influx, force)]
    steps.append(_folder_step(target, force))
    steps += _dashboard_steps(target, dashboards, force)
    report = PushReport(target.url, version)
    for step in steps:
        if step.write is not None:
            step.write()
        report.changes.append(step.change)
        if on_change is not None:
            on_change(step.change)
    return report


def _datasource_step(target: GrafanaTarget, influx: InfluxDatasource, force: bool) -> _Step:
    existing = target.datasource(DATASOURCE_UID)
    if existing is None:
        body = influx.create_body()
        return _Step(Change("datasource", DATASOURCE_UID, Outcome.created), lambda: target.create_datasource(body))
    differs = tuple(influx.differences(existing, force=force))
    if not differs:
        return _Step(Change("datasource", DATASOURCE_UID, Outcome.unchanged))
    if existing.get("readOnly"):
        return _Step(Change("datasource", DATASOURCE_UID, Outcome.read_only, differs))
    body = influx.update_body(existing)
    return _Step(
        Change("datasource", DATASOURCE_UID, Outcome.updated, differs),
        lambda: target.update_datasource(DATASOURCE_UID, body),
    )


def _folder_step(target: GrafanaTarget, force: bool) -> _Step:
    existing = target.folder(FOLDER_UID)
    if existing is None:
        return _Step(
            Change("folder", FOLDER_UID, Outcome.created), lambda: target.create_folder(FOLDER_UID, FOLDER_TITLE)
        )
    if existing.get("title") == FOLDER_TITLE:
        return _Step(Change("folder", FOLDER_UID, Outcome.unchanged))
    version = int(existing.get("version") or 0)
    return _Step(
        Change("folder", FOLDER_UID, Outcome.updated, ("title",)),
        lambda: target.update_folder(FOLDER_UID, FOLDER_TITLE, version, overwrite=force),
    )


def _dashboard_steps(target: GrafanaTarget, dashboards: list[dict[str, Any]], force: bool) -> list[_Step]:
    ours = {model["uid"] for model in dashboards}
    strays = [hit for hit in target.dashboards_in_folder(FOLDER_UID) if hit.get("uid") not in ours]
    steps = [_dashboard_step(target, model, force) for model in dashboards]
    steps += [
        _Step(Change("dashboard", f"{hit.get('uid')} ({hit.get('title')})", Outcome.only_in_grafana)) for hit in strays
    ]
    return steps


def _dashboard_step(target: GrafanaTarget, model: dict[str, Any], force: bool) -> _Step:
    name = f"{model['uid']} ({model['title']})"
    wanted = _comparable(model)
    found = target.dashboard(model["uid"])
    body: dict[str, Any] = {"dashboard": wanted, "folderUid": FOLDER_UID, "overwrite": force, "message": COMMIT_MESSAGE}
    if found is None:
        return _Step(
            Change("dashboard", name, Outcome.created), lambda: target.save_dashboard(body, f"dashboard {name}")
        )
    stored = found.get("dashboard") or {}
    meta = found.get("meta") or {}
    differs = tuple(
        sorted(key for key in wanted.keys() | _comparable(stored).keys() if wanted.get(key) != stored.get(key))
    )
    if meta.get("folderUid") != FOLDER_UID:
        differs += ("folder",)
    if not differs:
        return _Step(Change("dashboard", name, Outcome.unchanged))
    body["dashboard"] = {**wanted, "version": stored.get("version", 0)}
    return _Step(
        Change("dashboard", name, Outcome.updated, differs), lambda: target.save_dashboard(body, f"dashboard {name}")
    )


def _comparable(model: dict[str, Any]) -> dict[str, Any]:
    """``model`` without the fields Grafana owns (a file's ``id`` would name another Grafana's dashboard)."""
    return {key: value for key, value in model.items() if key not in SERVER_OWNED}

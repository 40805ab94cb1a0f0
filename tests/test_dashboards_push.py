"""`telewatch dashboards push` against a local Grafana HTTP API (tests/fixtures/grafana_api.py): the documented
requests on a first push, nothing written on a second, updates with the stored version, 412 on a concurrent edit
and --force, and one clear line for each way it can fail, never showing the token or the InfluxDB password."""

from __future__ import annotations

import copy
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from dashboards.grafana_client import GrafanaTarget
from dashboards.grafana_errors import (
    GrafanaError,
    GrafanaTooOld,
    GrafanaUnreachable,
    NotGrafana,
    PermissionDenied,
    Rejected,
    TokenRejected,
    VersionMismatch,
)
from dashboards.push import MIN_GRAFANA, PushReport, push
from dashboards.push_datasource import DATASOURCE_UID, InfluxDatasource
from dashboards.push_files import DASHBOARDS_DIR, DashboardFileError, load_dashboards
from devstack.process import free_port
from fixtures.grafana_api import ADMIN_TOKEN, EDITOR_TOKEN, VIEWER_TOKEN, FakeGrafana, foreign_server
from telewatch import dashboards_cli

PASSWORD = "influx-Pa55word-for-tests"
WRONG_TOKEN = "glsa_NotAnyTokenGrafanaKnows000000000_deadbeef"
INFLUX = InfluxDatasource(url="http://influxdb.internal:8086", database="telewatch", user="grafana", password=PASSWORD)


def influx_panel(panel_id: int, title: str, metric: str, y: int) -> dict[str, Any]:
    query = (
        f'SELECT mean("value") FROM "kpi" WHERE "metric" = \'{metric}\' AND "region" =~ /^$region$/ '
        'AND $timeFilter GROUP BY time($__interval), "region" fill(null)'
    )
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "gridPos": {"h": 8, "w": 12, "x": 0, "y": y},
        "datasource": {"type": "influxdb", "uid": "telewatch-influxdb"},
        "fieldConfig": {"defaults": {"unit": "percentunit"}, "overrides": []},
        "targets": [{"refId": "A", "rawQuery": True, "resultFormat": "time_series", "query": query}],
    }


def dashboard(uid: str, title: str, *metrics: str) -> dict[str, Any]:
    """A small dashboard model as the generator writes it (with the id and version an export carries)."""
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "tags": ["telewatch"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 0,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "region",
                    "type": "query",
                    "datasource": {"type": "influxdb", "uid": "telewatch-influxdb"},
                    "query": 'SHOW TAG VALUES FROM "kpi" WITH KEY = "region"',
                    "includeAll": True,
                    "allValue": ".*",
                }
            ]
        },
        "panels": [influx_panel(i + 1, m.replace("_", " "), m, 8 * i) for i, m in enumerate(metrics)],
    }


def boards() -> list[dict[str, Any]]:
    return [
        dashboard("telewatch-noc", "NOC overview", "call_drop_rate", "sms_delivery_success_rate"),
        dashboard("telewatch-sms", "SMS delivery", "sms_delivery_success_rate"),
    ]


def sent(model: dict[str, Any]) -> dict[str, Any]:
    """What the push sends of a model: without the fields Grafana owns."""
    return {k: v for k, v in model.items() if k not in ("id", "version")}


def run_push(fake: FakeGrafana, models: list[dict[str, Any]], token: str = ADMIN_TOKEN, **options: Any) -> PushReport:
    return push(GrafanaTarget(fake.url, token), models, options.pop("influx", INFLUX), **options)


def lines(report: PushReport) -> list[str]:
    return [str(change) for change in report.changes]


# -- first push, second push ---------------------------------------------------------------------


def test_first_push_creates_the_datasource_folder_and_dashboards_with_the_documented_requests(
    grafana_api: FakeGrafana,
) -> None:
    models = boards()
    report = run_push(grafana_api, models)

    assert lines(report) == [
        "datasource telewatch-influxdb: created",
        "folder telewatch: created",
        "dashboard telewatch-noc (NOC overview): created",
        "dashboard telewatch-sms (SMS delivery): created",
    ]
    assert report.summary() == f"Grafana 11.6.0 at {grafana_api.url}: 4 created"
    writes = [(r.method, r.path, r.body) for r in grafana_api.writes()]
    assert writes == [
        (
            "POST",
            "/api/datasources",
            {
                "name": "telewatch-influxdb",
                "uid": "telewatch-influxdb",
                "type": "influxdb",
                "access": "proxy",
                "url": "http://influxdb.internal:8086",
                "jsonData": {"dbName": "telewatch", "httpMode": "POST"},
                "user": "grafana",
                "secureJsonData": {"password": PASSWORD},
            },
        ),
        ("POST", "/api/folders", {"title": "telewatch", "uid": "telewatch"}),
        *[
            (
                "POST",
                "/api/dashboards/db",
                {
                    "dashboard": sent(m),
                    "folderUid": "telewatch",
                    "overwrite": False,
                    "message": "telewatch dashboards push",
                },
            )
            for m in models
        ],
    ]
    # everything is read before anything is written, all with the token as a bearer
    methods = [r.method for r in grafana_api.requests]
    assert methods.index("POST") > max(i for i, m in enumerate(methods) if m == "GET")
    assert [r.path for r in grafana_api.requests[:2]] == ["/api/health", "/api/datasources/uid/telewatch-influxdb"]
    assert {r.authorization for r in grafana_api.requests} == {f"Bearer {ADMIN_TOKEN}"}
    # what Grafana now holds
    assert grafana_api.datasource_secrets["telewatch-influxdb"] == {"password": PASSWORD}
    noc = grafana_api.dashboards["telewatch-noc"]
    assert noc["folderUid"] == "telewatch" and noc["model"]["version"] == 1
    assert sent(noc["model"]) == sent(models[0]) and noc["messages"] == ["telewatch dashboards push"]


def test_a_second_push_reports_unchanged_and_sends_no_write(grafana_api: FakeGrafana) -> None:
    run_push(grafana_api, boards())
    first_writes = len(grafana_api.writes())

    report = run_push(grafana_api, boards())

    assert lines(report) == [
        "datasource telewatch-influxdb: unchanged",
        "folder telewatch: unchanged",
        "dashboard telewatch-noc (NOC overview): unchanged",
        "dashboard telewatch-sms (SMS delivery): unchanged",
    ]
    assert report.summary().endswith(": 4 unchanged")
    assert len(grafana_api.writes()) == first_writes == 4


# -- updates and versions ------------------------------------------------------------------------


def test_a_changed_dashboard_is_updated_with_its_stored_version(grafana_api: FakeGrafana) -> None:
    run_push(grafana_api, boards())
    grafana_api.edit_dashboard("telewatch-sms", description="tweaked in the UI")  # now at version 2
    changed = boards()
    changed[0]["panels"].append(influx_panel(3, "Call setup success", "call_setup_success_rate", 16))
    before = len(grafana_api.writes())

    report = run_push(grafana_api, changed)

    assert lines(report)[2:] == [
        "dashboard telewatch-noc (NOC overview): updated (panels)",
        "dashboard telewatch-sms (SMS delivery): updated (description)",
    ]
    bodies = [r.body for r in grafana_api.writes()[before:]]
    assert [(b["dashboard"]["uid"], b["dashboard"]["version"], b["overwrite"]) for b in bodies] == [
        ("telewatch-noc", 1, False),
        ("telewatch-sms", 2, False),
    ]
    assert bodies[0]["dashboard"] == sent(changed[0]) | {"version": 1}
    assert "description" not in grafana_api.dashboards["telewatch-sms"]["model"]
    assert grafana_api.dashboards["telewatch-noc"]["model"]["version"] == 2


def test_a_dashboard_edited_in_grafana_meanwhile_fails_with_412_and_keeps_the_edit(grafana_api: FakeGrafana) -> None:
    run_push(grafana_api, boards())
    changed = boards()
    changed[0]["refresh"] = "1m"
    edit = lambda: grafana_api.edit_dashboard("telewatch-noc", description="edited by the NOC")  # noqa: E731
    grafana_api.after("GET", "/api/dashboards/uid/telewatch-noc", edit)

    with pytest.raises(VersionMismatch) as failed:
        run_push(grafana_api, changed)

    assert str(failed.value) == (
        f"Grafana at {grafana_api.url} refused to save dashboard telewatch-noc (NOC overview): "
        "it changed in Grafana since you read it; run again, or --force to overwrite"
    )
    stored = grafana_api.dashboards["telewatch-noc"]["model"]
    assert stored["description"] == "edited by the NOC" and stored["refresh"] == "30s" and stored["version"] == 2


def test_force_overwrites_a_dashboard_edited_in_grafana_meanwhile(grafana_api: FakeGrafana) -> None:
    run_push(grafana_api, boards())
    changed = boards()
    changed[0]["refresh"] = "1m"
    edit = lambda: grafana_api.edit_dashboard("telewatch-noc", description="edited by the NOC")  # noqa: E731
    grafana_api.after("GET", "/api/dashboards/uid/telewatch-noc", edit)

    report = run_push(grafana_api, changed, force=True)

    assert "dashboard telewatch-noc (NOC overview): updated (refresh)" in lines(report)
    body = grafana_api.writes()[-1].body
    assert body["overwrite"] is True and body["dashboard"]["version"] == 1
    stored = grafana_api.dashboards["telewatch-noc"]["model"]
    assert sent(stored) == sent(changed[0]) and stored["version"] == 3


def test_a_dashboard_in_another_folder_is_moved_into_telewatch(grafana_api: FakeGrafana) -> None:
    run_push(grafana_api, boards())
    grafana_api.dashboards["telewatch-sms"]["folderUid"] = ""  # moved to the root in the UI

    report = run_push(grafana_api, boards())

    assert "dashboard telewatch-sms (SMS delivery): updated (folder)" in lines(report)
    assert grafana_api.dashboards["telewatch-sms"]["folderUid"] == "telewatch"


def test_dashboards_only_in_grafana_are_reported_and_left_alone(grafana_api: FakeGrafana) -> None:
    run_push(grafana_api, boards())

    report = run_push(grafana_api, boards()[:1])

    assert lines(report)[-1] == "dashboard telewatch-sms (SMS delivery): only in Grafana (left alone)"
    assert report.summary().endswith(": 3 unchanged, 1 only in Grafana")
    assert "telewatch-sms" in grafana_api.dashboards and not grafana_api.writes()[4:]


def test_an_existing_datasource_is_updated_keeping_the_settings_telewatch_does_not_manage(
    grafana_api: FakeGrafana,
) -> None:
    grafana_api.add_datasource(
        uid="telewatch-influxdb",
        name="telewatch-influxdb",
        type="influxdb",
        access="proxy",
        url="http://old-influx:8086",
        isDefault=True,
        jsonData={"dbName": "telewatch", "httpMode": "GET", "timeInterval": "10s"},
    )
    grafana_api.datasource_secrets["telewatch-influxdb"] = {"password": "stored-before"}
    influx = InfluxDatasource(url="http://influxdb.internal:8086")

    report = run_push(grafana_api, boards(), influx=influx)

    assert lines(report)[0] == "datasource telewatch-influxdb: updated (url, jsonData.httpMode)"
    put = grafana_api.writes()[0]
    assert (put.method, put.path) == ("PUT", "/api/datasources/uid/telewatch-influxdb")
    assert put.body == {
        "user": "",
        "database": "",
        "basicAuth": False,
        "basicAuthUser": "",
        "withCredentials": False,
        "isDefault": True,
        "version": 1,
        "name": "telewatch-influxdb",
        "uid": "telewatch-influxdb",
        "type": "influxdb",
        "access": "proxy",
        "url": "http://influxdb.internal:8086",
        "jsonData": {"dbName": "telewatch", "httpMode": "POST", "timeInterval": "10s"},
    }
    assert grafana_api.datasource_secrets["telewatch-influxdb"] == {"password": "stored-before"}
    assert lines(run_push(grafana_api, boards(), influx=influx))[0] == "datasource telewatch-influxdb: unchanged"


def test_a_password_is_resent_only_when_grafana_has_none_or_forced(grafana_api: FakeGrafana) -> None:
    run_push(grafana_api, boards(), influx=InfluxDatasource())
    assert grafana_api.datasource_secrets["telewatch-influxdb"] == {}

    assert lines(run_push(grafana_api, boards()))[0] == "datasource telewatch-influxdb: updated (url, user, password)"
    assert lines(run_push(grafana_api, boards()))[0] == "datasource telewatch-influxdb: unchanged"
    assert lines(run_push(grafana_api, boards(), force=True))[0] == "datasource telewatch-influxdb: updated (password)"
    assert grafana_api.writes()[-1].body["secureJsonData"] == {"password": PASSWORD}


def test_a_read_only_datasource_that_differs_is_reported_not_written(grafana_api: FakeGrafana) -> None:
    grafana_api.add_datasource(
        read_only=True,
        uid="telewatch-influxdb",
        name="telewatch-influxdb",
        type="influxdb",
        access="proxy",
        url="http://influxdb:8086",
        jsonData={"dbName": "telewatch", "httpMode": "POST"},
    )

    report = run_push(grafana_api, boards(), influx=InfluxDatasource())

    assert lines(report)[0] == (
        "datasource telewatch-influxdb: read-only in Grafana (provisioned from a file), not updated (url)"
    )
    assert grafana_api.writes()[0].path == "/api/folders"


def test_a_renamed_folder_gets_its_title_back(grafana_api: FakeGrafana) -> None:
    grafana_api.add_folder("telewatch", "Telecom (old)")

    report = run_push(grafana_api, boards())

    assert lines(report)[1] == "folder telewatch: updated (title)"
    put = next(r for r in grafana_api.writes() if r.method == "PUT")
    assert (put.path, put.body) == ("/api/folders/telewatch", {"title": "telewatch", "version": 1})
    assert grafana_api.folders["telewatch"]["title"] == "telewatch"


# -- roles and versions --------------------------------------------------------------------------


def test_an_editor_token_pushes_folder_and_dashboards_when_skipping_the_datasource(grafana_api: FakeGrafana) -> None:
    report = run_push(grafana_api, boards(), token=EDITOR_TOKEN, skip_datasource=True)

    assert [c.kind for c in report.changes] == ["folder", "dashboard", "dashboard"]
    assert not any("datasource" in r.path for r in grafana_api.requests)


def test_an_editor_token_cannot_push_the_datasource(grafana_api: FakeGrafana) -> None:
    with pytest.raises(PermissionDenied) as failed:
        run_push(grafana_api, boards(), token=EDITOR_TOKEN)

    assert str(failed.value) == (
        f"Grafana at {grafana_api.url} refused to read datasource telewatch-influxdb: the token lacks permission "
        "(403: You'll need additional permissions to perform this action. Permissions needed: datasources:read); "
        "use a service account token with the Admin role, or --skip-datasource to leave the datasource alone"
    )
    assert grafana_api.writes() == []


def test_a_viewer_token_is_refused_at_the_first_write(grafana_api: FakeGrafana) -> None:
    with pytest.raises(PermissionDenied) as failed:
        run_push(grafana_api, boards(), token=VIEWER_TOKEN, skip_datasource=True)

    assert str(failed.value).startswith(f"Grafana at {grafana_api.url} refused to create folder telewatch: ")
    assert "(403: You'll need additional permissions" in str(failed.value)
    assert str(failed.value).endswith("; use a service account token with the Editor role")
    assert grafana_api.folders == {} and grafana_api.dashboards == {}


def test_a_bad_token_is_rejected_before_any_write(grafana_api: FakeGrafana) -> None:
    with pytest.raises(TokenRejected) as failed:
        run_push(grafana_api, boards(), token=WRONG_TOKEN)

    message = str(failed.value)
    assert message.startswith(f"Grafana at {grafana_api.url} rejected the token (401: Invalid API key); create a ")
    assert "--token or TW_GRAFANA_TOKEN" in message and WRONG_TOKEN not in message
    assert grafana_api.writes() == []


@pytest.mark.parametrize("version", ["9.5.2", "10.4.3"])
def test_a_grafana_older_than_the_minimum_is_refused_before_any_write(grafana_api: FakeGrafana, version: str) -> None:
    grafana_api.version = version

    with pytest.raises(GrafanaTooOld) as failed:
        run_push(grafana_api, boards())

    assert MIN_GRAFANA == (11, 0)
    assert str(failed.value) == (
        f"Grafana at {grafana_api.url} is version {version}; telewatch needs Grafana 11.0 or newer"
    )
    assert [r.path for r in grafana_api.requests] == ["/api/health"]


def test_a_hidden_version_is_read_from_the_frontend_settings(grafana_api: FakeGrafana) -> None:
    grafana_api.hide_version = True
    assert run_push(grafana_api, boards()).grafana_version == "11.6.0"
    assert [r.path for r in grafana_api.requests[:2]] == ["/api/health", "/api/frontend/settings"]

    grafana_api.version = "10.2.0"
    with pytest.raises(GrafanaTooOld):
        run_push(grafana_api, boards())


# -- wrong URLs and bad input --------------------------------------------------------------------


def test_a_closed_port_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(GrafanaUnreachable) as failed:
        push(GrafanaTarget(url, ADMIN_TOKEN), boards(), INFLUX)

    assert str(failed.value) == (
        f"cannot reach Grafana at {url}: connection refused (nothing listens on that host and port); check --url"
    )


def test_an_unknown_host_is_a_clear_error() -> None:
    url = "http://grafana.telewatch.invalid:3000"  # .invalid never resolves (RFC 2606)

    with pytest.raises(GrafanaUnreachable) as failed:
        push(GrafanaTarget(url, ADMIN_TOKEN, timeout_s=5), boards(), INFLUX)

    assert str(failed.value) == f"cannot reach Grafana at {url}: unknown host name; check --url"


def test_a_server_that_never_answers_times_out_clearly() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections (the kernel's backlog) but never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(GrafanaUnreachable) as failed:
            push(GrafanaTarget(url, ADMIN_TOKEN, timeout_s=0.3), boards(), INFLUX)

    assert str(failed.value) == f"cannot reach Grafana at {url}: no answer within 0.3 s; check --url"


@pytest.mark.parametrize(
    ("status", "content_type", "body", "answer"),
    [
        (
            200,
            "text/html",
            b"<!doctype html><title>Intranet</title>",
            "with something that is not JSON (an HTML page?)",
        ),
        (
            404,
            "text/html",
            b"<html><body>404: no such page</body></html>",
            "404: <html><body>404: no such page</body></html>",
        ),
        (404, "text/html", b"<html>error message: not found</html>", "an error page that is not JSON"),
        (200, "application/json", b'{"status": "UP"}', "JSON without Grafana's fields: {'status': 'UP'}"),
    ],
)
def test_a_server_that_is_not_grafana_is_a_clear_error(
    status: int, content_type: str, body: bytes, answer: str
) -> None:
    with foreign_server(status, content_type, body) as url, pytest.raises(NotGrafana) as failed:
        push(GrafanaTarget(url, ADMIN_TOKEN), boards(), INFLUX)

    assert str(failed.value) == (
        f"{url} does not look like Grafana: GET /api/health answered {answer}; "
        "check --url (Grafana's root URL, with its sub-path if it has one)"
    )


def test_a_server_echoing_the_token_does_not_get_it_into_the_message() -> None:
    echo = json.dumps({"message": f"no route for Authorization: Bearer {ADMIN_TOKEN}"}).encode()
    with foreign_server(404, "application/json", echo) as url, pytest.raises(NotGrafana) as failed:
        push(GrafanaTarget(url, ADMIN_TOKEN), boards(), INFLUX)

    assert ADMIN_TOKEN not in str(failed.value) and "Bearer ***" in str(failed.value)


def test_a_token_with_a_trailing_newline_works_and_one_with_inner_space_is_refused(grafana_api: FakeGrafana) -> None:
    assert run_push(grafana_api, boards(), token=f" {ADMIN_TOKEN}\n").changes
    with pytest.raises(
        GrafanaError, match=r"^the token holds spaces or control characters; copy it again from Grafana$"
    ):
        GrafanaTarget(grafana_api.url, "glsa_half one")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("grafana.example.com", "--url must be Grafana's root URL"),
        ("ftp://grafana.example.com", "--url must be Grafana's root URL"),
        ("http://admin:admin@grafana.example.com", "--url must not hold credentials"),
    ],
)
def test_a_malformed_url_is_refused_before_connecting(url: str, problem: str) -> None:
    with pytest.raises(GrafanaError, match="^" + problem):
        GrafanaTarget(url, ADMIN_TOKEN)


def test_bad_input_shows_grafanas_message(grafana_api: FakeGrafana) -> None:
    untitled = dashboard("telewatch-empty", "")

    with pytest.raises(Rejected) as failed:
        run_push(grafana_api, [untitled])

    assert str(failed.value) == (
        f"Grafana at {grafana_api.url} refused to save dashboard telewatch-empty (): "
        "Dashboard title cannot be empty (400 empty-name)"
    )


def test_a_sub_path_url_reaches_grafana_under_it(grafana_api: FakeGrafana) -> None:
    target = GrafanaTarget(grafana_api.url + "/grafana/", ADMIN_TOKEN)
    assert target.url == grafana_api.url + "/grafana"
    with pytest.raises(NotGrafana, match="answered 404: Not found"):  # the fake serves the API at the root
        push(target, boards(), INFLUX)
    assert grafana_api.requests[-1].path == "/grafana/api/health"


# -- the dashboard files -------------------------------------------------------------------------


def write_boards(directory: Path, models: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for model in models:
        (directory / f"{model['uid']}.json").write_text(json.dumps(model, indent=2), encoding="utf-8")
    return directory


def test_load_dashboards_reads_every_json_file_by_name(tmp_path: Path) -> None:
    directory = write_boards(tmp_path / "json", boards())
    (directory / "README.md").write_text("not a dashboard")

    assert load_dashboards(directory) == sorted(boards(), key=lambda m: m["uid"])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"uid": "a", "title": "A",', r"z\.json:1:\d+: not valid JSON: "),
        ("[1, 2]", r"z\.json: a dashboard is a JSON object, not a list"),
        ('{"dashboard": {"uid": "a"}, "meta": {}}', r"z\.json: holds an API answer"),
        ('{"title": "A"}', r"z\.json: 'uid' must be 1 to 40 letters, digits, '-' or '_' \(got None\)"),
        ('{"uid": "has space", "title": "A"}', r"'uid' must be 1 to 40 .* \(got 'has space'\)"),
        ('{"uid": "' + "x" * 41 + '", "title": "A"}', r"'uid' must be 1 to 40"),
        ('{"uid": "a", "title": " "}', r"z\.json: 'title' must be a non-empty string"),
        ('{"uid": "a", "title": "A", "panels": {}}', r"z\.json: 'panels' must be a list"),
        (
            '{"uid": "telewatch-noc", "title": "A"}',
            r"z\.json: uid 'telewatch-noc' is already used by telewatch-noc\.json",
        ),
        (
            '{"uid": "a", "title": "SMS delivery"}',
            r"z\.json: title 'SMS delivery' is already used by telewatch-sms\.json",
        ),
    ],
)
def test_a_bad_dashboard_file_is_named_with_what_is_wrong(tmp_path: Path, content: str, problem: str) -> None:
    directory = write_boards(tmp_path / "json", boards())
    (directory / "z.json").write_text(content, encoding="utf-8")

    with pytest.raises(DashboardFileError, match=problem):
        load_dashboards(directory)


def test_a_missing_or_empty_dashboards_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DashboardFileError, match="no such directory; generate the dashboards or pass --dashboards-dir"):
        load_dashboards(tmp_path / "absent")
    with pytest.raises(DashboardFileError, match=r"no \*\.json dashboard files in it"):
        load_dashboards(tmp_path)


def test_the_repos_dashboard_files_load_when_generated() -> None:
    if not DASHBOARDS_DIR.is_dir() or not any(DASHBOARDS_DIR.glob("*.json")):
        pytest.skip(f"no dashboards generated in {DASHBOARDS_DIR} yet")
    models = load_dashboards(DASHBOARDS_DIR)

    def influx_uids(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            source = node.get("datasource")
            if isinstance(source, dict) and source.get("type") == "influxdb":
                yield str(source.get("uid"))
            for value in node.values():
                yield from influx_uids(value)
        elif isinstance(node, list):
            for value in node:
                yield from influx_uids(value)

    # every InfluxDB query goes to the datasource the push creates
    assert {uid for model in models for uid in influx_uids(model)} == {DATASOURCE_UID}


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.delenv("TW_GRAFANA_TOKEN", raising=False)
    monkeypatch.delenv("TW_INFLUXDB_PASSWORD", raising=False)
    yield CliRunner()


def invoke(runner: CliRunner, directory: Path, *args: str, token: str = ADMIN_TOKEN) -> Result:
    """``telewatch dashboards push --dashboards-dir directory *args`` in this process (``telewatch.cli`` imports
    take seconds), with the token and the InfluxDB password in the environment."""
    app = typer.Typer()
    app.add_typer(dashboards_cli.dashboards_app, name="dashboards")
    env = {"TW_GRAFANA_TOKEN": token, "TW_INFLUXDB_PASSWORD": PASSWORD}
    return runner.invoke(app, ["dashboards", "push", "--dashboards-dir", str(directory), *args], env=env)


def test_the_command_pushes_then_reports_unchanged(grafana_api: FakeGrafana, cli: CliRunner, tmp_path: Path) -> None:
    directory = write_boards(tmp_path / "json", boards())
    args = ("--url", grafana_api.url, "--influxdb-url", "http://influxdb.internal:8086", "--influxdb-user", "grafana")

    first = invoke(cli, directory, *args)
    second = invoke(cli, directory, *args)

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        "datasource telewatch-influxdb: created",
        "folder telewatch: created",
        "dashboard telewatch-noc (NOC overview): created",
        "dashboard telewatch-sms (SMS delivery): created",
        f"Grafana 11.6.0 at {grafana_api.url}: 4 created",
    ]
    assert (
        second.exit_code == 0 and second.stdout.splitlines()[-1] == f"Grafana 11.6.0 at {grafana_api.url}: 4 unchanged"
    )
    assert grafana_api.datasource_secrets["telewatch-influxdb"] == {"password": PASSWORD}
    assert grafana_api.datasources["telewatch-influxdb"]["user"] == "grafana"


@pytest.mark.parametrize(
    ("token", "prepare", "expected"),
    [
        (WRONG_TOKEN, None, "rejected the token (401: Invalid API key)"),
        (VIEWER_TOKEN, None, "refused to read datasource telewatch-influxdb: the token lacks permission (403: "),
        (ADMIN_TOKEN, "old", "is version 9.5.2; telewatch needs Grafana 11.0 or newer"),
        (ADMIN_TOKEN, "concurrent", "it changed in Grafana since you read it; run again, or --force to overwrite"),
    ],
)
def test_the_command_fails_with_one_line_and_code_1_never_showing_secrets(
    grafana_api: FakeGrafana,
    cli: CliRunner,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    token: str,
    prepare: str | None,
    expected: str,
) -> None:
    directory = write_boards(tmp_path / "json", boards())
    if prepare == "old":
        grafana_api.version = "9.5.2"
    if prepare == "concurrent":
        assert invoke(cli, directory, "--url", grafana_api.url).exit_code == 0
        changed = copy.deepcopy(boards())
        changed[1]["refresh"] = "5m"
        write_boards(directory, changed)
        grafana_api.after(
            "GET", "/api/dashboards/uid/telewatch-sms", lambda: grafana_api.edit_dashboard("telewatch-sms")
        )
    caplog.set_level(logging.DEBUG)

    result = invoke(cli, directory, "--url", grafana_api.url, token=token)

    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and expected in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for secret in (token, PASSWORD):
        assert secret not in result.output and secret not in caplog.text


def test_the_token_and_password_never_show_on_success_or_in_help(
    grafana_api: FakeGrafana, cli: CliRunner, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    directory = write_boards(tmp_path / "json", boards())

    pushed = invoke(cli, directory, "--url", grafana_api.url)
    helped = invoke(cli, directory, "--help")

    assert pushed.exit_code == 0 and helped.exit_code == 0 and "TW_GRAFANA_TOKEN" in helped.output
    assert "127.0.0.1" in caplog.text  # the logs were captured: urllib3 logs each connection at DEBUG
    for secret in (ADMIN_TOKEN, PASSWORD):
        assert secret not in pushed.output + helped.output + caplog.text


def test_a_bad_dashboard_file_fails_the_command_before_connecting(cli: CliRunner, tmp_path: Path) -> None:
    directory = write_boards(tmp_path / "json", boards())
    (directory / "broken.json").write_text("{", encoding="utf-8")

    result = invoke(cli, directory, "--url", "http://127.0.0.1:1")

    assert result.exit_code == 1 and result.stderr.startswith(f"error: {directory / 'broken.json'}:1:2: not valid JSON")


def test_telewatch_dashboards_push_end_to_end(grafana_api: FakeGrafana, tmp_path: Path) -> None:
    """The installed command as an operator runs it: pushed, then a closed port as one line on stderr."""
    directory = write_boards(tmp_path / "json", boards())
    env = {k: v for k, v in os.environ.items() if not k.startswith("TW_")} | {"TW_GRAFANA_TOKEN": EDITOR_TOKEN}

    def telewatch(url: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "telewatch", "dashboards", "push", "--url", url, "--skip-datasource",
               "--dashboards-dir", str(directory)]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, env=env)

    pushed = telewatch(grafana_api.url)
    closed = f"http://127.0.0.1:{free_port()}"
    refused = telewatch(closed)

    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.splitlines()[-1] == f"Grafana 11.6.0 at {grafana_api.url}: 3 created"
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"error: cannot reach Grafana at {closed}: connection refused (nothing listens on that host and port); "
        "check --url\n"
    )

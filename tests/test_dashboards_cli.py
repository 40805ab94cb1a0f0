"""`telewatch dashboards build|check|render` as a user runs them."""

from __future__ import annotations

import filecmp
import uuid
from pathlib import Path

from typer.testing import CliRunner

from dashboards.catalog import JSON_DIR
from devstack.influxdb_server import InfluxDBServer
from devstack.process import free_port
from telewatch.cli import app

runner = CliRunner()


def test_build_writes_the_committed_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == sorted(p.name for p in JSON_DIR.glob("*.json")) and len(written) == 6
    same, mismatch, errors = filecmp.cmpfiles(tmp_path, JSON_DIR, written, shallow=False)
    assert (same, mismatch, errors) == (written, [], [])


def test_check_lists_every_empty_panel_of_an_empty_database(influxdb_server: InfluxDBServer) -> None:
    database = f"empty_{uuid.uuid4().hex[:8]}"
    influxdb_server.query(f'CREATE DATABASE "{database}"')
    args = ["dashboards", "check", "--influxdb-url", influxdb_server.url, "--influxdb-database", database]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "telewatch · NOC overview:" in result.output and "Per region: no data" in result.output
    assert "Records per second per topic: no data" in result.output


def test_check_and_render_name_an_unreachable_influxdb(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for command in (["check"], ["render", "--out", str(tmp_path)]):
        result = runner.invoke(app, ["dashboards", *command, "--influxdb-url", url])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert f"error: no InfluxDB answers at {url} (connection refused or no route)" in result.output
    assert not list(tmp_path.glob("*.png"))

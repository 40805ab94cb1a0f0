"""``telewatch dashboards ...``: build the dashboards' JSON, check their queries on an InfluxDB, render them, and
push them with their datasource and folder to an existing Grafana."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from core.durations import parse_duration
from dashboards import catalog
from dashboards.grafana_client import GrafanaTarget
from dashboards.grafana_errors import GrafanaError
from dashboards.push import Change, Outcome, push
from dashboards.push_datasource import DEFAULT_INFLUXDB_DATABASE, DEFAULT_INFLUXDB_URL, InfluxDatasource
from dashboards.push_files import DASHBOARDS_DIR, DashboardFileError, load_dashboards
from dashboards.query_check import InfluxQuery, InfluxUnreachable, check_board, time_filter
from dashboards.render import render_board
from telewatch.cli_console import ConfigOption, config_or_exit, console, err_console

#: The InfluxDB password comes only from here: never a command-line argument, never printed.
PASSWORD_ENV = "TW_INFLUXDB_PASSWORD"
TOKEN_ENV = "TW_GRAFANA_TOKEN"

dashboards_app = typer.Typer(
    help="Grafana dashboards: build the JSON, check every panel query on InfluxDB, render PNGs, push to a Grafana.",
    no_args_is_help=True,
)
QueryUrl = Annotated[str, typer.Option(help="InfluxDB's URL (1.x, or 2.x/3.x's v1-compatible API)")]
QueryDatabase = Annotated[str, typer.Option(help="Database the dashboards query")]
DashboardsDir = Annotated[Path, typer.Option(help="Folder of dashboard JSON files")]
_STYLE = {Outcome.created: "green", Outcome.updated: "yellow", Outcome.unchanged: "dim"}


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _show(change: Change) -> None:
    style = _STYLE.get(change.outcome, "magenta")
    console.print(
        f"{escape(f'{change.kind} {change.name}')}: [{style}]{escape(change.status)}[/{style}]", highlight=False
    )


@dashboards_app.command("push")
def push_command(
    url: Annotated[str, typer.Option("--url", help="Grafana's root URL, e.g. https://grafana.example.com:3000")],
    token: Annotated[
        str,
        typer.Option(
            "--token",
            envvar=TOKEN_ENV,
            show_default=False,
            help="Service account token: Editor role, Admin to push the datasource (better set TW_GRAFANA_TOKEN)",
        ),
    ],
    influxdb_url: Annotated[
        str, typer.Option(help="InfluxDB's URL as Grafana's server reaches it")
    ] = DEFAULT_INFLUXDB_URL,
    influxdb_database: Annotated[str, typer.Option(help="InfluxDB database the dashboards query")] = (
        DEFAULT_INFLUXDB_DATABASE
    ),
    influxdb_user: Annotated[
        str | None, typer.Option(help=f"InfluxDB user (its password only from env {PASSWORD_ENV})")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite dashboards changed in Grafana since read; resend the password")
    ] = False,
    skip_datasource: Annotated[
        bool, typer.Option("--skip-datasource", help="Leave the datasource alone (an Editor token suffices)")
    ] = False,
    dashboards_dir: DashboardsDir = DASHBOARDS_DIR,
) -> None:
    """Create or update the InfluxDB datasource, the telewatch folder and every dashboard; skip what is unchanged."""
    influx = InfluxDatasource(
        url=influxdb_url, database=influxdb_database, user=influxdb_user, password=os.environ.get(PASSWORD_ENV) or None
    )
    try:
        models = load_dashboards(dashboards_dir)
        target = GrafanaTarget(url, token)
        report = push(target, models, influx, force=force, skip_datasource=skip_datasource, on_change=_show)
    except (GrafanaError, DashboardFileError) as exc:
        raise _fail(str(exc)) from exc
    console.print(escape(report.summary()), highlight=False)


@dashboards_app.command("build")
def build_command(
    out: Annotated[Path, typer.Option(help="Where to write the JSON files")] = DASHBOARDS_DIR,
    config: ConfigOption = None,
) -> None:
    """Write every dashboard's JSON from the code in dashboards/ (the committed files are this command's output)."""
    scenarios = config_or_exit(config).detectors.correlation.scenarios
    for path in catalog.write(out, scenarios):
        console.print(f"wrote {escape(str(path))}", highlight=False)


def _range(since: str) -> str:
    end = datetime.now(UTC)
    try:
        return time_filter(end - timedelta(seconds=parse_duration(since)), end)
    except ValueError as exc:
        raise _fail(f"--since {since!r}: {exc}") from exc


@dashboards_app.command("check")
def check_command(
    influxdb_url: QueryUrl = DEFAULT_INFLUXDB_URL,
    influxdb_database: QueryDatabase = DEFAULT_INFLUXDB_DATABASE,
    since: Annotated[str, typer.Option(help="Time range to query, back from now, e.g. 6h")] = "6h",
    interval: Annotated[str, typer.Option(help="$__interval, e.g. 1m")] = "1m",
    dashboards_dir: DashboardsDir = DASHBOARDS_DIR,
) -> None:
    """Run every panel query as Grafana would (variables resolved and substituted) and list empty or failing ones."""
    run = InfluxQuery(influxdb_url, influxdb_database)
    problems = 0
    try:
        for board in load_dashboards(dashboards_dir):
            findings = check_board(board, run, _range(since), interval)
            bad = [f for f in findings if f.problem]
            problems += len(bad)
            console.print(f"{escape(board['title'])}: {len(findings)} queries, {len(bad)} problems", highlight=False)
            for f in bad:
                console.print(f"  {escape(f.panel)}: [red]{escape(f.problem)}[/red]\n    {escape(f.statement)}")
    except (DashboardFileError, InfluxUnreachable) as exc:
        raise _fail(str(exc)) from exc
    if problems:
        raise typer.Exit(1)


@dashboards_app.command("render")
def render_command(
    out: Annotated[Path, typer.Option(help="Folder for the PNG files")],
    influxdb_url: QueryUrl = DEFAULT_INFLUXDB_URL,
    influxdb_database: QueryDatabase = DEFAULT_INFLUXDB_DATABASE,
    since: Annotated[str, typer.Option(help="Time range to draw, back from now, e.g. 30m")] = "1h",
    interval: Annotated[str, typer.Option(help="$__interval, e.g. 10s")] = "1m",
    dashboards_dir: DashboardsDir = DASHBOARDS_DIR,
) -> None:
    """Draw each dashboard's main panels from InfluxDB's data to PNG (matplotlib renderings, not Grafana's)."""
    run = InfluxQuery(influxdb_url, influxdb_database)
    try:
        for board in load_dashboards(dashboards_dir):
            path = render_board(board, run, _range(since), interval, out / f"{board['uid']}.png")
            console.print(f"wrote {escape(str(path))}", highlight=False)
    except ModuleNotFoundError as exc:
        raise _fail(f"{exc.name} is needed for renderings: ./dev setup installs it (the dev dependencies)") from exc
    except (DashboardFileError, InfluxUnreachable) as exc:
        raise _fail(str(exc)) from exc

"""The ``telewatch`` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import faust
import typer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.table import Table
from tqdm import tqdm

from alerting.api.app import openapi
from alerting.api.docs import render_markdown
from alerting.api.silence_matchers import to_ledger, to_text
from alerting.ledger import Ledger, LedgerError
from alerting.worker import APP_ID as ALERTING_APP_ID
from core.durations import parse_duration
from core.privacy import mask_numbers_in_text
from detectors.worker import APP_ID as DETECTORS_APP_ID
from devstack.process import MissingDependency, ServerFailed
from devstack.stack import SERVER_NAMES, build_servers, select, statuses
from runtime.interpreter import tune_interpreter
from runtime.topics import ensure_topics
from simulator import FileSink, KafkaSink, SimulatorSettings, Sink, Stats, run_simulation
from simulator.sinks import INCIDENTS_FILE
from streams.worker import APP_ID
from telewatch import alerting_wiring, api_wiring, wiring
from telewatch.backtest import labelled, labelled_csv, point_adjust
from telewatch.backtest.recorded_points import (
    SIMULATION_START,
    points_from_simulation,
    read_points,
    simulate_to,
    simulation_settings,
    write_points,
)
from telewatch.backtest.report import write_report
from telewatch.backtest.run import BacktestResult, pooled_summary, read_incidents, run_backtest
from telewatch.cli_console import ConfigOption, config_or_exit, console, err_console
from telewatch.config import DEFAULT_CONFIG, Config
from telewatch.config_reference import render_reference
from telewatch.dashboards_cli import dashboards_app
from telewatch.demo import DemoOptions, run_demo

app = typer.Typer(help="telewatch: real-time service-quality monitoring for telecom operators.", no_args_is_help=True)
dev_app = typer.Typer(help="Run the local stack (Tansu, Apache Kafka, InfluxDB, Kannel) by PID.", no_args_is_help=True)
config_app = typer.Typer(help="Check configuration files and print the option reference.", no_args_is_help=True)
app.add_typer(dev_app, name="dev")
app.add_typer(config_app, name="config")
api_app = typer.Typer(help="The alerting REST API and its pages: serve, print the reference.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)
silence_app = typer.Typer(help="Silences in the ledger: add, list, expire.", no_args_is_help=True)
app.add_typer(api_app, name="api")
app.add_typer(token_app, name="token")
app.add_typer(silence_app, name="silence")
app.add_typer(dashboards_app, name="dashboards")

ServersArg = Annotated[list[str] | None, typer.Argument(help=f"Servers (default: all of {', '.join(SERVER_NAMES)})")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@dev_app.command("up")
def dev_up(servers: ServersArg = None, config: ConfigOption = None) -> None:
    """Install (if needed) and start local servers; each runs until `telewatch dev down`."""
    cfg = config_or_exit(config)
    try:
        for server in select(build_servers(cfg.stack), servers or SERVER_NAMES):
            console.print(f"starting {server.name} on {server.endpoint} ...")
            server.start()
            status = server.status()
            console.print(f"  [green]{server.name} up[/green] pid {status.pid}, log {status.log}")
    except (MissingDependency, ServerFailed, ValueError) as exc:
        raise _fail(str(exc)) from exc


@dev_app.command("down")
def dev_down(servers: ServersArg = None, config: ConfigOption = None) -> None:
    """Stop local servers by their PID."""
    cfg = config_or_exit(config)
    try:
        chosen = select(build_servers(cfg.stack), servers or SERVER_NAMES)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    for server in reversed(chosen):
        stopped = server.stop()
        console.print(f"{server.name}: {'stopped' if stopped else 'was not running'}")


@dev_app.command("install")
def dev_install(servers: ServersArg = None, config: ConfigOption = None) -> None:
    """Download and unpack the servers' binaries without starting them."""
    cfg = config_or_exit(config)
    try:
        for server in select(build_servers(cfg.stack), servers or SERVER_NAMES):
            server.install()
            console.print(f"{server.name}: installed")
    except (MissingDependency, ValueError) as exc:
        raise _fail(str(exc)) from exc


@dev_app.command("status")
def dev_status(config: ConfigOption = None) -> None:
    """Show which local servers run, with PID, endpoint and log file."""
    cfg = config_or_exit(config)
    table = Table("server", "state", "pid", "endpoint", "log")
    for status in statuses(build_servers(cfg.stack).values()):
        state = "[green]running[/green]" if status.running else "stopped"
        table.add_row(status.name, state, str(status.pid or "-"), status.endpoint, str(status.log))
    console.print(table)


@app.command("topics")
def topics(config: ConfigOption = None) -> None:
    """Create the configured Kafka topics that do not exist yet."""
    cfg = config_or_exit(config)
    created = asyncio.run(ensure_topics(cfg.bootstrap_servers(), cfg.kafka))
    console.print(f"created: {', '.join(created) if created else 'none (all exist)'}")


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="Config file to validate")]) -> None:
    """Validate a config file; print each problem with its line."""
    config_or_exit(path)
    console.print(f"{path}: OK")


@config_app.command("reference")
def config_reference() -> None:
    """Print the option reference (the text of docs/CONFIG.md)."""
    print(render_reference(), end="")


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command("simulate")
def simulate(
    to: Annotated[str, typer.Option("--to", help="'kafka' (the configured cluster) or a directory for JSONL files")],
    duration: Annotated[
        str | None, typer.Option(help="Simulated time to cover, e.g. 15m, 7d (default: until Ctrl-C)")
    ] = None,
    start: Annotated[
        datetime | None, typer.Option(help="Simulated start time, e.g. 2026-11-01T00:00:00+00:00 (default: now)")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Events per simulated second (overrides simulator.rate)")] = None,
    speed: Annotated[
        str | None, typer.Option(help="Simulated s per wall s, or 'max' (overrides simulator.speed)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides simulator.seed)")] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Ground-truth folder for --to kafka (default: under stack.home)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Produce labelled telecom traffic to Kafka or to files, with ground truth (incidents, bad events)."""
    cfg = config_or_exit(config)
    changes: dict[str, object] = {
        k: v for k, v in {"rate": rate, "seed": seed, "speed": speed}.items() if v is not None
    }
    try:
        settings = cfg.simulator.override(**changes) if changes else cfg.simulator
    except ValidationError as exc:
        raise _fail(str(exc), 2) from exc
    begin = start or datetime.now(UTC)
    if begin.tzinfo is None:
        raise _fail("--start needs a time zone, e.g. 2026-11-01T00:00:00+00:00", 2)
    seconds = _duration(duration)
    if to == "kafka":
        asyncio.run(ensure_topics(cfg.bootstrap_servers(), cfg.kafka))
        truth_dir = truth or cfg.stack.home_path() / "simulate" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        sink: Sink = KafkaSink(cfg.bootstrap_servers(), cfg.kafka.topics.input_names(), truth_dir)
        console.print(f"simulating to Kafka {', '.join(cfg.bootstrap_servers())}; ground truth in {truth_dir}")
    else:
        truth_dir = Path(to)
        truth_dir.mkdir(parents=True, exist_ok=True)
        sink = FileSink(truth_dir)
        console.print(f"simulating to files in {truth_dir}")
    stats = asyncio.run(_simulate_with_progress(settings, sink, begin, seconds))
    console.print(
        f"done: {stats.total_events:,} events ({stats.faults_total:,} bad), {stats.incidents_started} incidents, "
        f"simulated {stats.sim_start:%Y-%m-%d %H:%M} to {stats.sim_end:%Y-%m-%d %H:%M} UTC "
        f"in {stats.wall_s:.1f} s ({stats.events_per_s:,.0f} events/s)"
    )


async def _simulate_with_progress(
    settings: SimulatorSettings, sink: Sink, start: datetime, duration_s: float | None
) -> Stats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    total = int(duration_s) if duration_s is not None else None
    with tqdm(total=total, unit="sim-s", desc="simulating", disable=None) as bar:

        def progress(stats: Stats) -> None:
            bar.n = int((stats.sim_end - stats.sim_start).total_seconds())
            bar.set_postfix(events=f"{stats.total_events:,}", rate=f"{stats.events_per_s:,.0f}/s", refresh=False)
            bar.refresh()

        return await run_simulation(settings, sink, start, duration_s, progress, stop)


@app.command("streams")
def streams(
    config: ConfigOption = None,
    app_id: Annotated[str, typer.Option(help="faust app id: consumer group and table names")] = APP_ID,
    status_file: Annotated[
        Path | None, typer.Option(help="Rewrite this JSON file with counters (every --status-every seconds)")
    ] = None,
    status_every: Annotated[float, typer.Option(min=0.01, help="Seconds between status file rewrites")] = 1.0,
    loglevel: Annotated[str, typer.Option(help="Log level (debug, info, warning)")] = "info",
) -> None:
    """Run a streams worker: input events → windowed KPI series → metrics topic and InfluxDB (Ctrl-C stops).

    Start as many as you like with the same --app-id: they share the partitions.
    """
    cfg = config_or_exit(config)
    worker = wiring.streams_worker(cfg, app_id=app_id, status_file=status_file, status_every_s=status_every)
    _run_worker(cfg, worker.app, worker.changelog_topics(), loglevel)


@app.command("detect")
def detect(
    config: ConfigOption = None,
    app_id: Annotated[str, typer.Option(help="faust app id: consumer group and table names")] = DETECTORS_APP_ID,
    status_file: Annotated[
        Path | None, typer.Option(help="Rewrite this JSON file with counters (every --status-every seconds)")
    ] = None,
    status_every: Annotated[float, typer.Option(min=0.01, help="Seconds between status file rewrites")] = 1.0,
    loglevel: Annotated[str, typer.Option(help="Log level (debug, info, warning)")] = "info",
) -> None:
    """Run a detectors worker: metric points → anomalies (and correlated incidents) → anomalies topic and InfluxDB.

    The config file is watched: a changed `detectors:` section applies without a restart; a bad one is refused.
    """
    cfg = config_or_exit(config)
    path = config if config is not None else DEFAULT_CONFIG
    worker = wiring.detectors_worker(cfg, path, app_id=app_id, status_file=status_file, status_every_s=status_every)
    _run_worker(cfg, worker.app, worker.changelog_topics(), loglevel)


@app.command("alerting")
def alerting(
    config: ConfigOption = None,
    app_id: Annotated[str, typer.Option(help="faust app id: the consumer group")] = ALERTING_APP_ID,
    status_file: Annotated[
        Path | None, typer.Option(help="Rewrite this JSON file with counters (every --status-every seconds)")
    ] = None,
    status_every: Annotated[float, typer.Option(min=0.01, help="Seconds between status file rewrites")] = 1.0,
    loglevel: Annotated[str, typer.Option(help="Log level (debug, info, warning)")] = "info",
) -> None:
    """Run an alerting worker: anomalies → alerts in the ledger → SMS and IM messages to the named owners.

    Needs the ack-link secret in the environment (alerting.api.link_secret_env). Several workers may run
    with the same --app-id when the ledger is PostgreSQL (alerting.ledger_url).
    """
    cfg = config_or_exit(config)
    try:
        worker = alerting_wiring.alerting_worker(cfg, app_id=app_id, status_file=status_file,
                                                 status_every_s=status_every)  # fmt: skip
    except alerting_wiring.MissingSecret as exc:
        raise _fail(str(exc)) from exc
    _run_worker(cfg, worker.app, worker.changelog_topics(), loglevel)


def _run_worker(cfg: Config, faust_app: faust.App, changelogs: dict[str, int], loglevel: str) -> None:
    """Create the topics and changelogs, then run a faust worker until Ctrl-C / SIGTERM."""
    servers = cfg.bootstrap_servers()
    try:
        created = asyncio.run(ensure_topics(servers, cfg.kafka, changelogs))
    except KafkaError as exc:
        hint = (
            "start it with `telewatch dev up tansu`"
            if cfg.kafka.mode == "embedded"
            else "check kafka.bootstrap_servers"
        )
        raise _fail(f"cannot reach Kafka at {', '.join(servers)} ({exc}); {hint}") from exc
    if created:
        console.print(f"created topics: {', '.join(created)}")
    asyncio.set_event_loop(
        asyncio.new_event_loop()
    )  # asyncio.run closed its loop; faust's Worker takes the current one
    tune_interpreter()
    faust.Worker(faust_app, loglevel=loglevel).execute_from_commandline()


@app.command("backtest")
def backtest(
    report: Annotated[Path, typer.Option("--report", help="Write the HTML report here (one per seed: name-SEED.html)")],
    points: Annotated[
        list[Path] | None,
        typer.Option(
            "--points",
            help="Recorded metric points: JSONL (metrics topic) or CSV (also InfluxDB exports); repeat, or a directory "
            "of CSVs. Labelled CSV (timestamp,value,label) is scored point-adjusted",
        ),
    ] = None,
    simulate: Annotated[
        str | None, typer.Option("--simulate", help="Instead of --points: simulate this long (e.g. 2d) and use that")
    ] = None,
    seed: Annotated[
        list[int] | None,
        typer.Option("--seed", help="Simulator seed; repeat for several runs (default: simulator.seed)"),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="--simulate: events per second (overrides simulator.rate)")] = None,
    incidents_per_day: Annotated[
        float | None, typer.Option(help="--simulate: random incidents per day (overrides simulator.incidents)")
    ] = None,
    start: Annotated[
        datetime | None, typer.Option(help="--simulate: simulated start (default 2026-11-02T00:00:00+00:00)")
    ] = None,
    incidents: Annotated[
        Path | None, typer.Option("--incidents", help="Ground truth, incidents.jsonl (--simulate: the simulator's)")
    ] = None,
    learn: Annotated[
        str | None, typer.Option(help="Learn this long first without scoring it (e.g. 1d: seasonal profiles)")
    ] = None,
    window: Annotated[
        int | None, typer.Option(help="--points CSV without window_end: the window in s (default: the points' spacing)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON here")] = None,
    delay: Annotated[
        int, typer.Option(min=1, help="Labelled CSV: a segment is detected when flagged within its first DELAY points")
    ] = point_adjust.DEFAULT_DELAY,
    keep: Annotated[
        Path | None, typer.Option(help="--simulate: simulate into this folder (kept) instead of a temporary one")
    ] = None,
    save_points: Annotated[
        Path | None, typer.Option(help="--simulate: also write the points (JSONL, name-SEED.jsonl with several seeds)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Replay recorded (or simulated) metric points through the detectors and score them on labelled incidents."""
    cfg = config_or_exit(config)
    if (points is None) == (simulate is None):
        raise _fail("give either --points FILE or --simulate DURATION", 2)
    command = shlex.join(["telewatch", *sys.argv[1:]])
    learn_s = _duration(learn) or 0.0
    results: list[tuple[str, BacktestResult]] = []
    source = ", ".join(str(p) for p in points) if points is not None else None
    if points is not None:
        if seed or rate is not None or incidents_per_day is not None or keep or save_points or start:
            raise _fail("--seed, --rate, --incidents-per-day, --start, --keep and --save-points go with --simulate", 2)
        try:
            files = labelled_csv.input_files(points)
            marked = [f for f in files if labelled_csv.is_labelled(f)]
        except (OSError, ValueError) as exc:  # PointsFormatError is a ValueError
            raise _fail(str(exc), 2) from exc
        if marked:
            if len(marked) < len(files) or incidents or learn or window:
                others = ", ".join(str(f) for f in files if f not in marked) or "--incidents, --learn and --window"
                raise _fail(f"labelled CSV (with a label column) is scored alone: leave out {others}", 2)
            try:
                series = labelled_csv.read_labelled(marked)
            except (OSError, ValueError) as exc:
                raise _fail(str(exc), 2) from exc
            console.print(f"{sum(len(s.ts) for s in series):,} labelled points of {len(series):,} series from {source}")
            outcome = labelled.run_labelled(series, cfg, delay)
            console.print(labelled.console_table(outcome))
            labelled.write_html(outcome, report, command)
            console.print(f"report: {report}")
            if json_out is not None:
                labelled.write_json(outcome, json_out, command)
                console.print(f"figures: {json_out}")
            return
        try:
            recorded = [p for f in files for p in read_points(f, window)]
            truth = read_incidents(incidents) if incidents is not None else None
        except (OSError, ValueError) as exc:
            raise _fail(str(exc), 2) from exc
        console.print(f"{len(recorded):,} points of {len({p.series for p in recorded}):,} series from {source}")
        results.append(("", run_backtest(recorded, cfg, truth, learn_s=learn_s)))
    else:
        seconds = _duration(simulate)
        assert seconds is not None
        begin = start or SIMULATION_START
        if begin.tzinfo is None:
            raise _fail("--start needs a time zone, e.g. 2026-11-02T00:00:00+00:00", 2)
        seeds = seed or [cfg.simulator.seed]
        for number in seeds:
            try:
                settings = simulation_settings(cfg.simulator, number, rate, incidents_per_day)
            except ValidationError as exc:
                raise _fail(str(exc), 2) from exc
            suffix = f"-{number}" if len(seeds) > 1 else ""
            with tempfile.TemporaryDirectory(prefix="telewatch-backtest-") as scratch:
                directory = (keep / f"seed-{number}" if len(seeds) > 1 else keep) if keep else Path(scratch)
                console.print(f"seed {number}: simulating {simulate} from {begin:%Y-%m-%d %H:%M %Z} into {directory}")
                simulate_to(directory, settings, begin, seconds, progress=True)
                simulated = points_from_simulation(
                    directory, cfg.streams, max_future_skew_s=cfg.validation.max_future_skew_s, progress=True
                )
                truth = (
                    read_incidents(incidents) if incidents is not None else read_incidents(directory / INCIDENTS_FILE)
                )
            if save_points is not None:
                target = save_points.with_name(f"{save_points.stem}{suffix}{save_points.suffix}")
                write_points(target, simulated)
                console.print(f"points written to {target}")
            results.append((suffix, run_backtest(simulated, cfg, truth, learn_s=learn_s)))
    _print_backtest(results, report, command, json_out, source, seed or [cfg.simulator.seed])


def _print_backtest(
    results: list[tuple[str, BacktestResult]],
    report: Path,
    command: str,
    json_out: Path | None,
    points: str | None,
    seeds: list[int],
) -> None:
    table = Table(title="backtest")
    for column in (
        "run",
        "incidents",
        "detected",
        "recall",
        "precision",
        "median TTD (windows)",
        "false alarms/series-day",
    ):
        table.add_column(column, justify="left" if column == "run" else "right")

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f} %"

    def num(x: float | None, digits: int) -> str:
        return "n/a" if x is None else f"{x:.{digits}f}"

    for suffix, result in results:
        name = suffix.lstrip("-") or (points if points is not None else str(seeds[0]))
        path = report.with_name(f"{report.stem}{suffix}{report.suffix}")
        write_report(result, path, command=command)
        s = result.summary()
        table.add_row(name, str(s["incidents"]), str(s["detected"]), pct(result.recall), pct(result.precision),
                      num(result.median_ttd_windows, 1), num(result.false_alarms_per_series_day, 4))  # fmt: skip
        console.print(f"report: {path}")
    pooled = pooled_summary([r for _, r in results])
    if len(results) > 1:
        table.add_row("all", str(pooled["incidents"]), str(pooled["detected"]), pct(pooled["recall"]),
                      pct(pooled["precision"]), num(pooled["median_ttd_windows"], 1),
                      num(pooled["false_alarms_per_series_day"], 4))  # fmt: skip
    console.print(table)
    kinds = Table(title="by incident kind")
    for column in ("kind", "incidents", "detected", "recall", "median TTD (windows)"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    for kind, row in pooled["by_kind"].items():
        kinds.add_row(kind, str(row["incidents"]), str(row["detected"]), pct(row["recall"]),
                      num(row["median_ttd_windows"], 1))  # fmt: skip
    if pooled["by_kind"]:
        console.print(kinds)
    if json_out is not None:
        document = {
            "command": command,
            "pooled": pooled,
            "runs": [{"run": suffix.lstrip("-"), **result.to_json()} for suffix, result in results],
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"figures: {json_out}")


@app.command("demo")
def demo(
    duration: Annotated[
        str | None, typer.Option(help="Stop by itself after this long of live traffic (default: until Ctrl-C)")
    ] = None,
    history: Annotated[
        str,
        typer.Option(
            help="Simulated history replayed at full speed before going live, so the detectors have learned "
            "(0: none, and no demo incidents)"
        ),
    ] = "2h",
    config: ConfigOption = None,
) -> None:
    """The demo: embedded stack, simulated traffic with incidents, the workers, and the owners told by SMS and IM."""
    cfg = config_or_exit(config)
    options = DemoOptions(duration_s=_duration(duration), config_path=config, history_s=_duration(history) or 0.0)
    try:
        asyncio.run(run_demo(cfg, options, console))
    except (MissingDependency, ServerFailed, alerting_wiring.MissingSecret) as exc:
        raise _fail(str(exc)) from exc


@api_app.command("serve")
def api_serve(
    config: ConfigOption = None,
    loglevel: Annotated[str, typer.Option(help="Log level (debug, info, warning)")] = "info",
) -> None:
    """Serve the REST API and pages on alerting.api host:port over the ledger (alerting.ledger_url); Ctrl-C stops."""
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = config_or_exit(config)
    try:
        alerting_wiring.link_secret(cfg)
    except alerting_wiring.MissingSecret as exc:
        raise _fail(str(exc)) from exc
    api = cfg.alerting.api
    console.print(f"alerting API on http://{api.host}:{api.port} (OpenAPI: /openapi.json); Ctrl-C stops")
    try:
        asyncio.run(_serve_api(cfg))
    except LedgerError as exc:
        raise _fail(str(exc)) from exc


async def _serve_api(cfg: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await api_wiring.serve_api(cfg, stop)


@api_app.command("docs")
def api_docs() -> None:
    """Print the API reference (the text of docs/API.md) from its OpenAPI document."""
    print(render_markdown(openapi()), end="")


@contextmanager
def _ledger(cfg: Config) -> Iterator[Ledger]:
    try:
        ledger = Ledger.open(alerting_wiring.ledger_url(cfg))
    except LedgerError as exc:
        raise _fail(str(exc)) from exc
    with ledger:
        yield ledger


class ScopeName(StrEnum):
    """A token's scope."""

    read = "read"
    write = "write"
    admin = "admin"


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who or what uses it, e.g. noc-dashboard (shown in logs)")],
    scope: Annotated[ScopeName, typer.Option(help="read: GET only; write: also POST and DELETE; admin: all")],
    config: ConfigOption = None,
) -> None:
    """Create an API token and print it; this is the only time it is shown (the ledger keeps its hash)."""
    cfg = config_or_exit(config)
    with _ledger(cfg) as ledger:
        try:
            token = ledger.create_token(name, [scope.value], datetime.now(UTC))
        except LedgerError as exc:
            raise _fail(str(exc)) from exc
    err_console.print(f"token {name!r} with scope {scope.value} (shown once; send as 'Authorization: Bearer <token>'):")
    print(token)


@token_app.command("list")
def token_list(config: ConfigOption = None) -> None:
    """List the API tokens' names, scopes and state (never the tokens)."""
    cfg = config_or_exit(config)
    with _ledger(cfg) as ledger:
        found = ledger.tokens()
    table = Table("name", "scopes", "created (UTC)", "state")
    for token in found:
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "[green]live[/green]"
        table.add_row(token.name, ", ".join(token.scopes), f"{token.created_at:%Y-%m-%d %H:%M}", state)
    console.print(table)


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name")], config: ConfigOption = None) -> None:
    """Revoke an API token: requests with it are refused (401) from now on."""
    cfg = config_or_exit(config)
    with _ledger(cfg) as ledger:
        if not ledger.revoke_token(name, datetime.now(UTC)):
            raise _fail(f"no live token named {name!r}; `telewatch token list` shows them")
    console.print(f"token {name!r} revoked")


@silence_app.command("add")
def silence_add(
    matcher: Annotated[
        list[str], typer.Option("--matcher", "-m", help='Label matcher, repeatable: region="north", metric=~"sms_.*"')
    ],
    by: Annotated[str, typer.Option("--by", help="Who silences (a person's id)")],
    comment: Annotated[str, typer.Option("--comment", help="Why, e.g. the maintenance ticket")],
    duration: Annotated[str, typer.Option("--duration", help="How long from now, e.g. 30m, 2h, 1d")] = "1h",
    config: ConfigOption = None,
) -> None:
    """Silence the alerts matching every matcher, from now for --duration."""
    cfg = config_or_exit(config)
    seconds = _duration(duration)
    try:
        matchers = to_ledger(matcher)
    except ValueError as exc:
        raise _fail(f"--matcher {exc}", 2) from exc
    now = datetime.now(UTC)
    with _ledger(cfg) as ledger:
        try:
            silence = ledger.create_silence(matchers, now, now + timedelta(seconds=seconds or 0), by, comment, now)
        except (LedgerError, OverflowError) as exc:
            raise _fail(str(exc), 2) from exc
    console.print(f"silence {silence.id} until {silence.ends_at:%Y-%m-%d %H:%M} UTC")


class SilenceStateName(StrEnum):
    """A silence's state."""

    active = "active"
    pending = "pending"
    expired = "expired"


@silence_app.command("list")
def silence_list(
    state: Annotated[SilenceStateName | None, typer.Option(help="Only those in this state now")] = None,
    config: ConfigOption = None,
) -> None:
    """List silences, oldest first."""
    cfg = config_or_exit(config)
    now = datetime.now(UTC)
    with _ledger(cfg) as ledger:
        found = ledger.silences(now, state.value if state else None)
    table = Table("id", "state", "matchers", "starts (UTC)", "ends (UTC)", "by", "comment")
    for s in found:
        table.add_row(s.id, s.state(now), " ".join(to_text(m) for m in s.matchers), f"{s.starts_at:%Y-%m-%d %H:%M}",
                      f"{s.ends_at:%Y-%m-%d %H:%M}", s.created_by, mask_numbers_in_text(s.comment))  # fmt: skip
    console.print(table)


@silence_app.command("expire")
def silence_expire(
    silence_id: Annotated[str, typer.Argument(metavar="ID", help="The silence's id")], config: ConfigOption = None
) -> None:
    """End a silence now."""
    cfg = config_or_exit(config)
    with _ledger(cfg) as ledger:
        try:
            silence = ledger.expire_silence(silence_id, datetime.now(UTC))
        except LedgerError as exc:
            raise _fail(str(exc)) from exc
    console.print(f"silence {silence.id} expired at {silence.ends_at:%Y-%m-%d %H:%M:%S} UTC")


def main() -> None:
    """Entry point of the ``telewatch`` console script."""
    app()

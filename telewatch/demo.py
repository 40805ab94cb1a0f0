"""The demo: the embedded stack, the traffic simulator feeding Kafka live, the streams worker, and a console summary.

What runs (all on 127.0.0.1, all stopped on Ctrl-C or after ``--duration``):
Tansu (the embedded Kafka-compatible broker), InfluxDB 1.6.7, the simulator
producing the four input topics in real time, and a streams worker
(``telewatch streams``, a subprocess started and stopped by PID) that windows
the events into metric series and writes them to the metrics topic and to
InfluxDB (measurement ``telewatch_metric``). Every few seconds the demo prints
the worker's counters (from its status file) and, once points exist, counts
them in InfluxDB with InfluxQL; at the end it prints the queries as ``curl``
command lines to repeat.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from devstack.process import ManagedServer, ServerFailed
from devstack.stack import build_servers, select
from simulator.kafka_sink import KafkaSink
from simulator.run import run_simulation
from simulator.stats import Stats
from streams.influx_schema import METRIC
from telewatch.config import DEFAULT_CONFIG, Config, load_config
from telewatch.config_loader import ConfigError
from telewatch.topics import ensure_topics

# Queries go straight to InfluxDB, never through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class DemoOptions:
    """What the user chose on the command line."""

    duration_s: float | None
    report_every_s: float = 5.0
    #: The config file the demo's config came from, handed to the streams worker. None: ``config/telewatch.yaml``
    #: if the config is that file's, else the demo writes the config it runs with under the stack home.
    config_path: Path | None = None


class StreamsWorkerProcess(ManagedServer):
    """``telewatch streams`` as a subprocess of the demo: PID, log and status file under ``<home>/demo``."""

    name = "streams worker"
    start_timeout = 120.0
    #: Seconds a SIGTERM'd worker gets to flush its outputs before SIGKILL.
    stop_grace_s = 20.0

    def __init__(self, home: Path, config_path: Path) -> None:
        super().__init__(home)
        self.dir = home / "demo"
        self.pidfile = self.dir / "streams-worker.pid"
        self.logfile = self.dir / "streams-worker.log"
        self.status_file = self.dir / "streams-status.json"
        self.config_path = config_path.resolve()

    def install(self) -> None:
        """Nothing to install: the worker is this project's own command line."""

    def prepare(self) -> None:
        self.status_file.unlink(missing_ok=True)

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "telewatch", "streams", "-c", str(self.config_path),
            "--status-file", str(self.status_file), "--loglevel", "warning",
        ]  # fmt: skip

    def ready(self) -> bool:
        return self.status_file.is_file()

    @property
    def endpoint(self) -> str:
        return f"status file {self.status_file}"

    @property
    def ports(self) -> tuple[int, ...]:
        return ()

    def read_status(self) -> dict[str, Any] | None:
        """The worker's latest counters (it rewrites the file every second), or None before the first."""
        try:
            status: dict[str, Any] = json.loads(self.status_file.read_bytes())
        except (OSError, ValueError):
            return None
        return status


def _servers_to_run(config: Config) -> list[ManagedServer]:
    names = []
    if config.kafka.mode == "embedded":
        names.append("tansu")
    if config.influxdb.mode == "embedded":
        names.append("influxdb")
    return select(build_servers(config.stack), names)


def worker_config_path(config: Config, given: Path | None) -> Path:
    """The config file for the streams worker: ``given``, the default file if ``config`` is its, else a copy.

    The copy (``<home>/demo/streams-config.yaml``, readable only by the user: it may hold InfluxDB credentials)
    is written from ``config`` itself, so the worker runs with exactly the demo's settings.
    """
    if given is not None:
        return given.resolve()
    with contextlib.suppress(ConfigError):  # no default file: write the copy
        if load_config(DEFAULT_CONFIG) == config:
            return DEFAULT_CONFIG
    data = config.model_dump(mode="json")  # secrets come out masked: put them back
    for key in ("password", "token"):
        secret = getattr(config.influxdb, key)
        if secret is not None:
            data["influxdb"][key] = secret.get_secret_value()
    path = config.stack.home_path() / "demo" / "streams-config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# Written by `telewatch demo`: the config the demo runs with, for its streams worker.\n")
        yaml.safe_dump(data, out, sort_keys=False)
    if load_config(path) != config:
        raise RuntimeError(f"{path} does not reproduce the demo's config; pass the config file's path instead")
    return path


# -- InfluxQL ------------------------------------------------------------------------------------


class InfluxQL:
    """Runs InfluxQL on the configured InfluxDB (``GET /query``) and writes the same query as a ``curl`` line."""

    def __init__(self, config: Config) -> None:
        settings = config.influxdb
        self.url = f"{config.influxdb_url().rstrip('/')}/query"
        self.db = settings.database if settings.api == "v1" else str(settings.bucket)
        self._headers: dict[str, str] = {}
        self._curl_auth = ""
        if settings.api == "v2" and settings.token is not None:
            self._headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
            self._curl_auth = ' -H "Authorization: Token $INFLUX_TOKEN"'
        elif settings.username is not None:
            password = settings.password.get_secret_value() if settings.password is not None else ""
            basic = base64.b64encode(f"{settings.username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
            self._curl_auth = f" -u {_shell_quote(settings.username)}"

    async def query(self, q: str) -> list[dict[str, Any]]:
        """The series of the answer to one statement; raise RuntimeError with InfluxDB's error."""
        return await asyncio.to_thread(self._query, q)

    def _query(self, q: str) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({"db": self.db, "q": q})
        request = urllib.request.Request(f"{self.url}?{params}", headers=self._headers)
        try:
            with _OPENER.open(request, timeout=10.0) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace").strip()
            raise RuntimeError(f"InfluxDB answered HTTP {err.code} to {q!r}: {body}") from None
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"InfluxDB query {q!r} failed: {exc}") from exc
        result = answer.get("results", [{}])[0]
        if "error" in answer or "error" in result:
            raise RuntimeError(f"InfluxDB: {answer.get('error') or result['error']} (query {q!r})")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def curl(self, q: str) -> str:
        """A shell command line that runs ``q`` the same way."""
        return f"curl -sG{self._curl_auth} {self.url} --data-urlencode db={_shell_quote(self.db)} --data-urlencode {_shell_quote('q=' + q)}"


def _shell_quote(text: str) -> str:
    """``text`` as one shell word, in double quotes (readable with InfluxQL's single-quoted strings)."""
    if text and all(c.isalnum() or c in "-_.,:/=@%+" for c in text):
        return text
    return '"' + "".join(f"\\{c}" if c in '"\\$`' else c for c in text) + '"'


@dataclass(frozen=True)
class MetricQueries:
    """The InfluxQL that shows this run's metric points, and a sample series."""

    since: datetime

    @property
    def time_filter(self) -> str:
        return f"time >= '{self.since:%Y-%m-%dT%H:%M:%SZ}'"

    @property
    def count_points(self) -> str:
        return f"SELECT count(value) FROM {METRIC} WHERE {self.time_filter}"

    @property
    def last_by_series(self) -> str:
        return f'SELECT last(value) FROM {METRIC} WHERE {self.time_filter} GROUP BY "series"'

    def sample(self, series: str) -> str:
        value = series.replace("\\", "\\\\").replace("'", "\\'")
        return f"SELECT value, count FROM {METRIC} WHERE \"series\" = '{value}' AND {self.time_filter}"


async def count_points(influx: InfluxQL, queries: MetricQueries) -> int:
    """``telewatch_metric`` points written since the run began, counted by InfluxDB."""
    series = await influx.query(queries.count_points)
    return int(series[0]["values"][0][1]) if series else 0


# -- console -------------------------------------------------------------------------------------


def _n(value: object) -> str:
    return f"{value:,}" if isinstance(value, int | float) else "-"


def _by_reason(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    detail = ", ".join(f"{reason} {n:,}" for reason, n in sorted(counts.items()) if n)
    return f"{total:,}{f' ({detail})' if detail else ''}"


def _seconds(s: float) -> str:
    """``200`` → ``3m 20s``."""
    minutes, seconds = divmod(round(s), 60)
    return f"{minutes}m {seconds}s" if minutes and seconds else f"{minutes}m" if minutes else f"{seconds}s"


def _clock(ts: float) -> str:
    return f"{datetime.fromtimestamp(ts, UTC):%H:%M:%S}"


class _Reporter:
    """Prints one status line per interval: produced events, and the streams worker's counters."""

    def __init__(self, console: Console, first_points_at: float, since: float) -> None:
        self.console = console
        self.first_points_at = first_points_at
        self.since = since
        self.sim_stats: Stats | None = None
        self._last_events = 0
        self._last_produced = 0
        self._last_time = time.monotonic()

    def on_progress(self, stats: Stats) -> None:
        self.sim_stats = stats

    def report(self, status: dict[str, Any] | None, queryable: int | str | None) -> None:
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-9)
        produced = self.sim_stats.total_events if self.sim_stats else 0
        incidents = self.sim_stats.incidents_started if self.sim_stats else 0
        line = (
            f"[bold]{datetime.now(UTC):%H:%M:%S}[/bold]"
            f"  produced {(produced - self._last_produced) / elapsed:,.0f}/s ({produced:,})"
        )
        if status is None:
            line += "  streams worker: no status yet"
        else:
            events = int(status.get("events", 0))
            influx = status.get("influxdb") or {}
            line += (
                f"  streams {(events - self._last_events) / elapsed:,.0f} events/s ({events:,})"
                f"  metric series {_n(status.get('series'))}  points {_n(status.get('points'))}"
                f"  dead letters {_by_reason(status.get('dead_letters') or {})}"
                f"  late {_n(status.get('late'))}  duplicates {_n(status.get('duplicates'))}"
                f"  InfluxDB written {_n(influx.get('written'))} buffered {_n(influx.get('buffered'))}"
            )
            self._last_events = events
        if isinstance(queryable, int):
            line += f"  InfluxQL count since {_clock(self.since)} {queryable:,}"
        elif isinstance(queryable, str):
            line += f"  InfluxQL: {queryable}"
        if time.time() < self.first_points_at:
            line += f"  (first metric points due about {_clock(self.first_points_at)})"
        line += f"  incidents started {incidents}"
        self.console.print(line, highlight=False)
        self._last_produced, self._last_time = produced, now


def first_points_due(config: Config, start: float) -> float:
    """When the window open at ``start`` closes: window_s + allowed_lateness_s after it opened."""
    s = config.streams
    return math.floor(start / s.window_s) * s.window_s + s.window_s + s.allowed_lateness_s


# -- the run -------------------------------------------------------------------------------------


async def run_demo(config: Config, options: DemoOptions, console: Console) -> None:
    """Bring up the embedded stack and a streams worker, feed them live traffic and report until stopped."""
    servers = _servers_to_run(config)
    started: list[ManagedServer] = []
    worker: StreamsWorkerProcess | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for server in servers:
            console.print(f"starting {server.name} on {server.endpoint} (log: {server.logfile}) ...")
            already = server.pid() is not None
            await asyncio.to_thread(server.start)
            if not already:
                started.append(server)
            console.print(f"  [green]{server.name} ready[/green], pid {server.pid()}")
        bootstrap = config.bootstrap_servers()
        created = await ensure_topics(bootstrap, config.kafka)
        console.print(f"Kafka at {', '.join(bootstrap)}; topics created: {', '.join(created) or 'none (all existed)'}")
        worker = StreamsWorkerProcess(config.stack.home_path(), worker_config_path(config, options.config_path))
        await _start_worker(worker, console)
        start = time.time()
        queries = MetricQueries(datetime.fromtimestamp(start - start % config.streams.window_s, UTC))
        await _run_pipeline(config, options, console, stop, worker, start, queries)
        # Stopped first, so the points it still buffers are in InfluxDB for the final count.
        await _stop_worker(worker, console)
        await _final_report(config, console, worker, queries)
    finally:
        if worker is not None:
            await _stop_worker(worker, console)
        for server in reversed(started):
            await asyncio.to_thread(server.stop)
            console.print(f"stopped {server.name}")
        console.print("demo stopped.")


async def _start_worker(worker: StreamsWorkerProcess, console: Console) -> None:
    leftover = worker.pid()
    if leftover is not None:
        console.print(f"stopping a streams worker left running by an earlier demo (pid {leftover}) ...")
        await asyncio.to_thread(worker.stop, worker.stop_grace_s)
    console.print(
        f"starting the streams worker: telewatch {' '.join(worker.command()[3:])}\n  (log: {worker.logfile}) ...",
        highlight=False,
    )
    await asyncio.to_thread(worker.start)
    console.print(f"  [green]streams worker ready[/green], pid {worker.pid()}")


async def _stop_worker(worker: StreamsWorkerProcess, console: Console) -> None:
    """SIGTERM (it flushes and leaves the consumer group), SIGKILL after ``stop_grace_s``; a no-op once stopped."""
    pid = worker.pid()
    if await asyncio.to_thread(worker.stop, worker.stop_grace_s):
        console.print(f"stopped the streams worker (pid {pid})")


async def _run_pipeline(
    config: Config,
    options: DemoOptions,
    console: Console,
    stop: asyncio.Event,
    worker: StreamsWorkerProcess,
    start: float,
    queries: MetricQueries,
) -> None:
    input_topics = config.kafka.topics.input_names()
    truth_dir = config.stack.home_path() / "demo" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    influx = InfluxQL(config)
    due = first_points_due(config, start)
    console.print(
        f"InfluxDB at {config.influxdb_url()} (database {influx.db!r}); "
        f"simulator at {config.simulator.rate:g} events/s, ground truth in {truth_dir}"
    )
    s = config.streams
    console.print(
        f"first metric points due about {_clock(due)} UTC (in ~{_seconds(due - start)}): "
        f"a window closes window_s {s.window_s} s + allowed_lateness_s {s.allowed_lateness_s} s after it opens "
        f"(streams section of the config; a source without events closes up to idle_timeout_s {s.idle_timeout_s} s later)",
        highlight=False,
    )
    if options.duration_s is not None and start + options.duration_s < due:
        console.print(
            f"[yellow]note:[/yellow] --duration {_seconds(options.duration_s)} ends before then; "
            f"run at least --duration {math.ceil((due - start + s.idle_timeout_s) / 60)}m to see metric points",
            highlight=False,
        )
    console.print("[bold]Press Ctrl-C to stop everything.[/bold]")
    reporter = _Reporter(console, due, queries.since.timestamp())
    sink = KafkaSink(config.bootstrap_servers(), input_topics, truth_dir)
    simulation = run_simulation(
        config.simulator, sink, datetime.now(UTC), options.duration_s, reporter.on_progress, stop
    )
    task = asyncio.create_task(simulation, name="simulator")
    try:
        deadline = None if options.duration_s is None else time.monotonic() + options.duration_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), options.report_every_s)
            if worker.pid() is None:
                raise ServerFailed(f"the streams worker exited; last lines of {worker.logfile}:\n{worker.log_tail()}")
            status = worker.read_status()
            queryable: int | str | None = None
            if status is not None and status.get("points"):
                try:
                    queryable = await count_points(influx, queries)
                except RuntimeError as exc:
                    queryable = str(exc)
            reporter.report(status, queryable)
            if deadline is not None and time.monotonic() >= deadline:
                stop.set()
            if task.done() and task.exception() is not None:
                stop.set()
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
    if task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def _final_report(config: Config, console: Console, worker: StreamsWorkerProcess, queries: MetricQueries) -> None:
    """The worker's last counters, and InfluxQL that finds this run's points (run here, printed to repeat)."""
    status = worker.read_status()
    if status is not None:
        console.print(
            f"streams worker: {_n(status.get('events'))} events, {_n(status.get('points'))} metric points "
            f"in {_n(status.get('series'))} series, dead letters {_by_reason(status.get('dead_letters') or {})}, "
            f"late {_n(status.get('late'))}, duplicates {_n(status.get('duplicates'))}",
            highlight=False,
        )
    influx = InfluxQL(config)
    try:
        points = await count_points(influx, queries)
        by_series = await influx.query(queries.last_by_series)
        sample = min((s["tags"]["series"] for s in by_series), key=lambda k: (k.count("|"), k), default=None)
        rows = (await influx.query(queries.sample(sample)))[0] if sample is not None else None
    except (RuntimeError, IndexError, KeyError) as exc:
        console.print(f"[yellow]could not query InfluxDB:[/yellow] {exc}", highlight=False)
        return
    console.print(f"InfluxQL> {queries.count_points}", highlight=False)
    console.print(f"  {points:,} points", highlight=False)
    console.print(f"InfluxQL> {queries.last_by_series}", highlight=False)
    console.print(f"  {len(by_series):,} series", highlight=False)
    if sample is None or rows is None:
        console.print(
            f"no metric points of windows since {queries.since:%H:%M:%S} yet: a window closes window_s + "
            "allowed_lateness_s after it opens; run the demo longer",
            highlight=False,
        )
        return
    console.print(f"InfluxQL> {queries.sample(sample)}", highlight=False)
    for row in rows["values"][-3:]:
        console.print("  " + ", ".join(f"{c}={v}" for c, v in zip(rows["columns"], row, strict=True)), highlight=False)
    again = ""
    if config.influxdb.mode == "embedded":
        command = "telewatch dev up influxdb" + (
            "" if worker.config_path == DEFAULT_CONFIG else f" -c {worker.config_path}"
        )
        again = f" (after the demo, `{command}` starts it again)"
    console.print(f"Repeat them while InfluxDB runs{again}, e.g.:", highlight=False)
    console.print(f"  {influx.curl(queries.count_points)}", highlight=False)
    console.print(f"  {influx.curl(queries.sample(sample))}", highlight=False)

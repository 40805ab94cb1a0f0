"""The demo: the embedded stack, simulated traffic into Kafka, the workers, people told, a console summary.

What runs (all on 127.0.0.1, all stopped on Ctrl-C or after ``--duration``):
Tansu (the embedded Kafka-compatible broker), InfluxDB 1.6.7, Kannel with its
fake SMSC, the simulator producing the four input topics, a streams worker
(``telewatch streams``) that windows the events into metric series (metrics
topic, InfluxDB measurement ``telewatch_metric``), a detectors worker
(``telewatch detect``) that judges every point and raises anomalies (anomalies
topic, ``telewatch_anomaly``), and an alerting worker (``telewatch alerting``)
that turns them into alerts and SMS and IM messages to their owners; the
workers are subprocesses started and stopped by PID. In the demo's own event
loop: the alerting API (the ack pages of the links in messages) and a local IM
robot server standing in for the owners' groups (``telewatch.demo_alerting``).

Detectors learn a series before they flag it (``warmup_points`` windows: 30 min
with 60 s windows), so the demo first replays recent simulated history
(``--history``, default the last 2 h) at full speed, without incidents or bad
events, until the simulated clock reaches the wall clock; then it goes on live,
with incidents scheduled a minute or two in (unless the config schedules its
own). It prints each incident's ground truth as it starts, each new anomaly
episode as the detectors report it (matched against that ground truth), the
counters (``telewatch.demo_console``: a live table on a terminal, short plain lines
every few seconds otherwise), each SMS and IM message as it arrives and each
acknowledgement (``telewatch.demo_messages``), and at the end the incidents
injected against those detected, alerts and messages, the ack links, and the
InfluxQL that finds the points and anomalies.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from alerting.routing.routes import Router
from core.influx_schema import METRIC
from devstack.kannel_server import KannelServer
from devstack.process import ManagedServer, ServerFailed
from devstack.stack import build_servers, select
from runtime.topics import ensure_topics
from simulator.catalog import SMS_KIND_SHARE
from simulator.engine import Simulator
from simulator.kafka_sink import KafkaSink
from simulator.records import IncidentRecord
from simulator.run import run_simulation
from simulator.settings import FAULT_KINDS, IncidentKind, ScheduledIncident, SimulatorSettings
from simulator.tick import Tick
from telewatch.config import DEFAULT_CONFIG, Config
from telewatch.demo_alerting import DemoAlerting, uses_local_kannel
from telewatch.demo_console import DemoConsole, by_reason, clock_text, number
from telewatch.demo_messages import MessageWatcher
from telewatch.demo_report import (
    AnomalyWatcher,
    Counters,
    GroundTruth,
    InfluxQL,
    MetricQueries,
    count_points,
    count_query,
    seconds_text,
)
from telewatch.demo_workers import (
    AlertingWorkerProcess,
    DetectorsWorkerProcess,
    StreamsWorkerProcess,
    WorkerProcess,
    worker_config_path,
)

#: Simulated history replayed before going live, by default: enough for the detectors' warm-up (30 windows of 60 s).
DEFAULT_HISTORY_S = 2 * 3600.0
#: The incidents the demo injects into the live part when the config schedules none: kind, start (s after going
#: live), duration (s). Their targets are the busiest SMS channel and cell, so the effect is plain to see.
DEMO_INCIDENTS: tuple[tuple[IncidentKind, float, float], ...] = (
    ("sms_channel_outage", 60.0, 8 * 60.0),
    ("cell_outage", 120.0, 10 * 60.0),
)


@dataclass(frozen=True)
class DemoOptions:
    """What the user chose on the command line."""

    #: How long the live part runs (None: until Ctrl-C); the history replay before it is not counted.
    duration_s: float | None
    report_every_s: float = 5.0
    #: The config file the demo's config came from, handed to the workers. None: ``config/telewatch.yaml``
    #: if the config is that file's, else the demo writes the config it runs with under the stack home.
    config_path: Path | None = None
    #: Simulated seconds of history replayed at full speed before going live, so detectors have learned (0: none).
    history_s: float = DEFAULT_HISTORY_S


def history_settings(settings: SimulatorSettings) -> SimulatorSettings:
    """The replayed history's simulator settings: as fast as possible, no incidents, no bad events.

    The history is what the detectors learn as normal, so nothing abnormal goes into it.
    """
    incidents = {"random": {**settings.incidents.random.model_dump(), "per_day": 0.0}, "schedule": []}
    return settings.override(speed="max", incidents=incidents, faults=dict.fromkeys(FAULT_KINDS, 0.0))


def live_settings(settings: SimulatorSettings) -> SimulatorSettings:
    """The live part's settings: the config's, plus :data:`DEMO_INCIDENTS` when the config schedules none.

    The demo's incidents hit the busiest SMS channel and the busiest cell (the seed decides which those are).
    """
    if settings.incidents.schedule:
        return settings
    topology = Simulator(settings, datetime.now(UTC)).topology
    channel = topology.channels[int(np.argmax(topology.sms_share @ np.array(SMS_KIND_SHARE)))]
    cell = topology.cell_ids[int(np.argmax(topology.cell_share))]
    targets: dict[IncidentKind, dict[str, str]] = {
        "sms_channel_outage": {"channel": channel},
        "cell_outage": {"cell_id": cell},
    }
    schedule = [
        ScheduledIncident.model_validate(
            {"kind": kind, "start_offset_s": offset, "duration_s": duration, **targets[kind]}
        )
        for kind, offset, duration in DEMO_INCIDENTS
    ]
    incidents = {**settings.incidents.model_dump(), "schedule": [i.model_dump() for i in schedule]}
    return settings.override(incidents=incidents)


def _servers_to_run(config: Config) -> list[ManagedServer]:
    names = []
    if config.kafka.mode == "embedded":
        names.append("tansu")
    if config.influxdb.mode == "embedded":
        names.append("influxdb")
    if uses_local_kannel(config):
        names.append("kannel")
    return select(build_servers(config.stack), names)


class _DemoSink:
    """The Kafka sink, reporting incidents as they start; for the history, unpaced until it reaches the wall clock."""

    def __init__(
        self,
        sink: KafkaSink,
        on_incident: Callable[[IncidentRecord], None],
        caught_up: asyncio.Event | None = None,
    ) -> None:
        self.sink = sink
        self.on_incident = on_incident
        #: Set once simulated time reaches the wall clock (history only).
        self.caught_up = caught_up
        self.paced = sink.paced and caught_up is None

    async def open(self) -> None:
        await self.sink.open()

    async def write(self, tick: Tick) -> None:
        await self.sink.write(tick)
        for incident in tick.incidents:
            self.on_incident(incident)
        if self.caught_up is not None and tick.end.timestamp() >= time.time():
            self.caught_up.set()

    async def flush(self) -> None:
        await self.sink.flush()

    async def close(self, summary: dict[str, Any]) -> None:
        await self.sink.close(summary)


# -- console -------------------------------------------------------------------------------------


def first_points_due(config: Config, start: float) -> float:
    """When the window open at ``start`` closes: window_s + allowed_lateness_s after it opened."""
    s = config.streams
    return math.floor(start / s.window_s) * s.window_s + s.window_s + s.allowed_lateness_s


# -- the run -------------------------------------------------------------------------------------


async def run_demo(config: Config, options: DemoOptions, console: Console) -> None:
    """Bring up the embedded stack, the workers and alerting, feed them history then live traffic, report until
    stopped."""
    alerting = DemoAlerting(config, console)
    started: list[ManagedServer] = []
    workers: list[WorkerProcess] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        config = await alerting.configure()
        servers = _servers_to_run(config)
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
        # The demo's owners make the config differ from the file given: the workers get a copy.
        path = worker_config_path(config, None if alerting.demo_owners else options.config_path)
        home = config.stack.home_path()
        streams, detectors = StreamsWorkerProcess(home, path), DetectorsWorkerProcess(home, path)
        alerter = AlertingWorkerProcess(home, path, alerting.env)
        workers = [streams, detectors, alerter]
        await asyncio.gather(*(_stop_leftover(worker, console) for worker in workers))
        alerting.describe()
        ledger = await alerting.start()
        kannel = next((s for s in servers if isinstance(s, KannelServer)), None)
        inbox = home / "demo" / "im-robots.jsonl"
        messages = MessageWatcher(console, config.alerting, ledger, kannel, alerting.robots, inbox)
        # The alerting worker first: the streams worker's partitions count as idle from its start (their windows
        # then close by the wall clock), so the history must follow it closely.
        await _start_worker(alerter, console)
        await asyncio.gather(_start_worker(streams, console), _start_worker(detectors, console))
        run = _Run(config, options, console, stop, (streams, detectors, alerter), alerting, messages)
        try:
            await run.pipeline()
            # Stopped first, so what they still buffer is in InfluxDB and on the anomalies topic for the report.
            await asyncio.gather(*(_stop_worker(worker, console) for worker in workers))
        finally:
            await run.stop_watching()
        await run.final_report()
    finally:
        for worker in workers:
            await _stop_worker(worker, console)
        await alerting.stop()
        for server in reversed(started):
            await asyncio.to_thread(server.stop)
            console.print(f"stopped {server.name}")
        console.print("demo stopped.")


async def _stop_leftover(worker: WorkerProcess, console: Console) -> None:
    leftover = worker.pid()
    if leftover is not None:
        console.print(f"stopping a {worker.name} left running by an earlier demo (pid {leftover}) ...")
        await asyncio.to_thread(worker.stop, worker.stop_grace_s)


async def _start_worker(worker: WorkerProcess, console: Console) -> None:
    console.print(
        f"starting the {worker.name}: telewatch {' '.join(worker.command()[3:])}\n  (log: {worker.logfile}) ...",
        highlight=False,
    )
    await asyncio.to_thread(worker.start)
    console.print(f"  [green]{worker.name} ready[/green], pid {worker.pid()}")


async def _stop_worker(worker: WorkerProcess, console: Console) -> None:
    """SIGTERM (it flushes and leaves the consumer group), SIGKILL after ``stop_grace_s``; a no-op once stopped."""
    pid = worker.pid()
    if await asyncio.to_thread(worker.stop, worker.stop_grace_s):
        console.print(f"stopped the {worker.name} (pid {pid})")


class _Run:
    """One demo run once the servers and workers are up: the simulation, the console, the final report."""

    def __init__(
        self,
        config: Config,
        options: DemoOptions,
        console: Console,
        stop: asyncio.Event,
        workers: tuple[StreamsWorkerProcess, DetectorsWorkerProcess, AlertingWorkerProcess],
        alerting: DemoAlerting,
        messages: MessageWatcher,
    ) -> None:
        self.config = config
        self.options = options
        self.console = console
        self.stop = stop
        self.workers = workers
        self.streams, self.detectors, _ = workers
        self.alerting = alerting
        self.messages = messages
        self.influx = InfluxQL(config)
        self.truth_dir = config.stack.home_path() / "demo" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        window_s = config.streams.window_s
        now = time.time()
        #: Where the simulated traffic begins: the history's start, or now.
        self.sim_start = now - options.history_s
        self.queries = MetricQueries(datetime.fromtimestamp(self.sim_start - self.sim_start % window_s, UTC))
        self.truth = GroundTruth(window_s)
        #: When the live part begins (set when the history has caught up with the wall clock).
        self.live_start = now
        self.live_started: float | None = None  # monotonic
        due = first_points_due(config, now) if options.history_s <= 0 else None
        self.counters = Counters(due, self.queries.since.timestamp(), config.simulator.rate)
        self.display = DemoConsole(console)
        self.watcher = AnomalyWatcher(config, console, self.truth, self.queries.since.timestamp(), math.inf)
        self._watching = asyncio.Event()
        self._watch_tasks: tuple[asyncio.Task[None], ...] = ()

    async def pipeline(self) -> None:
        """Simulate (history, then live) and show the counters until stopped or ``duration_s`` is over."""
        self._intro()
        await self._note_earlier_points()
        self.console.print("[bold]Press Ctrl-C to stop everything.[/bold]")
        self._watch_tasks = (
            asyncio.create_task(self.watcher.run(self._watching), name="anomalies"),
            asyncio.create_task(self.messages.run(self._watching), name="messages"),
        )
        task = asyncio.create_task(self._simulate(), name="simulator")
        # A live table is redrawn every second; plain lines come every report_every_s.
        every = min(self.options.report_every_s, 1.0) if self.display.live else self.options.report_every_s
        try:
            with self.display:
                await self._follow((task, *self._watch_tasks), every)
        finally:
            self.stop.set()
            await asyncio.gather(task, return_exceptions=True)
        for done in (task, *self._watch_tasks):
            if done.done() and done.exception() is not None:
                raise done.exception()  # type: ignore[misc]

    async def _follow(self, tasks: tuple[asyncio.Task[None], ...], every: float) -> None:
        """Show the counters every ``every`` seconds until stopped, ``duration_s`` is over, or a worker or task fails."""
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), every)
            for worker in self.workers:
                if worker.pid() is None:
                    raise ServerFailed(
                        f"the {worker.name} exited; last lines of {worker.logfile}:\n{worker.log_tail()}"
                    )
            await self._report()
            duration, live = self.options.duration_s, self.live_started
            if duration is not None and live is not None and time.monotonic() >= live + duration:
                self.stop.set()
            if any(done.done() and done.exception() is not None for done in tasks):
                self.stop.set()

    async def stop_watching(self) -> None:
        """Read what the detectors wrote last, then stop following the anomalies topic and the messages."""
        if not self._watch_tasks:
            return
        if not all(task.done() for task in self._watch_tasks):
            await asyncio.sleep(1.0)
        self._watching.set()
        await asyncio.gather(*self._watch_tasks, return_exceptions=True)

    def _intro(self) -> None:
        c, s, d = self.console, self.config.streams, self.config.detectors.default
        c.print(
            f"InfluxDB at {self.config.influxdb_url()} (database {self.influx.db!r}); "
            f"simulator at {self.config.simulator.rate:g} events/s, ground truth in {self.truth_dir}"
        )
        c.print(
            f"a window closes window_s {s.window_s} s + allowed_lateness_s {s.allowed_lateness_s} s after it opens "
            f"(streams section of the config; a source without events closes up to idle_timeout_s {s.idle_timeout_s} s "
            "later); detectors judge a series once they have learned "
            f"warmup_points {d.warmup_points} of its windows ({seconds_text(d.warmup_points * s.window_s)})",
            highlight=False,
        )
        history = self.options.history_s
        if history <= 0:
            due = first_points_due(self.config, self.live_start)
            c.print(
                f"first metric points due about {clock_text(due)} UTC (in ~{seconds_text(due - self.live_start)}); "
                f"no history replay (--history 0): nothing can be flagged before about "
                f"{clock_text(self.live_start + d.warmup_points * s.window_s)} UTC",
                highlight=False,
            )
            if self.options.duration_s is not None and self.live_start + self.options.duration_s < due:
                c.print(
                    f"[yellow]note:[/yellow] --duration {seconds_text(self.options.duration_s)} ends before then; "
                    f"run at least --duration {math.ceil((due - self.live_start + s.idle_timeout_s) / 60)}m "
                    "to see metric points",
                    highlight=False,
                )
        elif history < d.warmup_points * s.window_s:
            c.print(
                f"[yellow]note:[/yellow] --history {seconds_text(history)} is shorter than the detectors' warm-up "
                f"({seconds_text(d.warmup_points * s.window_s)}): they learn for "
                f"{seconds_text(d.warmup_points * s.window_s - history)} of live traffic before flagging anything",
                highlight=False,
            )

    async def _note_earlier_points(self) -> None:
        """Say so when InfluxDB already holds points of the time range this run writes (an earlier run's)."""
        try:
            found = await self.influx.query(f"SELECT last(value) FROM {METRIC} WHERE {self.queries.time_filter}")
        except RuntimeError:
            return  # e.g. no database yet: nothing earlier
        if not found:
            return
        newest = str(found[0]["values"][0][0])
        self.console.print(
            f"[yellow]note:[/yellow] InfluxDB already holds metric points since {self.queries.since:%H:%M:%S} "
            f"UTC (up to {newest}, from an earlier run): this run's points overwrite those of the same series "
            "and window, the others stay and are counted in the InfluxQL answers below",
            highlight=False,
        )

    async def _simulate(self) -> None:
        """The history at full speed until it reaches the wall clock, then the live traffic, one continuous clock."""
        settings = self.config.simulator
        bootstrap, topics = self.config.bootstrap_servers(), self.config.kafka.topics.input_names()
        start = datetime.fromtimestamp(self.sim_start, UTC)
        if self.options.history_s > 0:
            history = history_settings(settings)
            history_dir = self.truth_dir / "history"
            self.console.print(
                f"replaying the last {seconds_text(self.options.history_s)} of simulated history (from {start:%H:%M:%S} "
                "UTC) at full speed so the detectors can learn: no incidents, no bad events; "
                f"ground truth in {history_dir} ...",
                highlight=False,
            )
            caught_up = asyncio.Event()
            relay = asyncio.create_task(self._relay_stop(caught_up))
            self.counters.replaying(self.sim_start, time.time())
            sink = _DemoSink(KafkaSink(bootstrap, topics, history_dir), self._on_incident, caught_up)
            try:
                stats = await run_simulation(history, sink, start, None, self.counters.on_progress, caught_up)
            finally:
                relay.cancel()
                self.counters.replayed()
            if self.stop.is_set():
                return
            self.console.print(
                f"  done: {stats.total_events:,} events in {stats.wall_s:.1f} s ({stats.events_per_s:,.0f}/s), "
                f"simulated {stats.sim_start:%H:%M:%S} to {stats.sim_end:%H:%M:%S} UTC; the workers read them "
                "as fast as they can, then follow the live traffic",
                highlight=False,
            )
            start = stats.sim_end
            live = live_settings(settings)
        else:
            live = settings
        self.live_start = start.timestamp()
        self.watcher.live_from = self.live_start
        self.live_started = time.monotonic()
        self.console.print(
            f"going live at {start:%H:%M:%S} UTC: {live.rate:g} events/s at speed {live.speed}, "
            f"ground truth in {self.truth_dir}",
            highlight=False,
        )
        self._announce(live)
        sink = _DemoSink(KafkaSink(bootstrap, topics, self.truth_dir), self._on_incident)
        await run_simulation(live, sink, start, self.options.duration_s, self.counters.on_progress, self.stop)

    async def _relay_stop(self, caught_up: asyncio.Event) -> None:
        await self.stop.wait()
        caught_up.set()

    def _announce(self, live: SimulatorSettings) -> None:
        """The incidents scheduled for the live part, and when their anomalies can show."""
        schedule = live.incidents.schedule
        if not schedule:
            return
        source = "from the config" if live is self.config.simulator else "by the demo"
        self.console.print(f"incidents scheduled {source} (ground truth is printed as each starts):", highlight=False)
        for incident in schedule:
            if incident.start_at is not None:
                at = incident.start_at.timestamp()
            else:
                at = self.live_start + (incident.start_offset_s or 0.0)
            fields = ("region", "cell_id", "channel", "category", "scenario")
            target = ", ".join(f"{f} {getattr(incident, f)}" for f in fields if getattr(incident, f) is not None)
            self.console.print(
                f"  {incident.kind} on {target or 'a target the seed picks'} at {clock_text(at)} UTC "
                f"for {seconds_text(incident.duration_s)}",
                highlight=False,
            )
        s, d = self.config.streams, self.config.detectors.default
        wait = seconds_text(Router(self.config.alerting.route_tree()).root.group_wait_s)
        self.console.print(
            f"  a series is flagged when min_anomalous {d.min_anomalous} of its last {d.of_last} windows are "
            f"anomalous; its anomaly shows once that window has closed (window_s {s.window_s} s + "
            f"allowed_lateness_s {s.allowed_lateness_s} s) and the detectors have read it; its owner's people are "
            f"told by SMS, its IM groups by their robot, group_wait {wait} after its first alert",
            highlight=False,
        )

    def _on_incident(self, incident: IncidentRecord) -> None:
        self.truth.incidents.append(incident)
        scope = ", ".join(f"{k}={v}" for k, v in incident.scope.items())
        self.console.print(
            f"{clock_text(incident.start.timestamp())} INCIDENT {incident.id} {incident.kind} ({scope}) started, "
            f"until {clock_text(incident.end.timestamp())} (ground truth): {incident.description}\n"
            f"  series it moves: {', '.join(incident.series)}",
            markup=False,
            highlight=False,
        )

    async def _report(self) -> None:
        status = self.streams.read_status()
        queryable: int | str | None = None
        if status is not None and status.get("points"):
            try:
                queryable = await count_points(self.influx, self.queries)
            except RuntimeError as exc:
                queryable = str(exc)
        detectors = self.detectors.read_status()
        episodes = len(self.watcher.episodes)
        self.display.show(self.counters.snapshot(status, detectors, episodes, queryable, self.messages.counters))

    async def final_report(self) -> None:
        """The workers' last counters, incidents against detections, and InfluxQL that finds this run's data."""
        c = self.console
        status = self.streams.read_status()
        if status is not None:
            c.print(
                f"streams worker: {number(status.get('events'))} events, {number(status.get('points'))} metric points "
                f"in {number(status.get('series'))} series, dead letters {by_reason(status.get('dead_letters') or {})}, "
                f"late {number(status.get('late'))}, duplicates {number(status.get('duplicates'))}",
                highlight=False,
            )
        detectors = self.detectors.read_status()
        if detectors is not None:
            c.print(
                f"detectors worker: {number(detectors.get('points'))} points, {number(detectors.get('judged'))} judged, "
                f"{number(detectors.get('anomalous'))} anomalous, {number(detectors.get('anomalies'))} anomalies "
                f"({number(detectors.get('silent'))} silent), {number(detectors.get('correlated'))} correlated incidents",
                highlight=False,
            )
        self._incident_table()
        await self.messages.poll()
        from_env = not self.alerting.generated_secret
        for line in await self.messages.summary(self.alerting.api_url, from_env):
            c.print(line, markup=False, highlight=False)
        await self._influxql()

    def _incident_table(self) -> None:
        c, truth = self.console, self.truth
        episodes = list(self.watcher.episodes.values())
        c.print(f"incidents injected vs detected (ground truth in {self.truth_dir}):", highlight=False)
        if not truth.incidents:
            c.print("  no incident started while the demo ran", highlight=False)
        rows = [("incident", "kind", "target", "from", "to", "detected", "windows to detect", "episodes", "first")]
        for incident in truth.incidents:
            mine = [e for e in episodes if e.incident is incident]
            target = ",".join(f"{k}={v}" for k, v in incident.scope.items())
            span = (clock_text(incident.start.timestamp()), clock_text(incident.end.timestamp()))
            if not mine:
                rows.append((incident.id, incident.kind, target, *span, "no", "-", "0", "-"))
                continue
            first = min(mine, key=lambda e: (e.first.ts, e.seen_at))
            windows = truth.windows_to_detect(incident, first.first)
            seen = seconds_text(max(first.seen_at - incident.start.timestamp(), 0.0))
            series = len({e.first.series for e in mine})
            rows.append((
                incident.id, incident.kind, target, *span, f"yes ({series} of {len(incident.series)} series)",
                f"{windows} (shown {seen} after the start)", str(len(mine)), first.first.series,
            ))  # fmt: skip
        if truth.incidents:
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            for row in rows:
                c.print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), markup=False)
        others = [e for e in episodes if e.incident is None]
        if others:
            history = sum(e.first.ts.timestamp() < self.live_start for e in others)
            near = sum(e.first.ts.timestamp() >= self.live_start and truth.near(e.first) is not None for e in others)
            c.print(
                f"  anomaly episodes matching no injected incident: {len(others)} ({history} in the history, "
                f"{len(others) - history} live, {near} of them on the target of a running incident but on a series "
                "its ground truth does not list)",
                highlight=False,
            )

    async def _influxql(self) -> None:
        c, influx, queries = self.console, self.influx, self.queries
        try:
            points = await count_points(influx, queries)
            by_series = await influx.query(queries.last_by_series)
            sample = min((s["tags"]["series"] for s in by_series), key=lambda k: (k.count("|"), k), default=None)
            rows = (await influx.query(queries.sample(sample)))[0] if sample is not None else None
            anomalies = await count_query(influx, queries.count_anomalies)
            last_anomalies = await influx.query(queries.last_anomalies) if anomalies else []
        except (RuntimeError, IndexError, KeyError) as exc:
            c.print(f"[yellow]could not query InfluxDB:[/yellow] {exc}", highlight=False)
            return
        c.print(f"InfluxQL> {queries.count_points}", highlight=False)
        c.print(f"  {points:,} points", highlight=False)
        c.print(f"InfluxQL> {queries.last_by_series}", highlight=False)
        c.print(f"  {len(by_series):,} series", highlight=False)
        c.print(f"InfluxQL> {queries.count_anomalies}", highlight=False)
        c.print(f"  {anomalies:,} anomaly points", highlight=False)
        if last_anomalies:
            c.print(f"InfluxQL> {queries.last_anomalies}", highlight=False)
            result = last_anomalies[0]
            for row in result["values"]:
                c.print("  " + ", ".join(f"{k}={v}" for k, v in zip(result["columns"], row, strict=True)), markup=False)
        if sample is None or rows is None:
            c.print(
                f"no metric points of windows since {queries.since:%H:%M:%S} yet: a window closes window_s + "
                "allowed_lateness_s after it opens; run the demo longer",
                highlight=False,
            )
            return
        c.print(f"InfluxQL> {queries.sample(sample)}", highlight=False)
        for row in rows["values"][-3:]:
            c.print("  " + ", ".join(f"{k}={v}" for k, v in zip(rows["columns"], row, strict=True)), highlight=False)
        again = ""
        if self.config.influxdb.mode == "embedded":
            path = self.streams.config_path
            command = "telewatch dev up influxdb" + ("" if path == DEFAULT_CONFIG else f" -c {path}")
            again = f" (after the demo, `{command}` starts it again)"
        c.print(f"Repeat them while InfluxDB runs{again}, e.g.:", highlight=False)
        c.print(f"  {influx.curl(queries.count_points)}", highlight=False)
        c.print(f"  {influx.curl(queries.sample(sample))}", highlight=False)
        c.print(f"  {influx.curl(queries.count_anomalies)}", highlight=False)

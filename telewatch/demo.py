"""The demo: the embedded stack, the traffic simulator feeding Kafka live, and a console summary.

What runs (all on 127.0.0.1, all stopped on Ctrl-C or after ``--duration``):
Tansu (the embedded Kafka-compatible broker), InfluxDB 1.6.7, the simulator
producing the four input topics in real time, and the ingest probe that
validates what arrives and writes per-topic counts to InfluxDB
(measurement ``telewatch_ingest``). Later stages join as they are built.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console

from devstack.process import ManagedServer
from devstack.stack import build_servers, select
from simulator.kafka_sink import KafkaSink
from simulator.run import run_simulation
from simulator.stats import Stats
from streams.influx_writer import build_writer
from streams.line_protocol import point_line
from streams.probe import IngestProbe, ProbeCounts
from telewatch.config import INPUT_ROLES, Config
from telewatch.topics import ensure_topics


@dataclass(frozen=True)
class DemoOptions:
    """What the user chose on the command line."""

    duration_s: float | None
    report_every_s: float = 5.0


def _servers_to_run(config: Config) -> list[ManagedServer]:
    names = []
    if config.kafka.mode == "embedded":
        names.append("tansu")
    if config.influxdb.mode == "embedded":
        names.append("influxdb")
    return select(build_servers(config.stack), names)


def _ingest_lines(counts: ProbeCounts, ts_ns: int) -> list[str]:
    lines = []
    for role in INPUT_ROLES:
        rejected = {reason: n for (r, reason), n in counts.rejected.items() if r == role}
        fields: dict[str, int] = {"seen": counts.seen[role], "accepted": counts.accepted[role]}
        fields.update({f"rejected_{reason}": n for reason, n in rejected.items()})
        lines.append(point_line("telewatch_ingest", {"topic_role": role}, fields, ts_ns))
    return lines


class _Reporter:
    """Prints one status line per interval: produced and validated events per second."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.sim_stats: Stats | None = None
        self._last_seen = 0
        self._last_produced = 0
        self._last_time = time.monotonic()

    def on_progress(self, stats: Stats) -> None:
        self.sim_stats = stats

    def report(self, counts: ProbeCounts) -> None:
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-9)
        produced = self.sim_stats.total_events if self.sim_stats else 0
        seen = counts.total_seen()
        rejected = Counter(reason for (_, reason) in counts.rejected.elements())
        incidents = self.sim_stats.incidents_started if self.sim_stats else 0
        rejections = ", ".join(f"{reason} {n:,}" for reason, n in sorted(rejected.items()))
        self.console.print(
            f"[bold]{datetime.now(UTC):%H:%M:%S}[/bold]"
            f"  produced {(produced - self._last_produced) / elapsed:,.0f}/s ({produced:,})"
            f"  read back and validated {(seen - self._last_seen) / elapsed:,.0f}/s ({seen:,})"
            f"  rejected {sum(rejected.values()):,}{f' ({rejections})' if rejections else ''}"
            f"  incidents started {incidents}",
            highlight=False,
        )
        self._last_seen, self._last_produced, self._last_time = seen, produced, now


async def run_demo(config: Config, options: DemoOptions, console: Console) -> None:
    """Bring up the embedded stack, feed it live traffic and report until stopped."""
    servers = _servers_to_run(config)
    started: list[ManagedServer] = []
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
        await _run_pipeline(config, options, console, stop)
    finally:
        for server in reversed(started):
            await asyncio.to_thread(server.stop)
            console.print(f"stopped {server.name}")
        console.print("demo stopped.")


async def _run_pipeline(config: Config, options: DemoOptions, console: Console, stop: asyncio.Event) -> None:
    bootstrap = config.bootstrap_servers()
    created = await ensure_topics(bootstrap, config.kafka)
    console.print(f"Kafka at {', '.join(bootstrap)}; topics created: {', '.join(created) or 'none (all existed)'}")
    input_topics = config.kafka.topics.input_names()
    writer = build_writer(config.influxdb, config.influxdb_url())
    await writer.start()
    truth_dir = config.stack.home_path() / "demo" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    console.print(
        f"InfluxDB at {config.influxdb_url()} (database {config.influxdb.database!r}); "
        f"simulator at {config.simulator.rate:g} events/s, ground truth in {truth_dir}"
    )
    console.print("[bold]Press Ctrl-C to stop everything.[/bold]")
    probe = IngestProbe(bootstrap, input_topics, config.validation.max_future_skew_s, group_id="telewatch-demo-probe")
    reporter = _Reporter(console)
    sink = KafkaSink(bootstrap, input_topics, truth_dir)
    simulation = run_simulation(
        config.simulator, sink, datetime.now(UTC), options.duration_s, reporter.on_progress, stop
    )
    tasks = [
        asyncio.create_task(probe.run(stop), name="probe"),
        asyncio.create_task(simulation, name="simulator"),
    ]
    try:
        deadline = None if options.duration_s is None else time.monotonic() + options.duration_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), options.report_every_s)
            reporter.report(probe.counts)
            await writer.write(_ingest_lines(probe.counts, time.time_ns()))
            if deadline is not None and time.monotonic() >= deadline:
                stop.set()
            failed = [t for t in tasks if t.done() and t.exception() is not None]
            if failed:
                stop.set()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await writer.close()
    for task in tasks:
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

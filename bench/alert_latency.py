"""Event time to SMS: from an injected incident's start to its owner's SMS at the fake SMS centre, through the whole
pipeline (simulator -> streams worker -> detectors worker -> alerting worker -> Kannel), broken down by stage.

    ./dev bench alert_latency [--incidents 6] [--stagger 23] [--window-s S --lateness-s S] [--group-wait 30s]
                              [--broker tansu|kafka] [--json FILE] [--keep]

Everything runs on 127.0.0.1 in a temporary folder; servers come from devstack's classes and every process is
stopped by PID at the end (also on an error or Ctrl-C). The config is the shipped ``config/telewatch.yaml``
(simulator rate, seed, windows, detectors) with: the bench's ports; no random incidents; ``--window-s`` /
``--lateness-s`` when given; owners (``alerting.owners``), one per SMS channel with a phone of its own, so
each incident's SMS is told apart by its number, and ``noc`` for everything else; every route with
``group_wait`` ``--group-wait`` (Alertmanager's default 30 s) and the shipped grouping (all of an owner's alerts
in one group). Steps:

1. start the broker (Tansu, or Apache Kafka with ``--broker kafka``), InfluxDB and Kannel with its fake SMS
   centre; in this process the alerting API (Kannel posts its receipts there); then ``telewatch streams``,
   ``telewatch detect`` and ``telewatch alerting`` as a user runs them;
2. history: the simulator replays ``--history`` of traffic (default: the detectors' ``warmup_points`` plus 10
   windows) at full speed, with no incidents or bad events, until it reaches the wall clock, so the detectors have
   learned; then live traffic at the config's rate, paced to the wall clock, until the workers have caught up
   (in ticks of 0.2 s: a tick's events are sent at its start, so up to 0.2 s before their event time);
3. live, ``--incidents`` SMS channel outages (``sms_channel_outage``, one channel each, ``--duration`` long),
   the first ``--first-at`` seconds in and then every ``--stagger`` seconds (so they start at different points of
   a window), until every incident's owner has an SMS at the fake SMS centre.

Per incident, from the ground truth, the metrics and anomalies topics (read by the bench as they are written,
with each record's timestamp, which its producer sets when it sends it), the ledger and the fake SMS centre's log:

- *window close*: incident start (event time) -> the metric point the detectors flagged is produced; of which
  *to window end* (incident start -> the end of the flagged window: the window length, and more when the first
  affected window is not flagged) and *lateness* (window end -> produced: ``allowed_lateness_s`` and the streams
  worker's merge);
- *detection*: metric point produced -> anomaly produced (detectors worker);
- *routing*: anomaly produced -> outbox row created; of which *intake* (-> alert opened in the ledger) and
  *group wait* (-> the group's first notification written);
- *gateway*: outbox row created -> SMS at the fake SMS centre; of which *send* (-> the attempt recorded after
  Kannel's answer: delivery polling, Kannel's sendsms) and *SMSC* (-> seen in fakesmsc's log; the bench polls the
  log every 0.1 s, so up to 0.1 s late, and the worker stamps the attempt when its event loop resumes after the
  answer, so it can come out a few ms negative);
- *total*: incident start -> SMS at the fake SMS centre; the four stages add up to it.

An incident whose owner already had an open alert before it started (a false alarm of the detectors) is reported
and left out of the figures. The simulator runs paced to the wall clock: the report gives how far its simulated
time was from the wall clock when each incident's first tick was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from benchkit.alerting import LedgerReader, SmscArrivals, epoch, running_api
from benchkit.stack import (
    REPO_ROOT,
    BenchError,
    CpuAccount,
    Stack,
    WorkerRun,
    group_pids,
    machine,
    percentiles,
    running_stack,
    say,
    stop_on_sigterm,
    wait_for,
    workers_stopped,
    write_config,
)

from core.contracts import AnomaliesRecord, Anomaly, MetricPoint
from devstack.process import free_port, port_is_open
from runtime.topics import ensure_topics
from simulator.kafka_sink import KafkaSink
from simulator.records import IncidentRecord
from simulator.run import run_simulation
from simulator.settings import FAULT_KINDS, SimulatorSettings
from simulator.tick import Tick
from telewatch.config import Config, load_config

SHIPPED_CONFIG = REPO_ROOT / "config" / "telewatch.yaml"
NOC_PHONE = "8613800000000"
PROGRESS_EVERY_S = 15.0
#: Simulated seconds per tick in the live phases: a paced tick's events are sent at its start, so up to this early.
LIVE_TICK_S = 0.2
#: The stages, in order; each one's sub-stages add up to it.
STAGES = {
    "window_close": ("to_window_end", "lateness"),
    "detection": (),
    "routing": ("intake", "group_wait"),
    "gateway": ("send", "smsc"),
}


@dataclass(frozen=True)
class Options:
    """The command line."""

    incidents: int = 6
    first_at_s: float = 30.0
    stagger_s: float = 23.0
    duration_s: float = 300.0
    history_s: float | None = None
    rate: float | None = None
    window_s: int | None = None
    lateness_s: int | None = None
    group_wait: str = "30s"
    broker: str = "tansu"
    timeout_s: float = 600.0


def phone_of(channel: str) -> str:
    """The phone of the person on duty for ``channel`` (one each, so arrivals are told apart by number)."""
    return f"86139{channel[-6:]}"


# -- the config -----------------------------------------------------------------------------------------------


def alerting_section(channels: list[str], group_wait: str, api_port: int) -> dict[str, Any]:
    """One owner per SMS channel (its own person and phone), ``noc`` for every other alert; group_wait on every
    route, the shipped grouping (all of an owner's alerts in one group)."""
    people = {f"duty.{c}": {"name": f"值班{c[-2:]}", "phone": phone_of(c)} for c in channels}
    people["noc.duty"] = {"name": "NOC", "phone": NOC_PHONE}
    owners: dict[str, Any] = {
        f"sms-{c}": {"matchers": ['metric=~"sms_delivery_.*"', f'channel="{c}"'], "department": "短信中心",
                     "people": [f"duty.{c}"]}
        for c in channels
    }  # fmt: skip
    owners["noc"] = {"matchers": ['metric=~".+"'], "department": "NOC", "people": ["noc.duty"]}
    routes = [{"matchers": spec["matchers"], "receiver": name} for name, spec in owners.items() if name != "noc"]
    return {
        "owners": {"people": people, "owners": owners},
        "route": {"receiver": "noc", "group_wait": group_wait, "routes": routes},
        "api": {"port": api_port, "public_url": f"http://127.0.0.1:{api_port}"},
    }


def bench_config(o: Options, stack: Stack, api_port: int) -> dict[str, Any]:
    """The shipped config with the bench's ports, owners and options (see the module docstring)."""
    data: dict[str, Any] = yaml.safe_load(SHIPPED_CONFIG.read_text())
    sections = stack.config_sections(topics=data.get("kafka", {}).get("topics"))
    simulator = dict(data.get("simulator", {}))
    incidents = dict(simulator.get("incidents", {}))
    incidents["random"] = {**incidents.get("random", {}), "per_day": 0}
    simulator["incidents"] = incidents
    if o.rate is not None:
        simulator["rate"] = o.rate
    streams = dict(data.get("streams", {}))
    if o.window_s is not None:
        streams["window_s"] = o.window_s
    if o.lateness_s is not None:
        streams["allowed_lateness_s"] = o.lateness_s
    channels = [c.name for c in SimulatorSettings.model_validate(simulator).topology.sms_channels]
    return (
        data
        | sections
        | {
            "simulator": simulator,
            "streams": streams,
            "alerting": alerting_section(channels, o.group_wait, api_port),
        }
    )


# -- the simulator ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """An incident's ground truth, with when its first tick was sent (wall clock) and that tick's end."""

    incident: IncidentRecord
    sent_at: float
    tick_end: float


class PhaseSink:
    """The Kafka sink of one phase, noting each incident as its tick is sent; with ``until``, it stops the phase
    once simulated time reaches the wall clock (the history)."""

    def __init__(self, config: Config, truth: Path, started: list[Started], until: asyncio.Event | None) -> None:
        self.sink = KafkaSink(config.bootstrap_servers(), config.kafka.topics.input_names(), truth)
        self.paced = self.sink.paced
        self.started = started
        self.until = until
        self.events = 0

    async def open(self) -> None:
        await self.sink.open()

    async def write(self, tick: Tick) -> None:
        await self.sink.write(tick)
        now = time.time()
        self.events += sum(len(batch) for batch in tick.batches)
        self.started.extend(Started(i, now, tick.end.timestamp()) for i in tick.incidents)
        if self.until is not None and tick.end.timestamp() >= now:
            self.until.set()

    async def flush(self) -> None:
        await self.sink.flush()

    async def close(self, summary: dict[str, Any]) -> None:
        await self.sink.close(summary)


def quiet(settings: SimulatorSettings) -> SimulatorSettings:
    """History settings: full speed, no incidents, no bad events (what the detectors learn as normal)."""
    return settings.override(
        speed="max",
        incidents={"random": {**settings.incidents.random.model_dump(), "per_day": 0.0}, "schedule": []},
        faults=dict.fromkeys(FAULT_KINDS, 0.0),
    )


def with_incidents(settings: SimulatorSettings, o: Options, channels: list[str]) -> SimulatorSettings:
    """Live settings with the bench's SMS channel outages scheduled."""
    schedule = [
        {"kind": "sms_channel_outage", "channel": channel, "start_offset_s": o.first_at_s + n * o.stagger_s,
         "duration_s": o.duration_s}
        for n, channel in enumerate(channels)
    ]  # fmt: skip
    return settings.override(incidents={**settings.incidents.model_dump(), "schedule": schedule})


# -- the topics, read as they are written ----------------------------------------------------------------------


@dataclass
class Tap:
    """SMS metric points and every anomaly, with the timestamps their producers gave them (epoch seconds)."""

    #: (series, window start) -> [(produced, window end)] of SMS metric points.
    points: dict[tuple[str, float], list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    #: series -> [(produced, window start)] of anomalies.
    anomalies: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    metric_records: int = 0
    anomaly_records: int = 0


async def tap(config: Config, found: Tap, stop: asyncio.Event) -> None:
    """Read the metrics and anomalies topics from their start (partitions assigned, no group) until ``stop``."""
    topics = config.kafka.topics
    consumer = AIOKafkaConsumer(bootstrap_servers=config.bootstrap_servers(), enable_auto_commit=False)
    point, record = msgspec.json.Decoder(MetricPoint).decode, msgspec.json.Decoder(AnomaliesRecord).decode
    await consumer.start()
    try:
        partitions = [
            TopicPartition(t.name, p) for t in (topics.metrics, topics.anomalies) for p in range(t.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                for r in records:
                    if r.value is None:
                        continue
                    if tp.topic == topics.metrics.name:
                        found.metric_records += 1
                        if r.key is not None and r.key.startswith(b"sms_delivery_"):
                            p = point(r.value)
                            found.points[(p.series, p.window_start.timestamp())].append(
                                (r.timestamp / 1000, p.window_end.timestamp())
                            )
                        continue
                    found.anomaly_records += 1
                    a = record(r.value)
                    if isinstance(a, Anomaly):
                        found.anomalies[a.series].append((r.timestamp / 1000, a.ts.timestamp()))
    finally:
        await consumer.stop()


# -- the run ---------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """The running pieces of one bench run."""

    options: Options
    config: Config
    workers: list[WorkerRun]
    smsc: SmscArrivals
    tapped: Tap
    started: list[Started] = field(default_factory=list)
    history_events: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    _said: float = 0.0

    def worker(self, name: str) -> WorkerRun:
        return next(w for w in self.workers if w.name == name)

    def progress(self, phase: str, force: bool = False) -> None:
        """A line every PROGRESS_EVERY_S on what the workers have done."""
        now = time.time()
        if not force and now - self._said < PROGRESS_EVERY_S:
            return
        self._said = now
        s, d, a = ((self.worker(n).latest or {}) for n in ("streams", "detect", "alerting"))
        arrived = sum(1 for i in self.started if any(x.at >= i.incident.start.timestamp() for x in self.smsc.to(
            phone_of(i.incident.scope["channel"]))))  # fmt: skip
        say(f"{phase}: streams read {s.get('events', 0):,} events, {s.get('points', 0):,} points; detectors "
            f"judged {d.get('judged', 0):,}, {d.get('anomalies', 0):,} anomalies; alerting opened "
            f"{a.get('opened', 0):,}, sent {a.get('sent', 0):,}; incidents started {len(self.started)}, "
            f"told {arrived}")  # fmt: skip


async def watch(run: Run, done: Callable[[], bool], what: str, limit_s: float, phase: str) -> None:
    """Poll workers and the fake SMS centre until ``done()``."""

    def probe() -> bool:
        run.smsc.poll()
        run.progress(phase)
        return done()

    await wait_for(probe, what, limit_s, run.workers)


def caught_up(run: Run) -> bool:
    """The streams worker has read the history and the detectors every metric point written so far."""
    streams, detect = run.worker("streams").latest or {}, run.worker("detect").latest or {}
    return (
        int(streams.get("events", 0)) >= run.history_events
        and run.tapped.metric_records > 0
        and int(detect.get("points", 0)) >= run.tapped.metric_records
    )


def all_told(run: Run) -> bool:
    """Every scheduled incident has started and its owner has an SMS since."""
    if len(run.started) < run.options.incidents:
        return False
    return all(
        any(a.at >= s.incident.start.timestamp() for a in run.smsc.to(phone_of(s.incident.scope["channel"])))
        for s in run.started
    )


async def simulate(run: Run, scratch: Path, live: asyncio.Event, stop: asyncio.Event) -> None:
    """History at full speed until the wall clock, live traffic until ``live`` is set, then live traffic with the
    incidents until ``stop``."""
    o, settings = run.options, run.config.simulator
    window = run.config.streams.window_s
    history_s = o.history_s or (run.config.detectors.default.warmup_points + 10) * window
    start = datetime.fromtimestamp(time.time() - history_s, UTC)
    reached = asyncio.Event()
    sink = PhaseSink(run.config, scratch / "truth-history", [], reached)
    began = time.time()
    say(f"history: {history_s / 60:.0f} min of simulated traffic at {settings.rate:g} events/s, full speed")
    stats = await run_simulation(quiet(settings), sink, start, None, stop=reached)
    run.history_events = sink.events
    run.phases["history_s"] = time.time() - began
    say(f"history: {sink.events:,} events in {run.phases['history_s']:.1f} s; live traffic until the workers catch up")
    live_settings = settings.override(tick_s=LIVE_TICK_S)
    await until_wall(stats.sim_end)
    warm = PhaseSink(run.config, scratch / "truth-warm", [], None)
    stats = await run_simulation(live_settings, warm, stats.sim_end, None, stop=live)
    channels = [c.name for c in settings.topology.sms_channels][: o.incidents]
    say(f"live: {o.incidents} SMS channel outages from {o.first_at_s:.0f} s on, every {o.stagger_s:.0f} s")
    await until_wall(stats.sim_end)
    sink = PhaseSink(run.config, scratch / "truth-live", run.started, None)
    await run_simulation(with_incidents(live_settings, o, channels), sink, stats.sim_end, None, stop=stop)


async def until_wall(at: datetime) -> None:
    """Wait until the wall clock reaches ``at``: a paced phase starting there then never runs ahead of it."""
    await asyncio.sleep(max(0.0, at.timestamp() - time.time()))


async def run_latency(o: Options, stack: Stack, scratch: Path) -> dict[str, Any]:
    """Steps 1-3 of the module docstring on the running stack; the results."""
    api_port = free_port()
    path = write_config(scratch / "telewatch.yaml", bench_config(o, stack, api_port))
    config = load_config(path)
    if o.incidents > len(config.simulator.topology.sms_channels):
        raise BenchError(f"--incidents {o.incidents}: the topology has {len(config.simulator.topology.sms_channels)} "
                         "SMS channels, one incident each")  # fmt: skip
    await ensure_topics(config.bootstrap_servers(), config.kafka)
    url = config.alerting.ledger_url or f"sqlite:///{config.stack.home_path() / 'ledger.db'}"
    reader = LedgerReader(url)
    tapped, stop_tap, live, stop_sim = Tap(), asyncio.Event(), asyncio.Event(), asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        async with running_api(config):
            await wait_for(lambda: port_is_open(api_port), "alerting API", 30)
            with workers_stopped() as workers:
                for name in ("streams", "detect", "alerting"):
                    workers.append(WorkerRun(name, path, scratch, status_every_s=0.5))
                    say(f"started telewatch {name} (pid {workers[-1].proc.pid})")
                run = Run(o, config, workers, SmscArrivals(stack.kannel), tapped)
                await wait_for(lambda: all(w.latest for w in workers), "workers' first status", 180, workers)
                tasks.append(asyncio.create_task(tap(config, tapped, stop_tap), name="tap"))
                sim = asyncio.create_task(simulate(run, scratch, live, stop_sim), name="simulator")
                tasks.append(sim)
                began = time.time()
                await watch(run, lambda: (run.history_events > 0 and caught_up(run)) or sim.done(), "catch-up",
                            o.timeout_s, "catching up")  # fmt: skip
                run.phases["catch_up_s"] = time.time() - began
                live.set()
                began = time.time()
                account = CpuAccount()
                ours = [os.getpid(), *stack.pids(), *(pid for w in workers for pid in group_pids(w.proc.pid))]
                account.note(ours)
                await watch(run, lambda: all_told(run) or sim.done(), "SMS for every incident", o.timeout_s, "live")
                run.phases["live_s"] = time.time() - began
                if sim.done():
                    sim.result()  # raises what ended the simulator early
                run.progress("done", force=True)
                rss = {w.name: w.peak_rss_mib() for w in workers}
                cpu = account.shares(ours)
                stop_sim.set()
                await asyncio.sleep(1.0)  # the last points and anomalies reach the tap
                stop_tap.set()
                await asyncio.gather(*tasks)
                ledger = ledger_view(reader)
    finally:
        stop_sim.set()
        stop_tap.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        reader.close()
    incidents = [measure(s, tapped, ledger, run.smsc) for s in run.started]
    return {
        "options": asdict(o),
        "machine": machine(),
        "config": {
            "window_s": config.streams.window_s,
            "allowed_lateness_s": config.streams.allowed_lateness_s,
            "rate": config.simulator.rate,
            "group_wait": o.group_wait,
            "warmup_points": config.detectors.default.warmup_points,
            "poll_every": config.alerting.delivery.poll_every,
        },
        "phases": run.phases | {"history_events": run.history_events},
        "incidents": incidents,
        "stages": summary([i for i in incidents if i["stages"] is not None]),
        "alerts": {
            "total": len(ledger["alerts"]),
            "noc": sum(1 for a in ledger["alerts"] if "channel" not in a["labels"]),
        },
        "peak_rss_mib": rss,
        "cpu": cpu,
    }


def ledger_view(reader: LedgerReader) -> dict[str, Any]:
    """Alerts (labels, opened), SMS outbox rows (recipient, created) and sent attempts, as plain values."""
    alerts = [{"id": a.id, "labels": dict(a.labels), "opened": epoch(a.opened_at)} for a in reader.alerts()]
    rows = [
        {"key": r.key, "recipient": r.recipient, "created": epoch(r.created_at)}
        for r in reader.outbox()
        if r.channel == "sms"
    ]
    sent = {a.outbox_key: epoch(a.at) for a in reader.attempts() if a.outcome == "sent"}
    return {"alerts": alerts, "sms": rows, "sent": sent}


def measure(started: Started, tapped: Tap, ledger: dict[str, Any], smsc: SmscArrivals) -> dict[str, Any]:
    """The timeline of one incident (module docstring); ``stages`` None when a link is missing (``problem``)."""
    incident = started.incident
    channel, begin = incident.scope["channel"], incident.start.timestamp()
    found: dict[str, Any] = {
        "id": incident.id, "channel": channel, "start": begin, "sim_lag_s": started.sent_at - started.tick_end,
        "stages": None, "problem": None,
    }  # fmt: skip

    def missing(problem: str) -> dict[str, Any]:
        found["problem"] = problem
        return found

    arrival = next((a.at for a in smsc.to(phone_of(channel)) if a.at >= begin), None)
    row = next((r for r in ledger["sms"] if r["recipient"] == f"duty.{channel}" and r["created"] >= begin), None)
    if arrival is None or row is None:
        return missing("no SMS")
    sent = ledger["sent"].get(row["key"])
    mine = [a for a in ledger["alerts"] if a["labels"].get("channel") == channel and a["opened"] <= row["created"]]
    if not mine or sent is None:
        return missing("no alert or no sent attempt for the SMS")
    alert = min(mine, key=lambda a: a["opened"])
    if alert["opened"] < begin:
        return missing("the owner already had an open alert (a false alarm) when the incident started")
    series = alert["labels"]["series"]
    produced, window_start = next(
        ((p, ts) for p, ts in tapped.anomalies.get(series, []) if p >= begin - 1.0), (None, None)
    )
    if produced is None or window_start is None:
        return missing(f"no anomaly of {series} on the anomalies topic")
    points = [p for p in tapped.points.get((series, window_start), []) if p[0] <= produced]
    if not points:
        return missing(f"no metric point of {series} at {window_start} on the metrics topic")
    point_produced, window_end = points[-1]
    found["series"] = series
    found["times"] = {
        "window_end": window_end, "point_produced": point_produced, "anomaly_produced": produced,
        "alert_opened": alert["opened"], "outbox_created": row["created"], "attempt_sent": sent, "arrived": arrival,
    }  # fmt: skip
    found["stages"] = {
        "window_close": point_produced - begin,
        "to_window_end": window_end - begin,
        "lateness": point_produced - window_end,
        "detection": produced - point_produced,
        "routing": row["created"] - produced,
        "intake": alert["opened"] - produced,
        "group_wait": row["created"] - alert["opened"],
        "gateway": arrival - row["created"],
        "send": sent - row["created"],
        "smsc": arrival - sent,
        "total": arrival - begin,
    }
    return found


def summary(incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95/p99 (and n, min, max, mean) of every stage over the measured incidents."""
    names = ["total", *(n for stage, subs in STAGES.items() for n in (stage, *subs))]
    return {name: percentiles([i["stages"][name] for i in incidents]) for name in names}


# -- the report --------------------------------------------------------------------------------------------------


def report(r: dict[str, Any]) -> str:
    """The results as text."""
    o, c, m, ph = r["options"], r["config"], r["machine"], r["phases"]
    measured = [i for i in r["incidents"] if i["stages"] is not None]
    lines = [
        f"event time to SMS: {len(r['incidents'])} SMS channel outages, {len(measured)} measured; broker "
        f"{o['broker']}; window_s {c['window_s']}, allowed_lateness_s {c['allowed_lateness_s']}, group_wait "
        f"{c['group_wait']}, delivery poll_every {c['poll_every']}, simulator {c['rate']:g} events/s",
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']}",
        f"phases: history {ph['history_events']:,} events in {ph.get('history_s', 0):.0f} s, catch-up "
        f"{ph.get('catch_up_s', 0):.0f} s, live {ph.get('live_s', 0):.0f} s; {r['alerts']['total']} alerts "
        f"({r['alerts']['noc']} not on an SMS channel: false alarms told to noc)",
        "",
        f"  {'seconds':<36}{'p50':>8}{'p95':>8}{'p99':>8}{'min':>8}{'max':>8}",
    ]
    labels = {
        "window_close": "window close (start -> point produced)", "to_window_end": "  start -> flagged window's end",
        "lateness": "  window end -> point produced", "detection": "detection (point -> anomaly)",
        "routing": "routing (anomaly -> outbox row)", "intake": "  intake (-> alert opened)",
        "group_wait": "  group wait (-> outbox row)", "gateway": "gateway (outbox row -> SMSC)",
        "send": "  send (-> Kannel accepted)", "smsc": "  SMSC (-> fakesmsc log)", "total": "total (start -> SMSC)",
    }  # fmt: skip
    for name in [*(n for stage, subs in STAGES.items() for n in (stage, *subs)), "total"]:
        p = r["stages"][name]
        cells = "".join(
            f"{'n/a' if p[k] is None else format(p[k], '.1f'):>8}" for k in ("p50", "p95", "p99", "min", "max")
        )
        lines.append(f"  {labels[name]:<36}{cells}")
    lines += [
        "",
        "  per incident (s after its start: point produced, anomaly, alert, outbox row, sent, SMSC; sim lag):",
    ]
    for i in r["incidents"]:
        if i["stages"] is None:
            lines.append(f"    {i['id']} channel {i['channel']}: not measured: {i['problem']}")
            continue
        t = {k: v - i["start"] for k, v in i["times"].items()}
        steps = ("point_produced", "anomaly_produced", "alert_opened", "outbox_created", "attempt_sent", "arrived")
        times = ", ".join(f"{t[k]:.1f}" for k in steps)
        lines.append(f"    {i['id']} channel {i['channel']} ({i['series']}): {times}; {i['sim_lag_s']:+.2f}")
    rss = ", ".join(f"{k} {v:,.0f} MiB" for k, v in r["peak_rss_mib"].items() if v is not None)
    cpu = r["cpu"]
    lines += [
        "",
        f"  workers' peak RSS: {rss}",
        f"  CPU over the live part ({cpu['seconds']:.0f} s), in cores: the machine {cpu['machine']:.2f}, the bench's "
        f"processes {cpu['bench']:.2f}, everything else {cpu['others']:.2f}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> tuple[Options, Path | None, bool]:
    """The options, where to write the JSON results (if anywhere), and whether to keep the scratch folder."""
    d = Options()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=d.incidents, help="SMS channel outages (one channel each)")
    parser.add_argument("--first-at", type=float, default=d.first_at_s, help="seconds into the live part of the first")
    parser.add_argument("--stagger", type=float, default=d.stagger_s, help="seconds between two incidents' starts")
    parser.add_argument("--duration", type=float, default=d.duration_s, help="seconds each incident lasts")
    parser.add_argument(
        "--history", type=float, default=None, help="seconds of history (default: warm-up + 10 windows)"
    )
    parser.add_argument("--rate", type=float, default=None, help="simulator events/s (default: the shipped config's)")
    parser.add_argument("--window-s", type=int, default=None, help="streams.window_s (default: the shipped config's)")
    parser.add_argument("--lateness-s", type=int, default=None, help="streams.allowed_lateness_s (default: shipped)")
    parser.add_argument("--group-wait", default=d.group_wait, help="group_wait of every route")
    parser.add_argument("--broker", choices=("tansu", "kafka"), default=d.broker, help="Tansu or Apache Kafka")
    parser.add_argument("--timeout", type=float, default=d.timeout_s, help="longest wait of each phase (s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (config, logs, ground truth)")
    a = parser.parse_args(argv)
    if a.incidents < 1:
        parser.error("--incidents must be at least 1")
    options = Options(a.incidents, a.first_at, a.stagger, a.duration, a.history, a.rate, a.window_s, a.lateness_s,
                      a.group_wait, a.broker, a.timeout)  # fmt: skip
    return options, a.json, a.keep


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmark in a temporary folder, print (and save) the figures."""
    options, out, keep = parse_args(argv)
    stop_on_sigterm()
    os.environ.setdefault("TW_ACK_LINK_SECRET", secrets.token_hex(32))  # signs ack links and receipt URLs
    scratch = Path(tempfile.mkdtemp(prefix="bench-alert-latency-"))
    try:
        with running_stack(scratch / "home", options.broker) as stack:
            results = asyncio.run(run_latency(options, stack, scratch))
    except BenchError as exc:
        raise SystemExit(f"[bench] failed: {exc}") from exc
    finally:
        if keep:
            say(f"kept the config, logs, ground truth and stack home in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(report(results))
    if out is not None:
        out.write_text(msgspec.json.format(msgspec.json.encode(results), indent=2).decode() + "\n")
        say(f"results written to {out}")


if __name__ == "__main__":
    main()

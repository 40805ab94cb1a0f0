"""An alert storm through the real alerting worker: how many messages go out, how fast, with grouping and inhibition
doing their work; against a bare consume loop of the same records, measured in the same run.

    ./dev bench alert_storm [--anomalies 10000] [--regions 48] [--cells 20] [--region-outages 10] [--sms-series 30]
                            [--broker tansu|kafka] [--ledger sqlite|postgresql] [--group-wait 5s]
                            [--group-interval 30s] [--json FILE] [--keep]

Everything runs on 127.0.0.1 in a temporary folder; servers come from devstack's classes and are stopped by PID
at the end (also on an error or Ctrl-C). Steps:

1. start the broker (the embedded Tansu, or Apache Kafka with ``--broker kafka``), InfluxDB, Kannel with its fake
   SMS centre (and PostgreSQL with ``--ledger postgresql``; SQLite in the stack home otherwise); in this process,
   the IM robots' contract server (DingTalk and WeCom, with the vendors' rate limits of 20 messages a minute per
   robot) and the alerting API (Kannel posts its delivery receipts there);
2. start ``telewatch alerting`` as a user does, with a config the bench writes: two owners (calls: two people and
   a DingTalk group; SMS: one person and a WeCom group, each with an escalation chain), ``group_by: [metric,
   region]`` with ``group_wait`` 5 s and ``group_interval`` 30 s (Alertmanager's defaults are 30 s and 5 min; shorter
   here so the storm is told within the bench), the inhibit rule of docs/ALERTING.md (a critical region-wide alert
   mutes its cells' alerts of the same metric) and the default SMS budget (10 SMS per person per hour; past it a
   non-critical SMS becomes a digest, a critical one goes anyway);
3. produce the storm to the anomalies topic as fast as the broker takes it: ``--anomalies`` records
   (``core.contracts.Anomaly``, JSON) spread evenly over the series, their event times over one minute, in event-time
   order. The series: ``--regions`` x ``--cells`` cells of call_setup_success_rate (major), the region-wide series
   of the first ``--region-outages`` regions (critical: they inhibit their cells) and ``--sms-series`` SMS channels'
   sms_delivery_success_rate (major, every fifth critical). 48 x 20 + 10 + 30 = 1,000 series by default;
4. watch the worker's status file (every 0.1 s), the fake SMS centre's log and the IM server until the storm has
   been told: every record read, every group flushed after the last record (``group_interval`` later), nothing left
   to send but digests, nothing new for 3 s. Then read the ledger, and stop the worker;
5. baselines on the same records: (a) a bare aiokafka loop that reads the anomalies topic and decodes each record
   with msgspec (twice), (b) in this process on a fresh ledger of the same kind: the worker's ``Intake`` applying the
   records in batches of 1,000, and the worker's ``Schedule`` ticking once after the first batch (escalation of the
   new alerts) and once a ``group_wait`` later (the group flushes), each timed; no Kafka, no delivery.

Figures: *intake* is records read per second by the worker, from its first status with records to the first with
all of them (0.1 s resolution), and end to end from the first record produced; *first/last message* are the
arrivals at the fake SMS centre or the IM server, from the first record produced; *peak RSS* is the worker's
``VmHWM``. SMS at the fake SMS centre are counted as messages (a concatenated SMS once). The worker's ticks (group
flushes, escalations) hold the same lock as its intake, so they slow intake; the baselines show what is left.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from benchkit.alerting import LedgerReader, SmscArrivals, StampedRobots, running_api
from benchkit.stack import (
    BenchError,
    CpuAccount,
    Stack,
    WorkerRun,
    group_pids,
    machine,
    running_stack,
    say,
    stop_on_sigterm,
    wait_for,
    workers_stopped,
    write_config,
)

from alerting.intake import Intake
from alerting.ledger import Ledger
from alerting.pipeline.schedule import Schedule
from alerting.worker import MAX_BATCH, TICK_S
from core.contracts import AnomaliesRecord, Anomaly, Evidence
from core.durations import parse_duration
from core.series import series_key
from devstack.im_robot_server import Robot
from devstack.postgres_server import PostgresServer
from devstack.process import free_port, port_is_open
from runtime.topics import ensure_topics
from telewatch.alerting_wiring import ack_links, planner
from telewatch.config import Config, load_config

CALLS_PEOPLE = {"zhang.min": ("张敏", "8613800000003"), "chen.jie": ("陈杰", "8613800000004")}
SMS_PEOPLE = {"li.wei": ("李伟", "8613800000001")}
ONCALL = {"liu.yang": ("刘洋", "8613800000005")}
DINGTALK_TOKEN, DINGTALK_SECRET, WECOM_KEY = (f"bench-{secrets.token_hex(8)}" for _ in range(3))
ROBOT_ENV = {
    "TW_BENCH_DINGTALK_TOKEN": DINGTALK_TOKEN,
    "TW_BENCH_DINGTALK_SECRET": DINGTALK_SECRET,
    "TW_BENCH_WECOM_KEY": WECOM_KEY,
}
#: How long the output must stay unchanged before the storm counts as told.
QUIET_S = 3.0
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True)
class Options:
    """The command line."""

    anomalies: int = 10_000
    regions: int = 48
    cells: int = 20
    region_outages: int = 10
    sms_series: int = 30
    span_s: float = 60.0
    broker: str = "tansu"
    ledger: str = "sqlite"
    group_wait: str = "5s"
    group_interval: str = "30s"
    seed: int = 7
    timeout_s: float = 600.0


# -- the storm -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesSpec:
    """One series of the storm."""

    metric: str
    dims: dict[str, str]
    scope: str
    severity: str
    expected: float

    @property
    def key(self) -> str:
        """Its series key."""
        return series_key(self.metric, self.dims)


def storm_series(o: Options) -> list[SeriesSpec]:
    """Cells of every region, the region-wide series of the first ``region_outages`` regions, SMS channels."""
    found = []
    for r in range(o.regions):
        region = f"r{r:02d}"
        if r < o.region_outages:
            found.append(SeriesSpec("call_setup_success_rate", {"region": region}, "region", "critical", 0.985))
        for c in range(o.cells):
            dims = {"region": region, "cell_id": f"{region}-c{c:02d}"}
            found.append(SeriesSpec("call_setup_success_rate", dims, "cell", "major", 0.985))
    for n in range(o.sms_series):
        severity = "critical" if n % 5 == 4 else "major"
        found.append(SeriesSpec("sms_delivery_success_rate", {"channel": f"1069{n + 1:05d}"}, "sms", severity, 0.97))
    return found


def storm_records(o: Options, series: list[SeriesSpec], start: datetime) -> list[Anomaly]:
    """``o.anomalies`` anomalies spread evenly over ``series``, each series' over ``o.span_s`` from ``start``,
    in event-time order."""
    rng = random.Random(o.seed)
    records = []
    for i, spec in enumerate(series):
        count = o.anomalies // len(series) + (i < o.anomalies % len(series))
        times = sorted(start + timedelta(seconds=o.span_s * (k + rng.random()) / count) for k in range(count))
        for ts in times:
            value = round(spec.expected * rng.uniform(0.35, 0.9), 4)
            evidence = Evidence(series=spec.key, ts=ts, value=value, expected=spec.expected, description="storm")
            anomaly = Anomaly(
                fingerprint=f"storm-{spec.key}", series=spec.key, metric=spec.metric, dims=spec.dims, ts=ts,
                started_at=times[0], value=value, expected=spec.expected, lower=spec.expected - 0.02,
                upper=spec.expected + 0.01, score=0.95 if spec.severity == "critical" else 0.8,
                severity=spec.severity, detector="auto", evidence=[evidence],  # type: ignore[arg-type]
            )  # fmt: skip
            records.append(anomaly)
    records.sort(key=lambda a: a.ts)
    return records


# -- the config -----------------------------------------------------------------------------------------


def alerting_section(o: Options, robots_url: str, api_port: int, ledger_url: str | None) -> dict[str, Any]:
    """Owners, route, inhibit rule and API of the storm (see the module docstring)."""

    def people(found: dict[str, tuple[str, str]], group: str | None) -> dict[str, Any]:
        return {k: {"name": n, "phone": p, "im_groups": [group] if group else []} for k, (n, p) in found.items()}

    def chain(lead: str, group: str) -> list[dict[str, Any]]:
        return [{"notify": {"people": [lead], "groups": [group]}}, {"wait": "15m"}, {"notify_oncall": "noc-duty"},
                {"wait": "30m"}, {"repeat": 2}]  # fmt: skip

    owners = {
        "people": {**people(CALLS_PEOPLE, "wireless-noc"), **people(SMS_PEOPLE, "sms-centre"), **people(ONCALL, None)},
        "im_groups": {
            "wireless-noc": {"kind": "dingtalk", "url": robots_url, "token_env": "TW_BENCH_DINGTALK_TOKEN",
                             "secret_env": "TW_BENCH_DINGTALK_SECRET"},
            "sms-centre": {"kind": "wecom", "url": robots_url, "token_env": "TW_BENCH_WECOM_KEY"},
        },
        "rotations": {"noc-duty": {"people": list(ONCALL), "shift": "7d", "start": "2026-01-05T09:00:00+08:00"}},
        "escalations": {"calls": chain("zhang.min", "wireless-noc"), "sms": chain("li.wei", "sms-centre")},
        "owners": {
            "sms": {"matchers": ['metric=~"sms_delivery_.*"'], "department": "短信中心", "people": list(SMS_PEOPLE),
                    "groups": ["sms-centre"], "escalation": "sms"},
            "calls": {"matchers": ['metric=~"call_.*"'], "department": "无线网优", "people": list(CALLS_PEOPLE),
                      "groups": ["wireless-noc"], "escalation": "calls"},
        },
    }  # fmt: skip
    section: dict[str, Any] = {
        "owners": owners,
        "route": {
            "receiver": "calls", "group_by": ["metric", "region"], "group_wait": o.group_wait,
            "group_interval": o.group_interval,
            "routes": [{"matchers": ['metric=~"sms_delivery_.*"'], "receiver": "sms"}],
        },
        "inhibit_rules": [{"source_matchers": ['scope="region"', 'severity="critical"'],
                           "target_matchers": ['scope="cell"'], "equal": ["region", "metric"]}],
        "api": {"port": api_port, "public_url": f"http://127.0.0.1:{api_port}"},
    }  # fmt: skip
    if ledger_url is not None:
        section["ledger_url"] = ledger_url
    return section


def ledger_url_of(config: Config) -> str:
    """The worker's ledger: ``alerting.ledger_url`` or the SQLite file in the stack home."""
    return config.alerting.ledger_url or f"sqlite:///{config.stack.home_path() / 'ledger.db'}"


# -- producing and the bare loop ---------------------------------------------------------------------------


async def produce(config: Config, records: list[Anomaly]) -> tuple[float, float]:
    """Send the records to the anomalies topic (key: series); wall times of the first send and of the flush."""
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap_servers(), linger_ms=5)
    await producer.start()
    try:
        encode, topic = msgspec.json.encode, config.kafka.topics.anomalies.name
        first = time.time()
        for record in records:
            await producer.send(topic, encode(record), key=record.series.encode())
        await producer.flush()
        return first, time.time()
    finally:
        await producer.stop()


@dataclass(frozen=True)
class BareResult:
    """A bare loop over the anomalies topic."""

    records: int
    startup_s: float
    steady_s: float

    @property
    def steady(self) -> float:
        """Records per second from the first record to the last."""
        return self.records / self.steady_s if self.steady_s > 0 else float("inf")


async def bare_loop(config: Config, total: int) -> BareResult:
    """Read ``total`` records of the anomalies topic from the start (partitions assigned, no group) and decode
    each as the worker's contract does."""
    topic = config.kafka.topics.anomalies
    consumer = AIOKafkaConsumer(bootstrap_servers=config.bootstrap_servers(), enable_auto_commit=False)
    decode = msgspec.json.Decoder(AnomaliesRecord).decode
    began = time.perf_counter()
    first = last = None
    count = 0
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + 60
        while count < total and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=MAX_BATCH)
            for records in batches.values():
                first = first or time.perf_counter()
                for record in records:
                    if record.value is not None:
                        decode(record.value)
                count += len(records)
            last = time.perf_counter()
    finally:
        await consumer.stop()
    if first is None or last is None or count < total:
        raise BenchError(f"the bare loop read {count:,} of {total:,} records")
    return BareResult(count, first - began, last - first)


def ledger_alone(config: Config, url: str, records: list[Anomaly]) -> dict[str, Any]:
    """In this process, on a fresh ledger at ``url``: the worker's intake applying ``records`` in batches of
    MAX_BATCH, then one schedule tick after the first batch (escalations of the new alerts) and one a group_wait
    later (the group flushes), each timed; no Kafka, no delivery."""
    payloads = [msgspec.json.encode(r) for r in records]
    with Ledger.open(url) as ledger:
        intake = Intake(ledger, config.alerting)
        schedule = Schedule(ledger, planner(config, ack_links(config)))
        now = datetime.now(UTC)
        took = tick_s = 0.0
        for at in range(0, len(payloads), MAX_BATCH):
            began = time.perf_counter()
            intake.take("bench/0", list(enumerate(payloads[at : at + MAX_BATCH], start=at)), now)
            took += time.perf_counter() - began
            if at == 0:
                began = time.perf_counter()
                schedule.tick(now)
                tick_s = time.perf_counter() - began
        began = time.perf_counter()
        schedule.tick(now + timedelta(seconds=parse_duration(config.alerting.route_tree().group_wait or "30s") + 1))
        flush_s = time.perf_counter() - began
    return {
        "records": len(records), "intake_s": took, "intake_per_s": len(records) / took,
        "opened": intake.counts.opened, "first_tick_s": tick_s, "flush_tick_s": flush_s,
        "flushes": schedule.counts.flushes,
    }  # fmt: skip


def fresh_database(stack: Stack, scratch: Path, name: str) -> str:
    """A new, empty ledger database of the kind the worker uses."""
    server = stack.servers.get("postgres")
    if isinstance(server, PostgresServer):
        with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return server.url.rsplit("/", 1)[0] + f"/{name}"
    return f"sqlite:///{scratch / f'{name}.db'}"


# -- the run -----------------------------------------------------------------------------------------------


class Watch:
    """The worker, the fake SMS centre, the IM server and the ledger, polled until the storm has been told."""

    def __init__(
        self, worker: WorkerRun, smsc: SmscArrivals, robots: StampedRobots, reader: LedgerReader, total: int
    ) -> None:
        self.worker, self.smsc, self.robots, self.reader, self.total = worker, smsc, robots, reader, total
        self.all_read_at: float | None = None
        self._state: tuple[Any, ...] = ()
        self._changed_at = time.time()
        self._said = 0.0

    async def until_told(self, flush_after_s: float, limit_s: float) -> None:
        """Poll until every record is read, ``flush_after_s`` has passed since, nothing but digests is left to
        send and nothing changed for QUIET_S."""
        deadline = time.monotonic() + limit_s
        busy = rows = 0
        next_db = 0.0
        while True:
            status = self.worker.poll() or {}
            self.worker.check()
            self.smsc.poll()
            now = time.time()
            read = int(status.get("anomalies", 0))
            if self.all_read_at is None and read >= self.total:
                self.all_read_at = self.worker.samples[-1].at
            if now >= next_db:
                busy, rows = await asyncio.to_thread(self._outbox)
                next_db = now + 0.5
            state = (read, rows, busy, len(self.smsc.arrived), len(self.robots.accepted_at), status.get("sent"))
            if state != self._state:
                self._state, self._changed_at = state, now
            if now - self._said >= PROGRESS_EVERY_S:
                self._said = now
                say(f"read {read:,}/{self.total:,}, alerts opened {status.get('opened', 0):,}, flushes "
                    f"{status.get('flushes', 0)}, outbox rows {rows} ({busy} to send), SMS at the SMSC "
                    f"{len(self.smsc.arrived)}, IM messages {len(self.robots.accepted_at)}")  # fmt: skip
            told = self.all_read_at is not None and now >= self.all_read_at + flush_after_s
            if told and busy == 0 and now - self._changed_at >= QUIET_S:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"the storm was not told after {limit_s:.0f} s; last status {status}")
            await asyncio.sleep(0.1)

    def _outbox(self) -> tuple[int, int]:
        return self.reader.busy_outbox(), len(self.reader.outbox())


async def run_storm(o: Options, stack: Stack, scratch: Path) -> dict[str, Any]:
    """Steps 2-5 of the module docstring on the running stack; the results."""
    robots = StampedRobots(
        [
            Robot("dingtalk", "wireless-noc", DINGTALK_TOKEN, secret=DINGTALK_SECRET),
            Robot("wecom", "sms-centre", WECOM_KEY),
        ]
    )
    robots_url = await robots.start()
    try:
        api_port = free_port()
        data = stack.config_sections() | {"alerting": alerting_section(o, robots_url, api_port, stack.postgres_url())}
        path = write_config(scratch / "telewatch.yaml", data)
        config = load_config(path)
        await ensure_topics(config.bootstrap_servers(), config.kafka)
        series = storm_series(o)
        records = storm_records(o, series, datetime.now(UTC) - timedelta(seconds=o.span_s))
        say(f"storm: {len(records):,} anomalies over {len(series):,} series, event times over {o.span_s:.0f} s")
        async with running_api(config):
            await wait_for(lambda: port_is_open(api_port), "alerting API", 30)
            result = await _worker_run(o, config, path, scratch, stack, robots, records)
        say("(a) bare aiokafka loop over the same records, twice")
        bare = [await bare_loop(config, len(records)) for _ in range(2)]
        say("(b) intake and schedule ticks alone: the same records into a fresh ledger, in this process")
        alone = await asyncio.to_thread(
            ledger_alone, config, fresh_database(stack, scratch, f"alone_{uuid.uuid4().hex[:8]}"), records
        )
    finally:
        await robots.stop()
    worker = result["worker"]
    bare_steady = sum(b.steady for b in bare) / len(bare)
    return result | {
        "options": asdict(o),
        "machine": machine(),
        "series": dict(Counter(s.scope for s in series)) | {"total": len(series)},
        "bare": {"runs": [asdict(b) | {"steady": b.steady} for b in bare], "steady": bare_steady},
        "ledger_alone": alone,
        "ratio_intake_to_bare": (worker["intake_steady"] or 0.0) / bare_steady,
    }


async def _worker_run(
    o: Options,
    config: Config,
    path: Path,
    scratch: Path,
    stack: Stack,
    robots: StampedRobots,
    records: list[Anomaly],
) -> dict[str, Any]:
    reader = LedgerReader(ledger_url_of(config))
    smsc = SmscArrivals(stack.kannel)
    try:
        with workers_stopped() as started:
            worker = WorkerRun("alerting", path, scratch)
            started.append(worker)
            say(f"started telewatch alerting (pid {worker.proc.pid}); waiting for its partition")
            await wait_for(lambda: bool((worker.latest or {}).get("assigned")), "partition assigned", 120, [worker])
            ready_s = time.time() - worker.started_at
            say(f"worker ready in {ready_s:.1f} s; producing the storm")
            account = CpuAccount()
            account.note(ours := [os.getpid(), *stack.pids(), *group_pids(worker.proc.pid)])
            first_produced, produced = await produce(config, records)
            say(f"produced {len(records):,} records in {produced - first_produced:.2f} s")
            watch = Watch(worker, smsc, robots, reader, len(records))
            flush_after = parse_duration(o.group_interval) + 2 * TICK_S + 1.0
            await watch.until_told(flush_after, o.timeout_s)
            peak, cpu = worker.peak_rss_mib(), worker.cpu_s()
            cpu_shares = account.shares(ours)
            status = worker.latest or {}
        say("storm told; reading the ledger")
        result = summarise(watch, reader, first_produced, produced, status)
    finally:
        reader.close()
    result["worker"] |= {"ready_s": ready_s, "peak_rss_mib": peak, "cpu_s": cpu}
    return result | {"cpu": cpu_shares}


def summarise(
    watch: Watch, reader: LedgerReader, first_produced: float, produced: float, status: dict[str, Any]
) -> dict[str, Any]:
    """What the worker did to the storm, from its status, the ledger and the destinations."""
    total = watch.total
    samples = watch.worker.samples
    first = next((s for s in samples if s.status.get("anomalies", 0) > 0), None)
    done = next((s for s in samples if s.status.get("anomalies", 0) >= total), None)
    steady = None
    if first is not None and done is not None and done.at > first.at:
        steady = (total - first.status["anomalies"]) / (done.at - first.at)
    alerts = reader.alerts()
    outbox_rows = reader.outbox()
    attempts = reader.attempts()
    groups = reader.groups()
    firing_members = sum(1 for g in groups for status in g.members.values() if status == "firing")
    told_members = sum(1 for g in groups for key, status in g.members.items() if g.sent.get(key) == status)
    sms_rows = [r for r in outbox_rows if r.channel == "sms"]
    arrivals = [a.at for a in watch.smsc.arrived] + watch.robots.accepted_at
    trail, last = [], -1.0
    for sample in samples:  # about one a second: seconds since the first record produced, counters
        if sample.at - last >= 1.0:
            last = sample.at
            st = sample.status
            trail.append([round(sample.at - first_produced, 1), st.get("anomalies"), st.get("opened"), st.get("flushes"),
                          st.get("sent")])  # fmt: skip
    return {
        "produced": {
            "records": total,
            "seconds": produced - first_produced,
            "per_s": total / max(produced - first_produced, 1e-9),
        },
        "worker": {
            "read": int(status.get("anomalies", 0)),
            "opened": int(status.get("opened", 0)),
            "flushes": int(status.get("flushes", 0)),
            "escalations": int(status.get("escalations", 0)),
            "sent": int(status.get("sent", 0)),
            "retried": int(status.get("retried", 0)),
            "dead": int(status.get("dead", 0)),
            "intake_steady": steady,
            "intake_end_to_end": total / (done.at - first_produced) if done is not None else None,
            "all_read_s": done.at - first_produced if done is not None else None,
        },
        "alerts": {"total": len(alerts), "by_scope": dict(Counter(str(a.labels.get("scope")) for a in alerts))},
        "groups": {
            "total": len(groups),
            "firing_members": firing_members,
            "told_members": told_members,
            "muted_members": firing_members - told_members,
        },
        "outbox": {
            "by_channel_state": dict(sorted(Counter(f"{r.channel}/{r.state}" for r in outbox_rows).items())),
            "sms_over_budget": sum(1 for r in sms_rows if (r.payload or {}).get("budget")),
        },
        "attempts": dict(Counter(a.outcome for a in attempts)),
        "messages": {
            "sms": len(watch.smsc.arrived),
            "sms_parts": sum(a.sms.parts for a in watch.smsc.arrived),
            "sms_by_phone": dict(Counter(a.sms.receiver for a in watch.smsc.arrived)),
            "im": len(watch.robots.accepted_at),
            "im_refused": watch.robots.requests - len(watch.robots.received),
        },
        "receipts": reader.receipts_by_status(),
        #: [seconds since the first record produced, read, opened, flushes, sent], about one a second.
        "trail": trail,
        "timing": {
            "first_message_s": min(arrivals) - first_produced if arrivals else None,
            "last_message_s": max(arrivals) - first_produced if arrivals else None,
            "last_sms_s": max(a.at for a in watch.smsc.arrived) - first_produced if watch.smsc.arrived else None,
            "last_im_s": max(watch.robots.accepted_at) - first_produced if watch.robots.accepted_at else None,
        },
    }


# -- the report ----------------------------------------------------------------------------------------------


def _n(value: float | int | None, unit: str = "", digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def report(r: dict[str, Any]) -> str:
    """The results as text."""
    o, m, w, s = r["options"], r["machine"], r["worker"], r["series"]
    msg, t, g, out = r["messages"], r["timing"], r["groups"], r["outbox"]
    bare, alone, cpu = r["bare"], r["ledger_alone"], r["cpu"]
    notifications = sum(out["by_channel_state"].values())
    lines = [
        f"alert storm: {r['produced']['records']:,} anomalies over {s['total']:,} series ({s.get('cell', 0)} cells, "
        f"{s.get('region', 0)} region-wide, {s.get('sms', 0)} SMS channels), event times over {o['span_s']:.0f} s; "
        f"broker {o['broker']}, ledger {o['ledger']}",
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']}",
        f"route: group_by [metric, region], group_wait {o['group_wait']}, group_interval {o['group_interval']}; "
        "inhibit: critical region-wide mutes its cells; SMS budget: default (10 per person per hour)",
        "",
        f"  produced in {r['produced']['seconds']:.2f} s ({_n(r['produced']['per_s'])} records/s); worker ready "
        f"{w['ready_s']:.1f} s after its start",
        f"  intake: {w['read']:,} read, {w['opened']:,} alerts opened ({_n(w['intake_steady'])} records/s steady, "
        f"{_n(w['intake_end_to_end'])}/s from the first record produced; all read after {_n(w['all_read_s'], ' s', 1)})",
        f"  baselines: (a) bare aiokafka loop {_n(bare['runs'][0]['steady'])} and {_n(bare['runs'][1]['steady'])} "
        f"records/s; worker intake / bare loop = {r['ratio_intake_to_bare']:.4f}",
        f"  (b) in this process on a fresh ledger: intake alone {_n(alone['intake_per_s'])} records/s "
        f"({alone['opened']:,} alerts); the schedule tick after the first batch (escalation of the new alerts) "
        f"{alone['first_tick_s']:.1f} s, the tick that flushes the groups {alone['flush_tick_s']:.1f} s "
        f"({alone['flushes']} flushes)",
        "",
        f"  alerts: {r['alerts']['total']:,} ({', '.join(f'{k} {v}' for k, v in sorted(r['alerts']['by_scope'].items()))})",
        f"  groups: {g['total']}, {w['flushes']} flushes; {g['firing_members']:,} firing alerts in them, "
        f"{g['told_members']:,} told, {g['muted_members']:,} muted (inhibited)",
        f"  outbox rows: {notifications} ({', '.join(f'{k} {v}' for k, v in out['by_channel_state'].items())}); "
        f"{out['sms_over_budget']} critical SMS sent over the budget",
        f"  attempts: {', '.join(f'{k} {v}' for k, v in sorted(r['attempts'].items()))}",
        f"  messages out: {msg['sms']} SMS at the fake SMS centre ({msg['sms_parts']} parts), {msg['im']} IM messages "
        f"({msg['im_refused']} IM requests refused by the vendors' rate limits, retried); Kannel receipts "
        f"{r['receipts']}",
        f"  so: {r['produced']['records']:,} anomalies -> {r['alerts']['total']:,} alerts -> {notifications} "
        f"notifications -> {msg['sms'] + msg['im']} messages",
        "",
        f"  time from the first anomaly produced: first message {_n(t['first_message_s'], ' s', 1)}, last message "
        f"{_n(t['last_message_s'], ' s', 1)} (last SMS {_n(t['last_sms_s'], ' s', 1)}, last IM "
        f"{_n(t['last_im_s'], ' s', 1)})",
        f"  worker peak RSS {_n(w['peak_rss_mib'], ' MiB')}, CPU {_n(w['cpu_s'], ' s', 1)} (start-up included)",
        f"  CPU from the first record produced until told ({cpu['seconds']:.0f} s), in cores: the machine "
        f"{cpu['machine']:.2f}, the bench's processes {cpu['bench']:.2f}, everything else {cpu['others']:.2f}",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> tuple[Options, Path | None, bool]:
    """The options, where to write the JSON results (if anywhere), and whether to keep the scratch folder."""
    d = Options()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anomalies", type=int, default=d.anomalies, help="anomaly records to produce")
    parser.add_argument("--regions", type=int, default=d.regions, help="regions (call_setup_success_rate cells)")
    parser.add_argument("--cells", type=int, default=d.cells, help="cells per region")
    parser.add_argument("--region-outages", type=int, default=d.region_outages, help="regions with a region-wide alert")
    parser.add_argument("--sms-series", type=int, default=d.sms_series, help="SMS channel series")
    parser.add_argument("--span", type=float, default=d.span_s, help="seconds of event time the storm covers")
    parser.add_argument("--broker", choices=("tansu", "kafka"), default=d.broker, help="Tansu or Apache Kafka")
    parser.add_argument("--ledger", choices=("sqlite", "postgresql"), default=d.ledger, help="ledger database")
    parser.add_argument("--group-wait", default=d.group_wait, help="the route's group_wait")
    parser.add_argument("--group-interval", default=d.group_interval, help="the route's group_interval")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the records' values and times")
    parser.add_argument("--timeout", type=float, default=d.timeout_s, help="longest wait for the storm to be told (s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (config, logs, ledger)")
    a = parser.parse_args(argv)
    if a.anomalies < 1 or a.regions < 1 or a.cells < 1 or not 0 <= a.region_outages <= a.regions:
        parser.error("--anomalies, --regions and --cells must be at least 1, --region-outages at most --regions")
    options = Options(a.anomalies, a.regions, a.cells, a.region_outages, a.sms_series, a.span, a.broker, a.ledger,
                      a.group_wait, a.group_interval, a.seed, a.timeout)  # fmt: skip
    return options, a.json, a.keep


def run(options: Options, scratch: Path) -> dict[str, Any]:
    """Start the stack in ``scratch``, run the storm, stop the stack; the results."""
    with running_stack(scratch / "home", options.broker, postgres=options.ledger == "postgresql") as stack:
        return asyncio.run(run_storm(options, stack, scratch))


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmark in a temporary folder, print (and save) the figures."""
    options, out, keep = parse_args(argv)
    stop_on_sigterm()
    os.environ.update(ROBOT_ENV)
    os.environ.setdefault("TW_ACK_LINK_SECRET", secrets.token_hex(32))  # signs ack links and receipt URLs
    scratch = Path(tempfile.mkdtemp(prefix="bench-alert-storm-"))
    scratch.chmod(0o755)  # PostgreSQL runs as an unprivileged user that must reach its folder
    try:
        results = run(options, scratch)
    except BenchError as exc:
        raise SystemExit(f"[bench] failed: {exc}") from exc
    finally:
        if keep:
            say(f"kept the config, logs, stack home and ledger in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(report(results))
    if out is not None:
        out.write_text(msgspec.json.format(msgspec.json.encode(results), indent=2).decode() + "\n")
        say(f"results written to {out}")


if __name__ == "__main__":
    main()

"""Streams worker throughput and memory against a bare consumer loop, on a real broker, measured in the same run.

    ./dev bench streams_worker [--broker tansu|kafka] [--events 1000000] [--rate 3000] [--memory-cells 400]
                               [--out results.json]

Everything runs on 127.0.0.1 in a temporary stack home; the server downloads come from the shared install
cache (``TELEWATCH_CACHE`` or ``.telewatch/cache``, as for the tests). Steps:

1. start the broker (Tansu by default, or Apache Kafka with ``--broker kafka``) and InfluxDB 1.6.7 with the
   devstack classes on free ports; they are stopped by PID at the end;
2. fill the four input topics (4 partitions each) with ``--events`` simulator events: the default topology
   and bad events, simulated from 6 h ago at ``--rate`` events per simulated second, as fast as the broker
   takes them;
3. (a) baseline: a bare aiokafka consumer group over the four topics that reads every record and
   JSON-decodes it (msgspec), run once before and once after the worker; its rates are the mean of the
   two (a drift of the machine during the bench then shows as a difference instead of moving the ratio);
   (b) the streams worker run as a user runs it, ``telewatch streams -c CONFIG --status-file FILE --app-id ID``
   (a subprocess), watched through its status file until it has counted every event and its metric points
   stop growing (the last windows close ``streams.idle_timeout_s`` after the input goes quiet).

Rates: *end to end* is events / (time from starting the consumer, or the worker process, to the last event
read): start-up and group join included. The worker writes its status once a second, so its end-to-end time
may be up to 1 s long (the rate errs low). *Steady* leaves start-up out: the bare loop from its first record
to its last; the worker between the first and the last status written while events were flowing (the
worker's own uptime stamps). *Per CPU-second* divides the same events by the worker's user+system CPU time
(``/proc/PID/stat``) over the same span: the rate per fully used core. The CPU shares of the worker, the
broker and everything else on the machine (``/proc/stat``) over that span show whether the worker computed or
waited, and whether other jobs competed for the cores (then run it again on a quiet machine).

Targets (issue 3): at least 100,000 events/s per worker core, judged on the worker's steady rate (one
process runs Python code on one core at a time), and at least half the bare loop's steady rate.

Memory: peak RSS is the worker's ``VmHWM`` (``/proc/PID/status``), read before it is stopped. Memory per
10,000 series comes from a second worker run on the same number of events at the same rate (so the same
windows, de-duplication ids and batch sizes) from a network with ``--memory-cells`` cells per region instead
of 25: the difference of the two peak RSS over the difference of their series counts (``series``: distinct
series that got a metric point). It is the marginal cost of a series in the real process: open windows in
the per-partition state, the state's copy in the faust table, the merge stage, producer and InfluxDB
buffers. ``--memory-cells 0`` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import yaml
from aiokafka import AIOKafkaConsumer

from core.settings import TopicsSettings
from devstack.influxdb_server import InfluxDBServer
from devstack.kafka_server import KafkaServer
from devstack.process import ManagedServer, free_ports, stop_process
from devstack.tansu import TansuServer
from runtime.faust_bulk import TANSU_SETTINGS
from runtime.topics import ensure_topics
from simulator import KafkaSink, SimulatorSettings, Tick, run_simulation
from simulator.settings import TopologySettings
from streams.worker import MAX_BATCH
from telewatch.config import Config, load_config

REPO_ROOT = Path(__file__).resolve().parents[1]
PORT_NAMES = (
    "tansu_port", "kafka_port", "kafka_controller_port", "influxdb_http_port", "influxdb_rpc_port",
    "kannel_admin_port", "kannel_smsbox_port", "kannel_sendsms_port", "kannel_smsc_port", "postgres_port",
)  # fmt: skip
PARTITIONS = 4
#: How often the bench reads the worker's status file (the worker rewrites it every second).
POLL_S = 0.02
#: A bare loop that gets nothing for this long has lost records: it stops and reports what it read.
BARE_IDLE_S = 30.0


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


@dataclass(frozen=True)
class Options:
    """The command line."""

    broker: str
    events: int
    rate: float
    idle_timeout_s: int
    memory_cells: int
    timeout_s: float


# -- the stack ---------------------------------------------------------------------------------------


def install_cache() -> Path:
    """The shared download cache, as the tests find it (``TELEWATCH_CACHE`` or ``<repo>/.telewatch/cache``)."""
    return Path(os.environ.get("TELEWATCH_CACHE", REPO_ROOT / ".telewatch" / "cache"))


@dataclass(frozen=True)
class Stack:
    """The running servers: broker kind, stack home and every port of the ``stack:`` config section."""

    broker: str
    home: Path
    ports: dict[str, int]
    #: The broker's PID (its CPU time is sampled next to the worker's).
    broker_pid: int | None = None

    @property
    def bootstrap(self) -> str:
        """host:port of the broker."""
        port = self.ports["tansu_port" if self.broker == "tansu" else "kafka_port"]
        return f"127.0.0.1:{port}"


@contextlib.contextmanager
def running_stack(broker: str, home: Path) -> Iterator[Stack]:
    """Start the broker and InfluxDB in ``home`` on free ports; stop both by PID on the way out."""
    home.mkdir(parents=True, exist_ok=True)
    cache = install_cache()
    (home / "cache").symlink_to(cache)
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    broker_server: ManagedServer = (
        TansuServer(home, port=ports["tansu_port"])
        if broker == "tansu"
        else KafkaServer(home, port=ports["kafka_port"], controller_port=ports["kafka_controller_port"], cache=cache)
    )
    influxdb = InfluxDBServer(home, http_port=ports["influxdb_http_port"], rpc_port=ports["influxdb_rpc_port"])
    servers = [broker_server, influxdb]
    try:
        for server in servers:
            began = time.perf_counter()
            server.start()
            say(f"{server.name} up on {server.endpoint} in {time.perf_counter() - began:.1f} s")
        yield Stack(broker, home, ports, broker_server.pid())
    finally:
        for server in reversed(servers):
            server.stop()


def write_config(stack: Stack, directory: Path, prefix: str, idle_timeout_s: int) -> Path:
    """A telewatch config for the stack, with topics and database named after ``prefix``; return its path."""
    topics = {
        role: {"name": f"{prefix}.{role}", "partitions": 1 if role == "deadletter" else PARTITIONS}
        for role in TopicsSettings.model_fields
    }
    kafka: dict[str, Any] = (
        {"mode": "embedded", "topics": topics}
        if stack.broker == "tansu"
        else {"mode": "external", "bootstrap_servers": [stack.bootstrap], "topics": topics}
    )
    data = {
        "kafka": kafka,
        "influxdb": {"mode": "embedded", "api": "v1", "database": prefix},
        "stack": {"home": str(stack.home), **stack.ports},
        "streams": {"idle_timeout_s": idle_timeout_s},
    }
    path = directory / f"{prefix}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- input -------------------------------------------------------------------------------------------


class _SinkUntil(KafkaSink):
    """A KafkaSink that sets ``stop`` once ``target`` messages are written: the run ends after that tick."""

    def __init__(self, config: Config, truth_dir: Path, target: int, stop: asyncio.Event) -> None:
        super().__init__(config.bootstrap_servers(), config.kafka.topics.input_names(), truth_dir)
        self._target = target
        self._stop = stop
        self._written = 0

    async def write(self, tick: Tick) -> None:
        """Send the tick; after the one that reaches the target, ask the run to end."""
        await super().write(tick)
        self._written += sum(len(batch) for batch in tick.batches)
        if self._written >= self._target:
            self._stop.set()


@dataclass(frozen=True)
class Produced:
    """What the simulator put into the input topics."""

    events: int
    bad: int
    wall_s: float
    cells: int


async def produce(config: Config, events: int, rate: float, cells_per_region: int, truth_dir: Path) -> Produced:
    """Create the topics and fill the input topics with about ``events`` simulator events (whole ticks)."""
    await ensure_topics(config.bootstrap_servers(), config.kafka)
    topology = TopologySettings(cells_per_region=cells_per_region)
    settings = SimulatorSettings(rate=rate, speed="max", topology=topology)
    start = datetime.now(UTC) - timedelta(seconds=max(6 * 3600.0, 3 * events / rate))
    stop = asyncio.Event()
    stats = await run_simulation(settings, _SinkUntil(config, truth_dir, events, stop), start, None, stop=stop)
    cells = len(topology.regions) * cells_per_region
    return Produced(stats.total_events, stats.faults_total, stats.wall_s, cells)


# -- (a) the bare loop ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BareResult:
    """A bare consumer loop over the input topics."""

    events: int
    undecodable: int
    startup_s: float
    total_s: float
    steady_s: float

    @property
    def end_to_end(self) -> float:
        """Events/s from starting the consumer to the last record."""
        return self.events / self.total_s

    @property
    def steady(self) -> float:
        """Events/s from the first record to the last."""
        return self.events / self.steady_s


async def bare_loop(config: Config, total: int) -> BareResult:
    """Read ``total`` records of the input topics in a fresh consumer group, JSON-decoding each one."""
    tansu = config.kafka.mode == "embedded"
    options: dict[str, Any] = {}
    if tansu:  # as the worker does on Tansu, whose group joins take half the session timeout
        options = {
            "session_timeout_ms": int(TANSU_SETTINGS["broker_session_timeout"] * 1000),
            "heartbeat_interval_ms": int(TANSU_SETTINGS["broker_heartbeat_interval"] * 1000),
            "rebalance_timeout_ms": int(TANSU_SETTINGS["broker_rebalance_timeout"] * 1000),
        }
    consumer = AIOKafkaConsumer(
        *config.kafka.topics.input_names().values(),
        bootstrap_servers=config.bootstrap_servers(),
        group_id=f"bench-bare-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        **options,
    )
    decode = msgspec.json.decode
    count = undecodable = 0
    began = time.perf_counter()
    first = last = None
    await consumer.start()
    try:
        while count < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=MAX_BATCH)
            now = time.perf_counter()
            if not batches:
                if now - (last or began) > BARE_IDLE_S:
                    break
                continue
            first = first or now
            for records in batches.values():
                for record in records:
                    try:
                        decode(record.value)
                    except msgspec.DecodeError:
                        undecodable += 1
                count += len(records)
            last = time.perf_counter()
    finally:
        await consumer.stop()
    if first is None or last is None:
        raise BenchError(f"the bare loop read nothing in {BARE_IDLE_S:.0f} s")
    return BareResult(count, undecodable, first - began, last - began, last - first)


# -- (b) the worker -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One status file the worker wrote, with when the bench saw it and the worker's CPU time then."""

    seen_s: float
    cpu_s: float
    status: dict[str, Any]
    broker_cpu_s: float = 0.0
    #: CPU time all processes of the machine had used (``/proc/stat``), to see what else ran meanwhile.
    machine_cpu_s: float = 0.0

    @property
    def events(self) -> int:
        """Events the worker has read."""
        return int(self.status["events"])

    @property
    def uptime_s(self) -> float:
        """The worker's uptime when it wrote this status."""
        return float(self.status["uptime_s"])

    def outputs(self) -> tuple[Any, ...]:
        """What changes while windows close and points are written (not InfluxDB's written count: the worker's
        own vitals add to it every 10 s, stream or no stream)."""
        influxdb = self.status.get("influxdb") or {}
        return self.status["points"], self.status["partials"], influxdb.get("buffered")


@dataclass(frozen=True)
class WorkerResult:
    """One worker run: how fast it read, what it produced, its memory."""

    events: int
    #: Seconds from the process start to its first status with events, and the events that status had.
    first_status_s: float
    first_status_events: int
    total_s: float
    steady: float | None
    per_cpu_s: float | None
    cpu_s: float
    #: CPU time over wall time of the worker, the broker and all other processes over the steady span.
    cpu_shares: tuple[float, float, float] | None
    drain_s: float
    points: int
    series: int
    windows: int
    dead_letters: int
    late: int
    duplicates: int
    influxdb_written: int | None
    peak_rss_mib: float
    final_rss_mib: float
    #: Encoded state (snapshots + deltas) the worker's tables held at the end.
    state_mib: float
    #: Every status seen: (seconds since the process started, worker uptime, events, CPU seconds, points).
    trail: list[tuple[float, float, int, float, int]]

    @property
    def end_to_end(self) -> float:
        """Events/s from starting the process to the status that shows every event read."""
        return self.events / self.total_s


def telewatch_command() -> list[str]:
    """The ``telewatch`` console script of this environment (``.venv/bin/telewatch``)."""
    script = Path(sys.executable).with_name("telewatch")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "telewatch"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy (``/proc/stat``: all but idle and iowait), over all cores."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int, key: str) -> float:
    """A ``Vm*`` line of ``/proc/PID/status`` (``VmHWM``: peak resident set), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"/proc/{pid}/status has no {key}")


class WorkerWatch:
    """A started worker subprocess and the status samples it has written so far."""

    def __init__(self, config_path: Path, workdir: Path, app_id: str, broker_pid: int | None) -> None:
        self.broker_pid = broker_pid
        self.status_file = workdir / f"{app_id}.status.json"
        self.log = workdir / f"{app_id}.log"
        command = [*telewatch_command(), "streams", "-c", str(config_path)]
        command += ["--status-file", str(self.status_file), "--app-id", app_id]
        self.began = time.perf_counter()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.samples: list[Sample] = []
        self._last_body = b""

    def wait(self, done: Callable[[list[Sample]], bool], what: str, limit_s: float) -> Sample:
        """Poll the status file until ``done(samples)``; raise with the log's tail on exit or timeout."""
        deadline = time.perf_counter() + limit_s
        while not (self.samples and done(self.samples)):
            if self.proc.poll() is not None:
                raise BenchError(f"the worker exited with {self.proc.returncode} waiting for {what}:\n{self.tail()}")
            if time.perf_counter() > deadline:
                last = self.samples[-1].status if self.samples else None
                raise BenchError(f"no {what} after {limit_s:.0f} s; last status {last}; log:\n{self.tail()}")
            self._read()
            time.sleep(POLL_S)
        return self.samples[-1]

    def _read(self) -> None:
        try:
            body = self.status_file.read_bytes()
            cpu = cpu_seconds(self.proc.pid)
            broker_cpu = cpu_seconds(self.broker_pid) if self.broker_pid else 0.0
            machine_cpu = machine_cpu_seconds()
        except OSError:
            return
        if body == self._last_body:
            return
        try:
            status = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return
        self._last_body = body
        self.samples.append(Sample(time.perf_counter() - self.began, cpu, status, broker_cpu, machine_cpu))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s (by the PID this bench started)."""
        stop_process(self.proc)

    def tail(self, lines: int = 30) -> str:
        """The end of the worker's log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def steady_span(samples: list[Sample], total: int) -> tuple[Sample, Sample] | None:
    """The first and last status written mid-stream (start-up left out), or None if there are not two.

    Falls back to the first status with events and the first with all of them (the end may then be up
    to a second late) when fewer than two statuses fall mid-stream.
    """
    flowing = [s for s in samples if 0 < s.events < total]
    if len(flowing) < 2 or flowing[-1].uptime_s <= flowing[0].uptime_s:
        started = [s for s in samples if s.events > 0]
        finished = [s for s in samples if s.events >= total]
        flowing = [started[0], finished[0]] if started and finished else []
    if len(flowing) < 2 or flowing[-1].uptime_s <= flowing[0].uptime_s:
        return None
    return flowing[0], flowing[-1]


def steady_rates(samples: list[Sample], total: int) -> tuple[float | None, float | None]:
    """Events per second of the worker's uptime and per CPU-second of the worker over the steady span."""
    span = steady_span(samples, total)
    if span is None:
        return None, None
    a, b = span
    events = b.events - a.events
    cpu = b.cpu_s - a.cpu_s
    return events / (b.uptime_s - a.uptime_s), (events / cpu if cpu > 0 else None)


def cpu_shares(samples: list[Sample], total: int) -> tuple[float, float, float] | None:
    """How busy the worker, the broker and everything else were over the steady span (1.0: one core)."""
    span = steady_span(samples, total)
    if span is None:
        return None
    a, b = span
    wall = b.seen_s - a.seen_s
    worker, broker = (b.cpu_s - a.cpu_s) / wall, (b.broker_cpu_s - a.broker_cpu_s) / wall
    return worker, broker, max(0.0, (b.machine_cpu_s - a.machine_cpu_s) / wall - worker - broker)


def run_worker(config_path: Path, stack: Stack, workdir: Path, total: int, options: Options) -> WorkerResult:
    """Run ``telewatch streams`` until it has read ``total`` events and its outputs settle; then stop it."""
    app_id = f"bench-{uuid.uuid4().hex[:8]}"
    watch = WorkerWatch(config_path, workdir, app_id, stack.broker_pid)
    limit_s = options.timeout_s
    try:
        done = watch.wait(lambda s: s[-1].events >= total, f"{total:,} events read", limit_s)
        first = next(s for s in watch.samples if s.events > 0)
        quiet_s = options.idle_timeout_s + 5.0
        final = watch.wait(_outputs_settled(watch, quiet_s), "settled metric points", limit_s)
        peak, rss = memory_mib(watch.proc.pid, "VmHWM"), memory_mib(watch.proc.pid, "VmRSS")
    finally:
        watch.stop()
    steady, per_cpu = steady_rates(watch.samples, total)
    shares = cpu_shares(watch.samples, total)
    last_change = next(s for s in watch.samples if s.outputs() == final.outputs())
    status = final.status
    influxdb = status.get("influxdb") or {}
    return WorkerResult(
        events=final.events,
        first_status_s=first.seen_s,
        first_status_events=first.events,
        total_s=done.seen_s,
        steady=steady,
        per_cpu_s=per_cpu,
        cpu_s=done.cpu_s,
        cpu_shares=shares,
        drain_s=max(0.0, last_change.seen_s - done.seen_s),
        points=int(status["points"]),
        series=int(status["series"]),
        windows=int(status["windows"]),
        dead_letters=sum(status["dead_letters"].values()),
        late=int(status["late"]),
        duplicates=int(status["duplicates"]),
        influxdb_written=influxdb.get("written"),
        peak_rss_mib=peak,
        final_rss_mib=rss,
        state_mib=int(status.get("state_bytes", 0)) / 2**20,
        trail=[(round(s.seen_s, 3), s.uptime_s, s.events, s.cpu_s, int(s.status["points"])) for s in watch.samples],
    )


def _outputs_settled(watch: WorkerWatch, quiet_s: float) -> Callable[[list[Sample]], bool]:
    """True once the outputs have not changed for ``quiet_s`` and InfluxDB has nothing buffered."""

    def check(samples: list[Sample]) -> bool:
        last = samples[-1].outputs()
        since = samples[-1]
        for sample in reversed(samples):
            if sample.outputs() != last:
                break
            since = sample
        now = time.perf_counter() - watch.began
        return not last[3] and now - since.seen_s >= quiet_s

    return check


# -- memory per series ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryResult:
    """Two worker runs that differ only in the number of cells: peak RSS against series."""

    cells: tuple[int, int]
    series: tuple[int, int]
    peak_rss_mib: tuple[float, float]
    #: Encoded state held by the tables at the end of each run.
    state_mib: tuple[float, float]

    @property
    def per_10k_series_mib(self) -> float | None:
        """Extra peak RSS per 10,000 extra series (None when the second run has no more series)."""
        extra = self.series[1] - self.series[0]
        return (self.peak_rss_mib[1] - self.peak_rss_mib[0]) / extra * 10_000 if extra > 0 else None


# -- the whole run ----------------------------------------------------------------------------------------


def say(message: str) -> None:
    """Progress on stderr (the results go to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """CPU count and model, Python version."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version()}


def run_one(stack: Stack, scratch: Path, options: Options, cells: int) -> tuple[Config, Path, Produced]:
    """Write a config with fresh topic names and fill its input topics."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    path = write_config(stack, scratch, prefix, options.idle_timeout_s)
    config = load_config(path)
    say(f"producing {options.events:,} events ({cells} cells per region) to {stack.broker} topics {prefix}.*")
    produced = asyncio.run(produce(config, options.events, options.rate, cells, scratch / f"{prefix}-truth"))
    say(f"produced {produced.events:,} events in {produced.wall_s:.1f} s")
    return config, path, produced


def run_bench(options: Options, scratch: Path) -> dict[str, Any]:
    """Start the stack, run every measurement, stop the stack; return the results."""
    base_cells = TopologySettings().cells_per_region
    with running_stack(options.broker, scratch / "home") as stack:
        config, path, produced = run_one(stack, scratch, options, base_cells)
        say("(a) bare aiokafka loop, before the worker")
        bare = asyncio.run(bare_loop(config, produced.events))
        say("(b) streams worker")
        worker = run_worker(path, stack, scratch, produced.events, options)
        say("(a) bare aiokafka loop again, after the worker")
        bare_after = asyncio.run(bare_loop(config, produced.events))
        memory = None
        if options.memory_cells:
            _, big_path, big = run_one(stack, scratch, options, options.memory_cells)
            say(f"memory run: streams worker on {big.cells:,} cells")
            big_worker = run_worker(big_path, stack, scratch, big.events, options)
            memory = MemoryResult(
                (produced.cells, big.cells),
                (worker.series, big_worker.series),
                (worker.peak_rss_mib, big_worker.peak_rss_mib),
                (worker.state_mib, big_worker.state_mib),
            )
    bare_runs = [bare.steady, bare_after.steady]
    bare_steady = statistics.fmean(bare_runs)
    bare_end_to_end = statistics.fmean([bare.end_to_end, bare_after.end_to_end])
    return {
        "broker": options.broker,
        "machine": machine(),
        "options": asdict(options),
        "produced": asdict(produced) | {"events_per_s": produced.events / produced.wall_s},
        # The bare loop's rates are the mean of a run before and one after the worker (a drift of the machine
        # during the bench shows as a difference between the two instead of moving the ratio).
        "bare": asdict(bare) | {"end_to_end": bare_end_to_end, "steady": bare_steady, "steady_runs": bare_runs},
        "worker": asdict(worker) | {"end_to_end": worker.end_to_end},
        "ratio_steady": worker.steady / bare_steady if worker.steady else None,
        "ratio_end_to_end": worker.end_to_end / bare_end_to_end,
        "memory": None if memory is None else asdict(memory) | {"per_10k_series_mib": memory.per_10k_series_mib},
    }


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _header(r: dict[str, Any]) -> list[str]:
    m, p = r["machine"], r["produced"]
    return [
        f"streams worker benchmark: broker {r['broker']}, {p['events']:,} events ({p['bad']:,} bad), "
        f"{PARTITIONS} partitions per input topic",
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']}",
        f"input: simulator -> {r['broker']} at {_rate(p['events_per_s'])} events/s ({p['cells']:,} cells)",
        "",
    ]


def _rates_table(r: dict[str, Any]) -> list[str]:
    bare, w = r["bare"], r["worker"]
    rows = [
        ("events/s", "end to end", "steady", "per CPU-s"),
        ("(a) bare aiokafka loop + msgspec decode", _rate(bare["end_to_end"]), _rate(bare["steady"]), ""),
        ("(b) telewatch streams worker", _rate(w["end_to_end"]), _rate(w["steady"]), _rate(w["per_cpu_s"])),
        (
            "ratio b/a",
            f"{r['ratio_end_to_end']:.2f}",
            "n/a" if r["ratio_steady"] is None else f"{r['ratio_steady']:.2f}",
            "",
        ),
    ]
    return [f"  {name:<42}{a:>12}{b:>12}{c:>12}".rstrip() for name, a, b, c in rows] + [""]


def _details(r: dict[str, Any]) -> list[str]:
    bare, w = r["bare"], r["worker"]
    shares = (
        "n/a"
        if w["cpu_shares"] is None
        else "worker {:.0%} of a core, broker {:.0%}, all else {:.0%}".format(*w["cpu_shares"])
    )
    return [
        f"  bare loop: steady {_rate(bare['steady_runs'][0])} events/s before the worker, "
        f"{_rate(bare['steady_runs'][1])} after (the table shows their mean); first run: first records "
        f"{bare['startup_s']:.1f} s after its start (group join), all read at {bare['total_s']:.1f} s; "
        f"{bare['undecodable']:,} records were not JSON",
        f"  worker: first status {w['first_status_s']:.1f} s after the process start (imports, group join, table "
        f"recovery; {w['first_status_events']:,} events already read), all read at {w['total_s']:.1f} s",
        f"  CPU while streaming: {shares}; worker CPU until all read {w['cpu_s']:.1f} s (start-up included)",
        f"  worker output: {w['points']:,} points, {w['series']:,} series, {w['windows']:,} windows, "
        f"{w['dead_letters']:,} dead letters ({w['late']:,} late), {w['duplicates']:,} duplicates, "
        f"{w['influxdb_written'] or 0:,} lines written to InfluxDB",
        f"  outputs final {w['drain_s']:.1f} s after the last event was read "
        f"(streams.idle_timeout_s {r['options']['idle_timeout_s']})",
        f"  worker peak RSS (VmHWM): {w['peak_rss_mib']:,.0f} MiB (RSS at the end {w['final_rss_mib']:,.0f} MiB; "
        f"encoded state held by its tables {w['state_mib']:,.0f} MiB)",
    ]


def _memory(r: dict[str, Any]) -> list[str]:
    mem = r["memory"]
    if mem is None:
        return []
    per = "n/a" if mem["per_10k_series_mib"] is None else f"{mem['per_10k_series_mib']:,.1f} MiB"
    (rss0, rss1), (series0, series1), (cells0, cells1) = mem["peak_rss_mib"], mem["series"], mem["cells"]
    state0, state1 = mem["state_mib"]
    return [
        f"  memory per 10,000 series: {per} (peak RSS {rss0:,.0f} -> {rss1:,.0f} MiB for {series0:,} -> "
        f"{series1:,} series: {cells0:,} -> {cells1:,} cells, same events and rate; encoded state held by the "
        f"tables {state0:,.0f} -> {state1:,.0f} MiB)"
    ]


def _targets(r: dict[str, Any]) -> list[str]:
    w = r["worker"]
    per_core = (w["steady"] or 0.0) >= 100_000
    half = (r["ratio_steady"] or 0.0) >= 0.5
    return [
        "",
        f"targets: >= 100,000 events/s per worker core: {'met' if per_core else 'NOT met'} "
        f"({_rate(w['steady'])}/s steady from one worker process, which uses one core at most (Python's GIL); "
        f"{_rate(w['per_cpu_s'])} per CPU-second; {_rate(w['end_to_end'])}/s counting its "
        f"{w['first_status_s']:.0f} s start-up); >= half the bare loop's rate (steady): {'met' if half else 'NOT met'}",
    ]


def report(r: dict[str, Any]) -> str:
    """The results as text."""
    return "\n".join(_header(r) + _rates_table(r) + _details(r) + _memory(r) + _targets(r))


def parse_args(argv: list[str] | None) -> tuple[Options, Path | None, bool]:
    """The options, where to write the JSON results (if anywhere), and whether to keep the scratch folder."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", choices=("tansu", "kafka"), default="tansu", help="Tansu or Apache Kafka")
    parser.add_argument("--events", type=int, default=1_000_000, help="input events to produce and read")
    parser.add_argument("--rate", type=float, default=3000.0, help="events per simulated second (simulator.rate)")
    parser.add_argument("--idle-timeout", type=int, default=2, help="streams.idle_timeout_s of the worker")
    parser.add_argument(
        "--memory-cells", type=int, default=400, help="cells per region of the memory run (default 25; 0: skip it)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="longest wait for a worker step, in seconds")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (configs, logs, stack home)")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    options = Options(args.broker, args.events, args.rate, args.idle_timeout, args.memory_cells, args.timeout)
    return options, args.out, args.keep


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmark in a temporary stack home, print (and save) the figures."""
    options, out, keep = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    try:
        results = run_bench(options, scratch)
    except BenchError as exc:
        raise SystemExit(f"[bench] failed: {exc}") from exc
    finally:
        if keep:
            say(f"kept the stack home, configs and worker logs in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(report(results))
    if out is not None:
        out.write_text(json.dumps(results, indent=2) + "\n")
        say(f"results written to {out}")


if __name__ == "__main__":
    main()

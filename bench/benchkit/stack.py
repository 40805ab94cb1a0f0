"""The local stack started by devstack's own classes and stopped by PID, and telewatch workers run as a user runs
them (``telewatch SUBCOMMAND -c CONFIG``), watched through their status files and stopped by PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from devstack.influxdb_server import InfluxDBServer
from devstack.kafka_server import KafkaServer
from devstack.kannel_server import KannelServer
from devstack.postgres_server import PostgresServer
from devstack.process import ManagedServer, free_ports, stop_process
from devstack.tansu import TansuServer

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Every port of the config's ``stack:`` section.
PORT_NAMES = (
    "tansu_port", "kafka_port", "kafka_controller_port", "influxdb_http_port", "influxdb_rpc_port",
    "kannel_admin_port", "kannel_smsbox_port", "kannel_sendsms_port", "kannel_smsc_port", "postgres_port",
)  # fmt: skip
T = TypeVar("T")


class BenchError(RuntimeError):
    """A step of a benchmark failed; the message says which and why."""


def say(message: str) -> None:
    """Progress on stderr (the results go to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def stop_on_sigterm() -> None:
    """Make SIGTERM end the run like Ctrl-C does, so the ``finally`` blocks stop every server and worker."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def machine() -> dict[str, Any]:
    """CPU count and model, Python version."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version()}


def install_cache() -> Path:
    """The shared download cache, as the tests find it (``TELEWATCH_CACHE`` or ``<repo>/.telewatch/cache``)."""
    return Path(os.environ.get("TELEWATCH_CACHE", REPO_ROOT / ".telewatch" / "cache"))


def memory_mib(pid: int, key: str) -> float | None:
    """A ``Vm*`` line of ``/proc/PID/status`` (``VmHWM``: peak resident set) in MiB; None once it has exited."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (``/proc/PID/stat``); None once it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time all processes of the machine have used (``/proc/stat``: all but idle and iowait)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def group_pids(leader: int) -> list[int]:
    """Every process in the process group ``leader`` leads (a server and its children)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == leader:
                found.append(int(stat.parent.name))
    return found


class CpuAccount:
    """The machine's CPU time against that of the bench's own processes over a span: what else ran meanwhile
    (this machine is shared; a busy one makes every figure slower)."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.machine = machine_cpu_seconds()
        self.own: dict[int, float] = {}

    def note(self, pids: Sequence[int]) -> None:
        """Count these processes' CPU time from now on (call at the start for processes already running)."""
        for pid in pids:
            self.own.setdefault(pid, cpu_seconds(pid) or 0.0)

    def shares(self, pids: Sequence[int]) -> dict[str, float]:
        """Cores used on average since the start: by the whole machine, by ``pids`` (the bench's), by the rest."""
        wall = max(time.monotonic() - self.began, 1e-9)
        machine = (machine_cpu_seconds() - self.machine) / wall
        ours = sum((cpu_seconds(pid) or self.own.get(pid, 0.0)) - self.own.get(pid, 0.0) for pid in set(pids)) / wall
        return {"seconds": wall, "machine": machine, "bench": ours, "others": max(0.0, machine - ours)}


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, min, p50, p95, p99, max and mean (linear interpolation between ranks; None for no values)."""
    if not values:
        return {"n": 0, "min": None, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        at = q * (len(ordered) - 1)
        low = int(at)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (at - low)

    return {
        "n": len(ordered), "min": ordered[0], "p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99),
        "max": ordered[-1], "mean": sum(ordered) / len(ordered),
    }  # fmt: skip


# -- the stack ---------------------------------------------------------------------------------------


@dataclass
class Stack:
    """The running servers (by role: broker, influxdb, kannel, postgres), their home and ports."""

    broker: str
    home: Path
    ports: dict[str, int]
    servers: dict[str, ManagedServer] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        """host:port of the broker."""
        return f"127.0.0.1:{self.ports['tansu_port' if self.broker == 'tansu' else 'kafka_port']}"

    @property
    def kannel(self) -> KannelServer:
        """The Kannel gateway with its fake SMS centre."""
        server = self.servers["kannel"]
        assert isinstance(server, KannelServer)
        return server

    def pids(self) -> list[int]:
        """Every process of every running server (a server's children too)."""
        return [pid for server in self.servers.values() if (leader := server.pid()) for pid in group_pids(leader)]

    def postgres_url(self) -> str | None:
        """The ledger database URL on the started PostgreSQL, if one was started."""
        server = self.servers.get("postgres")
        return server.url if isinstance(server, PostgresServer) else None

    def config_sections(self, topics: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``kafka``, ``influxdb`` and ``stack`` sections of a config for these servers."""
        kafka: dict[str, Any] = (
            {"mode": "embedded"}
            if self.broker == "tansu"
            else {"mode": "external", "bootstrap_servers": [self.bootstrap]}
        )
        if topics:
            kafka["topics"] = topics
        return {
            "kafka": kafka,
            "influxdb": {"mode": "embedded", "api": "v1", "database": "telewatch"},
            "stack": {"home": str(self.home), **self.ports},
        }


@contextlib.contextmanager
def running_stack(home: Path, broker: str, *, kannel: bool = True, postgres: bool = False) -> Iterator[Stack]:
    """Start the broker (Tansu or Apache Kafka), InfluxDB and optionally Kannel and PostgreSQL in ``home`` on free
    ports with devstack's classes; stop each one by PID on the way out (also on an error or Ctrl-C)."""
    home.mkdir(parents=True, exist_ok=True)
    cache = install_cache()
    if not (home / "cache").exists():
        (home / "cache").symlink_to(cache)
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    servers: dict[str, ManagedServer] = {
        "broker": TansuServer(home, port=ports["tansu_port"])
        if broker == "tansu"
        else KafkaServer(home, port=ports["kafka_port"], controller_port=ports["kafka_controller_port"], cache=cache),
        "influxdb": InfluxDBServer(
            home, http_port=ports["influxdb_http_port"], rpc_port=ports["influxdb_rpc_port"], cache=cache
        ),
    }
    if kannel:
        servers["kannel"] = KannelServer(
            home, admin_port=ports["kannel_admin_port"], smsbox_port=ports["kannel_smsbox_port"],
            sendsms_port=ports["kannel_sendsms_port"], smsc_port=ports["kannel_smsc_port"], cache=cache,
        )  # fmt: skip
    if postgres:
        servers["postgres"] = PostgresServer(home, port=ports["postgres_port"])
    started: list[ManagedServer] = []
    try:
        for server in servers.values():
            started.append(server)  # before start(): a Ctrl-C during the start still stops it
            began = time.perf_counter()
            server.start()
            say(f"{server.name} up on {server.endpoint} (pid {server.pid()}) in {time.perf_counter() - began:.1f} s")
        yield Stack(broker, home, ports, servers)
    finally:
        for server in reversed(started):
            if server.stop():
                say(f"stopped {server.name}")


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as a telewatch config file at ``path``."""
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


# -- workers -----------------------------------------------------------------------------------------


def telewatch_command() -> list[str]:
    """The ``telewatch`` console script of this environment (``.venv/bin/telewatch``)."""
    script = Path(sys.executable).with_name("telewatch")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "telewatch"]


@dataclass(frozen=True)
class Sample:
    """A status file a worker wrote, with the wall time (epoch seconds) the bench read it."""

    at: float
    status: dict[str, Any]


class WorkerRun:
    """``telewatch SUBCOMMAND -c CONFIG --status-file ...`` in its own session; its status read as it changes."""

    def __init__(self, subcommand: str, config: Path, workdir: Path, *, status_every_s: float = 0.1) -> None:
        self.name = subcommand
        self.status_file = workdir / f"{subcommand}.status.json"
        self.log = workdir / f"{subcommand}.log"
        self.status_file.unlink(missing_ok=True)
        command = [*telewatch_command(), subcommand, "-c", str(config), "--status-file", str(self.status_file)]
        command += ["--status-every", str(status_every_s), "--loglevel", "warning"]
        self.started_at = time.time()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.samples: list[Sample] = []
        self._last = b""

    def poll(self) -> dict[str, Any] | None:
        """Read the status file if it changed; the latest status (None before the first)."""
        with contextlib.suppress(OSError):
            body = self.status_file.read_bytes()
            if body != self._last:
                with contextlib.suppress(msgspec.DecodeError):
                    self.samples.append(Sample(time.time(), msgspec.json.decode(body)))
                    self._last = body
        return self.latest

    @property
    def latest(self) -> dict[str, Any] | None:
        """The last status read."""
        return self.samples[-1].status if self.samples else None

    def first(self, done: Callable[[dict[str, Any]], bool]) -> Sample | None:
        """The first status read for which ``done(status)``."""
        return next((s for s in self.samples if done(s.status)), None)

    def check(self) -> None:
        """Raise BenchError (with the log's tail) if the worker has exited."""
        if self.proc.poll() is not None:
            raise BenchError(f"the {self.name} worker exited with {self.proc.returncode}:\n{self.tail()}")

    def peak_rss_mib(self) -> float | None:
        """Its peak resident set (``VmHWM``) so far."""
        return memory_mib(self.proc.pid, "VmHWM")

    def cpu_s(self) -> float | None:
        """Its CPU time so far."""
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s, by the PID this bench started."""
        stop_process(self.proc)

    def tail(self, lines: int = 30) -> str:
        """The end of its log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


@contextlib.contextmanager
def workers_stopped() -> Iterator[list[WorkerRun]]:
    """Collects started workers and stops every one of them on the way out, also on an error or Ctrl-C."""
    started: list[WorkerRun] = []
    try:
        yield started
    finally:
        for worker in reversed(started):
            if worker.proc.poll() is None:
                worker.stop()
                say(f"stopped the {worker.name} worker (pid {worker.proc.pid})")


async def wait_for(
    probe: Callable[[], T | None], what: str, limit_s: float, workers: Sequence[WorkerRun] = (), every_s: float = 0.1
) -> T:
    """Poll ``probe()`` (and every worker's status) until it returns something; BenchError on a timeout or when a
    worker exits."""
    deadline = time.monotonic() + limit_s
    while True:
        for worker in workers:
            worker.poll()
            worker.check()
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            states = "; ".join(f"{w.name}: {w.latest}" for w in workers)
            raise BenchError(f"no {what} after {limit_s:.0f} s ({states or 'no workers'})")
        await asyncio.sleep(every_s)

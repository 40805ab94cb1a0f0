"""A local server process that the project starts, watches and stops by PID.

Every server of the local stack (Tansu, Apache Kafka, InfluxDB, Kannel) is a
subclass of :class:`ManagedServer`. A subclass says how to install its binaries,
how to write its configuration, which command runs it and how to tell that it
is ready; this module does the rest: spawning it in its own process group with
its output in a log file, recording its PID, waiting until it answers, and
stopping it (SIGTERM to the group, SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


class MissingDependency(RuntimeError):
    """A piece the server needs is not on this machine; the message says how to get it."""


class ServerFailed(RuntimeError):
    """The server did not start or did not become ready; the message quotes its log."""


@dataclass(frozen=True)
class ServerStatus:
    """What ``telewatch dev status`` shows for one server."""

    name: str
    running: bool
    pid: int | None
    endpoint: str
    log: Path


def port_is_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """Return True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """Stop a child process we started: SIGTERM, then SIGKILL after ``grace_s``; no-op once it has exited."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pid_alive(pid: int) -> bool:
    """Return True when a process with this PID exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class ManagedServer(ABC):
    """A server run from files under ``home/<name>``, started and stopped by PID."""

    name: str = "server"
    #: Seconds a start may take before it counts as failed.
    start_timeout: float = 60.0

    def __init__(self, home: Path) -> None:
        self.home = home
        self.dir = home / self.name
        self.pidfile = self.dir / "server.pid"
        self.logfile = self.dir / "server.log"

    # -- what a subclass provides -------------------------------------------------
    @abstractmethod
    def install(self) -> None:
        """Make sure the binaries exist; raise MissingDependency naming the fix if not."""

    @abstractmethod
    def prepare(self) -> None:
        """Write configuration and data folders (called before every start)."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the server in the foreground."""

    @abstractmethod
    def ready(self) -> bool:
        """Return True once the server answers requests."""

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Where clients reach the server, e.g. ``127.0.0.1:9092``."""

    @property
    @abstractmethod
    def ports(self) -> tuple[int, ...]:
        """Every TCP port the server listens on (all bound to 127.0.0.1)."""

    def environment(self) -> dict[str, str]:
        """Environment for the server process (default: ours)."""
        return dict(os.environ)

    # -- lifecycle ----------------------------------------------------------------
    def pid(self) -> int | None:
        """The PID of the running server, or None when it is not running."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(self) -> None:
        """Install, configure and spawn the server, then wait until it is ready.

        Idempotent: a server that already runs from this home is left alone.
        """
        if self.pid() is not None:
            return
        busy = [p for p in self.ports if port_is_open(p)]
        if busy:
            raise ServerFailed(
                f"{self.name}: port(s) {busy} on 127.0.0.1 are already in use by another "
                f"process; stop it or choose other ports in the `stack:` section of the config"
            )
        self.install()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.logfile.open("ab") as log:
            proc = subprocess.Popen(
                self.command(),
                cwd=self.dir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pidfile.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pidfile.unlink(missing_ok=True)
                raise ServerFailed(
                    f"{self.name} exited with code {proc.returncode} during start-up; "
                    f"last lines of {self.logfile}:\n{self.log_tail()}"
                )
            if self.ready():
                return
            time.sleep(0.1)
        self.stop()
        raise ServerFailed(
            f"{self.name} was not ready after {self.start_timeout:.0f} s; "
            f"last lines of {self.logfile}:\n{self.log_tail()}"
        )

    def stop(self, grace: float = 10.0) -> bool:
        """Stop the server by its PID (SIGTERM, then SIGKILL after ``grace`` s).

        Returns True when a running server was stopped.
        """
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and pid_alive(pid):
            _reap(pid)
            time.sleep(0.05)
        if pid_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        _reap(pid)
        self.pidfile.unlink(missing_ok=True)
        return True

    def status(self) -> ServerStatus:
        """Whether the server runs, with its PID, endpoint and log file."""
        pid = self.pid()
        return ServerStatus(self.name, pid is not None, pid, self.endpoint, self.logfile)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log."""
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The server leads its own session (start_new_session), so its children
    # (smsbox next to bearerbox, the JVM's helpers) share its process group.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    # A child of this process stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)

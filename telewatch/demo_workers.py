"""The demo's worker processes (``telewatch streams``, ``detect``, ``alerting``), started and stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from core.config_loader import ConfigError
from devstack.process import ManagedServer
from telewatch.config import DEFAULT_CONFIG, Config, load_config


class WorkerProcess(ManagedServer):
    """A ``telewatch`` worker command as a subprocess of the demo: PID, log and status file under ``<home>/demo``."""

    name = "worker"
    #: The ``telewatch`` subcommand that runs it.
    subcommand: ClassVar[str] = ""
    #: Prefix of its files: ``<stem>-worker.pid``, ``<stem>-worker.log``, ``<stem>-status.json``.
    stem: ClassVar[str] = ""
    start_timeout = 120.0
    #: Seconds a SIGTERM'd worker gets to flush its outputs before SIGKILL.
    stop_grace_s = 20.0

    def __init__(self, home: Path, config_path: Path) -> None:
        super().__init__(home)
        self.dir = home / "demo"
        self.pidfile = self.dir / f"{self.stem}-worker.pid"
        self.logfile = self.dir / f"{self.stem}-worker.log"
        self.status_file = self.dir / f"{self.stem}-status.json"
        self.config_path = config_path.resolve()

    def install(self) -> None:
        """Nothing to install: the worker is this project's own command line."""

    def prepare(self) -> None:
        self.status_file.unlink(missing_ok=True)

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "telewatch", self.subcommand, "-c", str(self.config_path),
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


class StreamsWorkerProcess(WorkerProcess):
    """``telewatch streams``: input events → metric points (metrics topic, InfluxDB)."""

    name = "streams worker"
    subcommand = "streams"
    stem = "streams"


class DetectorsWorkerProcess(WorkerProcess):
    """``telewatch detect``: metric points → anomalies (anomalies topic, InfluxDB)."""

    name = "detectors worker"
    subcommand = "detect"
    stem = "detectors"


class AlertingWorkerProcess(WorkerProcess):
    """``telewatch alerting``: anomalies → alerts in the ledger → SMS and IM messages; ``env`` adds its secrets."""

    name = "alerting worker"
    subcommand = "alerting"
    stem = "alerting"

    def __init__(self, home: Path, config_path: Path, env: Mapping[str, str]) -> None:
        super().__init__(home, config_path)
        self.env = dict(env)

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}


def worker_config_path(config: Config, given: Path | None) -> Path:
    """The config file for the workers: ``given``, the default file if ``config`` is its, else a copy.

    The copy (``<home>/demo/worker-config.yaml``, readable only by the user: it may hold InfluxDB credentials)
    is written from ``config`` itself, so the workers run with exactly the demo's settings.
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
    path = config.stack.home_path() / "demo" / "worker-config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# Written by `telewatch demo`: the config the demo runs with, for its workers.\n")
        yaml.safe_dump(data, out, sort_keys=False)
    if load_config(path) != config:
        raise RuntimeError(f"{path} does not reproduce the demo's config; pass the config file's path instead")
    return path


# -- InfluxQL ------------------------------------------------------------------------------------

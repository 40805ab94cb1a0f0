"""The `telewatch` command line as a user runs it: dev up/status/down, config check, clear failures."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import yaml

from devstack.process import pid_alive, port_is_open
from stack_config import write_test_config


def telewatch(*args: str, config: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "telewatch", *args]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def test_dev_up_status_down_by_pid(tmp_path: Path) -> None:
    config = write_test_config(tmp_path)
    stack = yaml.safe_load(config.read_text())["stack"]
    up = telewatch("dev", "up", "tansu", "influxdb", config=config)
    assert up.returncode == 0, up.stderr
    assert "tansu up" in up.stdout and "influxdb up" in up.stdout
    home = Path(stack["home"])
    pids = {name: int((home / name / "server.pid").read_text()) for name in ("tansu", "influxdb")}
    try:
        assert all(pid_alive(pid) for pid in pids.values())
        assert port_is_open(stack["tansu_port"]) and port_is_open(stack["influxdb_http_port"])
        status = telewatch("dev", "status", config=config)
        assert status.returncode == 0
        rows = {line.split()[1]: line for line in status.stdout.splitlines() if line.startswith("│ ")}
        assert "running" in rows["tansu"] and str(pids["tansu"]) in rows["tansu"]
        assert "running" in rows["influxdb"] and "stopped" in rows["kafka"]
        again = telewatch("dev", "up", "tansu", config=config)  # idempotent
        assert again.returncode == 0 and int((home / "tansu" / "server.pid").read_text()) == pids["tansu"]
    finally:
        down = telewatch("dev", "down", config=config)
    assert down.returncode == 0
    assert "tansu: stopped" in down.stdout and "kafka: was not running" in down.stdout
    assert not any(pid_alive(pid) for pid in pids.values())
    assert not port_is_open(stack["tansu_port"]) and not port_is_open(stack["influxdb_http_port"])


def test_dev_up_refuses_a_busy_port_and_names_it(tmp_path: Path) -> None:
    config = write_test_config(tmp_path)
    port = yaml.safe_load(config.read_text())["stack"]["tansu_port"]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = telewatch("dev", "up", "tansu", config=config)
    assert result.returncode == 1
    assert f"port(s) [{port}]" in result.stderr and "already in use" in result.stderr


def test_unknown_server_name_is_refused(tmp_path: Path) -> None:
    result = telewatch("dev", "up", "zookeeper", config=write_test_config(tmp_path))
    assert result.returncode == 1
    assert "unknown server(s) zookeeper; choose from tansu, kafka, influxdb, kannel" in result.stderr


def test_config_check_reports_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kafka:\n  topics:\n    sms:\n      partitions: -1\n")
    result = telewatch("config", "check", str(bad))
    assert result.returncode == 2
    assert f"{bad}:4: kafka.topics.sms.partitions: Input should be greater than or equal to 1" in result.stderr


def test_config_check_accepts_shipped_configs() -> None:
    root = Path(__file__).resolve().parents[1]
    for path in (root / "config").glob("*.yaml"):
        result = telewatch("config", "check", str(path))
        assert result.returncode == 0, result.stderr

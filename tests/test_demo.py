"""The demo as a user runs it: servers and a streams worker come up, metric series reach InfluxDB, Ctrl-C stops all."""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from devstack.influxdb_server import InfluxDBServer
from devstack.process import pid_alive, port_is_open
from stack_config import write_test_config
from telewatch.config import DEFAULT_CONFIG, load_config
from telewatch.demo import StreamsWorkerProcess, first_points_due, worker_config_path

#: Short windows, so a test run closes a few of them (the defaults are 60 s + 120 s lateness).
STREAMS: dict[str, object] = {"window_s": 5, "allowed_lateness_s": 2, "idle_timeout_s": 2}
SUMMARY = re.compile(
    r"streams [\d,]+ events/s \((?P<events>[\d,]+)\)  metric series (?P<series>[\d,]+)  points (?P<points>[\d,]+)"
    r"  dead letters (?P<dead>[\d,]+).*InfluxDB written (?P<written>[\d,]+) buffered [\d,]+"
    r"(?:.*InfluxQL count since [\d:]+ (?P<queryable>[\d,]+))?"
)
FINAL = re.compile(r"InfluxQL> (?P<query>.+)\n  (?P<answer>.+)\n")


def number(text: str | None) -> int:
    return int(text.replace(",", "")) if text else 0


def test_demo_writes_metric_series_to_influxdb_until_ctrl_c_and_stops_everything(tmp_path: Path) -> None:
    config = write_test_config(tmp_path, simulator={"rate": 500}, streams=STREAMS)
    stack = yaml.safe_load(config.read_text())["stack"]
    home = Path(stack["home"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "telewatch", "demo", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    summary: re.Match[str] | None = None
    deadline = time.monotonic() + 120
    try:
        # Until a summary shows metric points written and counted back with InfluxQL.
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            summary = SUMMARY.search(line)
            if summary and number(summary["queryable"]) > 0:
                break
        text = "".join(output)
        assert summary is not None and number(summary["queryable"]) > 0, text
        assert number(summary["events"]) > 0 and number(summary["series"]) > 0 and number(summary["written"]) > 0
        assert f"tansu on 127.0.0.1:{stack['tansu_port']}" in text
        assert "first metric points due about" in text and "window_s 5 s + allowed_lateness_s 2 s" in text
        assert "Press Ctrl-C to stop everything." in text
        # The worker runs the project's CLI with the demo's config (a copy: the demo was not told the path).
        worker_pid = int((home / "demo" / "streams-worker.pid").read_text())
        cmdline = Path(f"/proc/{worker_pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[1:5] == [b"-m", b"telewatch", b"streams", b"-c"], cmdline
        assert load_config(Path(cmdline[5].decode())) == load_config(config)
        pids = {name: int((home / name / "server.pid").read_text()) for name in ("tansu", "influxdb")}
        pids["streams worker"] = worker_pid
        assert all(pid_alive(pid) for pid in pids.values())
        status = json.loads((home / "demo" / "streams-status.json").read_text())
        assert status["points"] > 0 and status["series"] > 0 and status["influxdb"]["written"] > 0
        # The points are in InfluxDB, one series per `series` tag value, and the probe's measurement is gone.
        influx = InfluxDBServer(home, http_port=stack["influxdb_http_port"], rpc_port=stack["influxdb_rpc_port"])
        counted = influx.query("SELECT count(value) FROM telewatch_metric", db="telewatch")
        assert counted["results"][0]["series"][0]["values"][0][1] > 0
        tags = influx.query('SHOW TAG VALUES FROM telewatch_metric WITH KEY = "series"', db="telewatch")
        assert len(tags["results"][0]["series"][0]["values"]) > 0
        measurements = influx.query("SHOW MEASUREMENTS", db="telewatch")["results"][0]["series"][0]["values"]
        assert ["telewatch_metric"] in measurements and ["telewatch_ingest"] not in measurements
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
    text = "".join(output) + rest
    assert proc.returncode == 0, text
    assert f"stopped the streams worker (pid {worker_pid})" in text
    assert "stopped influxdb" in text and "stopped tansu" in text and text.rstrip().endswith("demo stopped.")
    assert not any(pid_alive(pid) for pid in pids.values())
    assert not port_is_open(stack["tansu_port"]) and not port_is_open(stack["influxdb_http_port"])
    truth_runs = [p for p in (home / "demo").iterdir() if p.is_dir()]
    assert len(truth_runs) == 1 and (truth_runs[0] / "summary.json").is_file()

    # The final report: the exact InfluxQL it ran, what it answered, and curl lines to repeat it.
    final = {m["query"]: m["answer"] for m in FINAL.finditer(text)}
    count_query = next(q for q in final if q.startswith("SELECT count(value) FROM telewatch_metric WHERE time >= "))
    series_query = next(q for q in final if q.startswith("SELECT last(value) FROM telewatch_metric"))
    sample_query = next(q for q in final if q.startswith('SELECT value, count FROM telewatch_metric WHERE "series" = '))
    points, series = number(final[count_query].split()[0]), number(final[series_query].split()[0])
    assert points >= number(summary["queryable"]) and series > 0, text
    assert re.search(r"  time=\S+, value=[\d.e-]+, count=\d+\n", text), text
    assert f'--data-urlencode db=telewatch --data-urlencode "q={count_query}"' in text
    assert f"curl -sG http://127.0.0.1:{stack['influxdb_http_port']}/query" in text
    # A user can repeat them: bring InfluxDB back as the report says and get the same answers.
    assert f"telewatch dev up influxdb -c {cmdline[5].decode()}" in text
    influx.start()
    try:
        again = influx.query(count_query, db="telewatch")["results"][0]["series"][0]["values"][0][1]
        assert again == points
        rows = influx.query(sample_query, db="telewatch")["results"][0]["series"][0]
        assert rows["columns"] == ["time", "value", "count"] and len(rows["values"]) > 0
    finally:
        influx.stop()


def test_the_worker_gets_the_config_file_or_an_exact_private_copy(tmp_path: Path) -> None:
    config_file = write_test_config(tmp_path, streams=STREAMS, influxdb={"username": "u", "password": "secret"})
    config = load_config(config_file)
    assert worker_config_path(config, config_file) == config_file.resolve()
    assert worker_config_path(load_config(DEFAULT_CONFIG), None) == DEFAULT_CONFIG
    copy = worker_config_path(config, None)
    assert copy == config.stack.home_path() / "demo" / "streams-config.yaml"
    assert load_config(copy) == config  # the password included, so the file is the user's only
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    worker = StreamsWorkerProcess(config.stack.home_path(), copy)
    assert worker.command()[1:] == [
        "-m", "telewatch", "streams", "-c", str(copy),
        "--status-file", str(config.stack.home_path() / "demo" / "streams-status.json"), "--loglevel", "warning",
    ]  # fmt: skip


def test_first_points_are_due_when_the_open_window_closes() -> None:
    config = load_config(DEFAULT_CONFIG)
    start = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC).timestamp()
    due = datetime.fromtimestamp(first_points_due(config, start), UTC)
    assert due == datetime(2026, 1, 1, 12, 3, 0, tzinfo=UTC)  # window 12:00–12:01, + 120 s allowed lateness

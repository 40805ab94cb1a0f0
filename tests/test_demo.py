"""The demo as a user runs it: servers come up, events flow into Kafka and back, Ctrl-C stops everything."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from devstack.process import pid_alive, port_is_open
from stack_config import write_test_config

REPORT = re.compile(r"read back and validated [\d,]+/s \((?P<seen>[\d,]+)\)")


def influx_query(port: int, query: str) -> dict[str, object]:
    params = urllib.parse.urlencode({"db": "telewatch", "q": query})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/query?{params}", timeout=5) as response:
        result: dict[str, object] = json.load(response)
        return result


def influx_seen(port: int) -> float:
    """Events the demo reported as seen, summed over topics, as written to InfluxDB (0 if none yet)."""
    answer = influx_query(
        port, "SELECT sum(seen) FROM (SELECT last(seen) AS seen FROM telewatch_ingest GROUP BY topic_role)"
    )
    series = answer["results"][0].get("series")  # type: ignore[index]
    return float(series[0]["values"][0][1]) if series else 0.0


def test_demo_runs_until_ctrl_c_and_stops_everything(tmp_path: Path) -> None:
    config = write_test_config(tmp_path, simulator={"rate": 500})
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
    seen = 0
    deadline = time.monotonic() + 120
    try:
        while seen == 0 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            match = REPORT.search(line)
            if match:
                seen = int(match.group("seen").replace(",", ""))
        text = "".join(output)
        assert seen > 0, text
        assert f"tansu on 127.0.0.1:{stack['tansu_port']}" in text
        assert "Press Ctrl-C to stop everything." in text
        pids = {name: int((home / name / "server.pid").read_text()) for name in ("tansu", "influxdb")}
        assert all(pid_alive(pid) for pid in pids.values())
        # The demo writes its counts to InfluxDB just after printing them: poll until they are there.
        written_seen = 0.0
        until = time.monotonic() + 30
        while written_seen == 0 and time.monotonic() < until:
            written_seen = influx_seen(stack["influxdb_http_port"])
            time.sleep(0.5)
        assert written_seen > 0
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    text = "".join(output) + rest
    assert proc.returncode == 0, text
    assert "stopped influxdb" in text and "stopped tansu" in text and text.rstrip().endswith("demo stopped.")
    assert not any(pid_alive(pid) for pid in pids.values())
    assert not port_is_open(stack["tansu_port"]) and not port_is_open(stack["influxdb_http_port"])
    truth_runs = list((home / "demo").iterdir())
    assert len(truth_runs) == 1 and (truth_runs[0] / "summary.json").is_file()

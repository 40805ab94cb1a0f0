"""The demo as a user runs it: servers and the workers come up, simulated history teaches the detectors,
an incident injected live is flagged as an anomaly on one of its series, metric series and anomalies reach
InfluxDB, the incident's owner is told by SMS (at the fake SMSC) and IM (at the local robot), the ack link in
the SMS acknowledges it and the console says so, Ctrl-C stops all.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import yaml
from rich.console import Console

from alerting.ledger import Ledger
from core.contracts import Anomaly, Evidence
from core.privacy import mask_msisdn
from dashboards.catalog import JSON_DIR
from dashboards.query_check import InfluxQuery, check_board, time_filter
from devstack.influxdb_server import InfluxDBServer
from devstack.kannel_server import KannelServer
from devstack.process import free_port, pid_alive, port_is_open
from simulator.records import IncidentRecord
from simulator.settings import FAULT_KINDS, SimulatorSettings
from stack_config import write_test_config
from telewatch.alerting_wiring import MissingSecret
from telewatch.config import DEFAULT_CONFIG, load_config
from telewatch.demo import DEMO_INCIDENTS, first_points_due, history_settings, live_settings
from telewatch.demo_alerting import DEMO_GROUP_WAIT, EXAMPLE_OWNERS, DemoAlerting
from telewatch.demo_messages import masked
from telewatch.demo_report import AnomalyWatcher, GroundTruth
from telewatch.demo_workers import DetectorsWorkerProcess, StreamsWorkerProcess, worker_config_path

#: Short windows, so a test run closes a few of them (the defaults are 60 s + 120 s lateness).
STREAMS: dict[str, object] = {"window_s": 5, "allowed_lateness_s": 2, "idle_timeout_s": 2}
CHANNEL = "106900001"
CELL = "north-c01"
#: A small network (busy series, few of them), no random incidents, and one SMS channel outage 10 s after going live.
SIMULATOR: dict[str, object] = {
    "rate": 500,
    "topology": {
        "regions": ["north", "south"],
        "cells_per_region": 4,
        "kpi_interval_s": 10,
        "sms_channels": [
            {"name": CHANNEL, "main_kind": "verification_code"},
            {"name": "106900002", "main_kind": "notification"},
        ],
    },
    "incidents": {
        "random": {"per_day": 0},
        "schedule": [
            {"kind": "sms_channel_outage", "start_offset_s": 10, "duration_s": 60, "channel": CHANNEL},
            # Later than the SMS outage, so that one is flagged first; its owner's escalation tells the duty lead.
            {"kind": "cell_outage", "start_offset_s": 30, "duration_s": 60, "cell_id": CELL},
        ],
    },
}
#: Detectors judge after 10 windows (50 s) here: the 3 minutes of history teach them.
DETECTORS: dict[str, object] = {"default": {"warmup_points": 10}}
#: The periodic status (plain lines: stdout is a pipe): its first line, then lines indented under the phase.
STATUS_LINE = re.compile(r"^(?:[\d:]{8} (?:history|live) | {9}\S)")
#: Counters in the status lines, each read from the latest line that shows it.
SUMMARY = {
    "events": re.compile(r"streams [\d,]+ ev/s \(([\d,]+)"),
    "series": re.compile(r"  series ([\d,]+)"),
    "written": re.compile(r"InfluxDB written ([\d,]+) buffered [\d,]+"),
    "judged": re.compile(r"detectors judged ([\d,]+) of [\d,]+ points"),
    "queryable": re.compile(r"influx ([\d,]+) since [\d:]{8}"),
}
ANOMALY_LINE = re.compile(
    r"^[\d:]{8} ANOMALY (?P<severity>\w+) (?P<series>\S+) window [\d:]{8} value \S+ vs expected \S+ .* "
    r"detector (?P<detector>\w+) fingerprint (?P<fingerprint>[0-9a-f]+) -> (?P<incident>inc-\d+) (?P<kind>\w+) "
    r"\(started [\d:]{8}\), flagged in its window (?P<windows>\d+)$"
)
FINAL = re.compile(r"InfluxQL> (?P<query>.+)\n  (?P<answer>.+)\n")
#: The SMS outage's owner in the example owners the demo runs with: its people and their phones.
EXAMPLE = yaml.safe_load(EXAMPLE_OWNERS.read_text())["alerting"]["owners"]
SMS_PEOPLE = {p: EXAMPLE["people"][p] for p in EXAMPLE["owners"]["sms"]["people"]}
LEAD = next(iter(SMS_PEOPLE.values()))
ACK_LINK = re.compile(rf"^  ack link for {LEAD['name']}: (?P<url>http://127\.0\.0\.1:\d+/a/\S+)$")
IM_LINE = re.compile(r"^[\d:]{8} IM to (?P<robot>\S+) \((?P<vendor>\w+) robot")
COMMENT = "switching to the backup SMSC, call 13812345678"
ACK_LINE = re.compile(
    rf"^alert (?P<id>\d+) acknowledged by {LEAD['name']} via sms_link at [\d:]{{8}} \((?P<comment>.*)\)$"
)


def number(text: str | None) -> int:
    return int(text.replace(",", "")) if text else 0


async def acknowledge(url: str, comment: str) -> tuple[str, int, str]:
    """Open an ack link as a phone's browser does: GET the page, then POST its form (same origin)."""
    origin = url.split("/a/", 1)[0]
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as page:
            shown = await page.text()
            assert page.status == 200, shown
        form = {"action": "ack", "comment": comment}
        headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        async with session.post(url, data=form, headers=headers) as answer:
            return shown, answer.status, await answer.text()


def test_demo_flags_an_injected_incident_tells_its_owner_writes_to_influxdb_and_stops_everything(
    tmp_path: Path,
) -> None:
    api_port = free_port()
    config = write_test_config(
        tmp_path, simulator=SIMULATOR, streams=STREAMS, detectors=DETECTORS, alerting={"api": {"port": api_port}}
    )
    stack = yaml.safe_load(config.read_text())["stack"]
    home = Path(stack["home"])
    kannel = KannelServer(
        home, admin_port=stack["kannel_admin_port"], sendsms_port=stack["kannel_sendsms_port"],
        smsc_port=stack["kannel_smsc_port"], smsbox_port=stack["kannel_smsbox_port"],
    )  # fmt: skip
    phones = {person["phone"] for person in SMS_PEOPLE.values()}

    def inbox() -> list[dict[str, Any]]:
        lines = (home / "demo" / "im-robots.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "telewatch", "demo", "--config", str(config), "--history", "3m"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    summary: dict[str, str] = {}
    flagged: re.Match[str] | None = None
    link: re.Match[str] | None = None
    robots: list[str] = []
    deadline = time.monotonic() + 210

    def read_until(done: Callable[[], bool]) -> None:
        nonlocal flagged, link
        while time.monotonic() < deadline and not done():
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            output.append(line)
            if STATUS_LINE.match(line):
                assert len(line.rstrip("\n")) < 200 and "\x1b" not in line, line
                summary.update({name: m[1] for name, pattern in SUMMARY.items() if (m := pattern.search(line))})
            flagged = flagged or ANOMALY_LINE.match(line.rstrip("\n"))
            link = link or ACK_LINK.match(line.rstrip("\n"))
            if told := IM_LINE.match(line):
                robots.append(told["robot"])

    try:
        # Until a summary shows points counted back with InfluxQL, the injected incident is flagged, and its
        # owner's lead got the SMS with the ack link and its IM group the robot's message.
        read_until(lambda: bool(flagged and number(summary.get("queryable")) > 0 and link and robots))
        text = "".join(output)
        assert number(summary.get("queryable")) > 0, text
        assert flagged is not None, text
        assert link is not None and robots.count("sms-centre") == 1, text
        # One SMS at the fake SMSC for each of the owner's people, the lead's with the link the console printed;
        # nobody else is told of this channel (no escalation step tells anyone before its first wait).
        sms = [m for m in kannel.received_messages() if f"channel={CHANNEL}" in m.text]
        assert sorted(m.receiver for m in sms) == sorted(phones), [mask_msisdn(m.receiver) for m in sms]
        lead_sms = next(m for m in sms if m.receiver == LEAD["phone"])
        assert link["url"] in lead_sms.text and lead_sms.text.startswith("[") and "短信送达" in lead_sms.text
        assert f"SMS to {LEAD['name']} {mask_msisdn(LEAD['phone'])} at the fake SMSC" in text
        # One message at the owner's IM robot (WeCom), @-mentioning the owner's people; no phone on the console.
        [im] = [m for m in inbox() if m["robot"] == "sms-centre"]
        assert (im["vendor"], im["robot"]) == ("wecom", "sms-centre") and set(im["mentions"]) == phones
        assert f"channel={CHANNEL}" in str(im["text"])
        assert not any(phone in text for phone in phones) and mask_msisdn(LEAD["phone"]) in text
        # The lead opens the link and acknowledges with a comment: the console says so, the IM group is told.
        page, status, answer = asyncio.run(acknowledge(link["url"], COMMENT))
        # The link opens the first of the outage's alerts the SMS tells of: its delivery rate or its latency.
        assert re.search("短信送达(率|时延)", page) and 'name="action" value="ack"' in page
        assert status == 200 and "已确认" in answer and LEAD["name"] in answer, answer
        acked: list[re.Match[str]] = []

        def acknowledged() -> bool:
            acked[:] = [m for line in output if (m := ACK_LINE.match(line.rstrip("\n")))]
            return bool(acked) and robots.count("sms-centre") == 2

        read_until(acknowledged)
        text = "".join(output)
        assert robots.count("sms-centre") == 2, text
        # The link's alert, then the other alerts the same grouped SMS told of (acknowledged with it).
        assert acked[0]["comment"] == masked(COMMENT) == "switching to the backup SMSC, call 138****5678"
        assert all(
            m["comment"] == f"acknowledged with alert {acked[0]['id']}: {acked[0]['comment']}" for m in acked[1:]
        )
        group_inbox = [m for m in inbox() if m["robot"] == "sms-centre"]
        assert f"\n{LEAD['name']} 已处理：" in str(group_inbox[1]["text"])
        assert all(number(summary.get(name)) > 0 for name in ("events", "series", "written", "judged")), summary
        assert f"tansu on 127.0.0.1:{stack['tansu_port']}" in text
        assert "a window closes window_s 5 s + allowed_lateness_s 2 s after it opens" in text
        assert "detectors judge a series once they have learned warmup_points 10 of its windows (50s)" in text
        assert "Press Ctrl-C to stop everything." in text
        # The history was replayed at full speed first, then the config's incident was scheduled live.
        assert re.search(r"replaying the last 3m of simulated history .* at full speed", text), text
        assert re.search(r"  done: [\d,]+ events in [\d.]+ s", text), text
        assert "incidents scheduled from the config" in text
        assert f"  sms_channel_outage on channel {CHANNEL} at " in text
        assert re.search(rf"INCIDENT inc-0001 sms_channel_outage \(channel={CHANNEL}\) started", text), text
        # The workers run the project's CLI with the demo's config: a copy, with the example's owners, their
        # robots at the local server, the demo's short group wait, its own ledger and the API's address in links.
        cmdlines = {}
        for stem, command in (("streams", b"streams"), ("detectors", b"detect"), ("alerting", b"alerting")):
            pid = int((home / "demo" / f"{stem}-worker.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert cmdline[1:5] == [b"-m", b"telewatch", command, b"-c"], cmdline
            cmdlines[stem] = (pid, cmdline)
        demo_config = load_config(Path(cmdlines["alerting"][1][5].decode()))
        assert {Path(c[5].decode()) for _, c in cmdlines.values()} == {home.absolute() / "demo" / "worker-config.yaml"}
        assert demo_config.model_copy(update={"alerting": load_config(config).alerting}) == load_config(config)
        settings = demo_config.alerting
        assert (
            set(settings.owners.owners) == set(EXAMPLE["owners"])
            and settings.owners.people["li.wei"].phone == LEAD["phone"]
        )
        [robot_url] = {g.url for g in settings.owners.im_groups.values()}
        assert str(robot_url).startswith("http://127.0.0.1:") and not link["url"].startswith(str(robot_url))
        assert settings.route is not None and settings.route.group_wait == DEMO_GROUP_WAIT
        assert settings.api.public_url == f"http://127.0.0.1:{api_port}" and link["url"].startswith(
            settings.api.public_url
        )
        assert settings.ledger_url == f"sqlite:///{home.absolute() / 'demo' / 'ledger.db'}"
        pids = {name: int((home / name / "server.pid").read_text()) for name in ("tansu", "influxdb", "kannel")}
        pids |= {f"{stem} worker": pid for stem, (pid, _) in cmdlines.items()}
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
        # The acknowledgement and the cell outage's first escalation step reach InfluxDB too (the alerting
        # dashboard's time to acknowledge and escalations).
        for measured in ('"telewatch_alert" WHERE "status" = \'acknowledged\'', '"telewatch_escalation"'):
            until = time.monotonic() + 120
            query = f'SELECT count("alert_id") FROM {measured}'
            while not influx.query(query, db="telewatch")["results"][0].get("series") and time.monotonic() < until:
                time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
    elapsed = time.monotonic() - began
    text = "".join(output) + rest
    assert proc.returncode == 0, text
    for name in ("streams worker", "detectors worker", "alerting worker"):
        assert f"stopped the {name} (pid {pids[name]})" in text
    assert "stopped the alerting API" in text and "stopped kannel" in text
    assert "stopped influxdb" in text and "stopped tansu" in text and text.rstrip().endswith("demo stopped.")
    assert not any(pid_alive(pid) for pid in pids.values())
    ports = ("tansu_port", "influxdb_http_port", "kannel_sendsms_port", "kannel_admin_port")
    assert not any(port_is_open(stack[port]) for port in ports) and not port_is_open(api_port)

    # The ledger has the acknowledgement, in the lead's name, through the link; the summary counts it.
    ledger = Ledger.open(f"sqlite:///{home / 'demo' / 'ledger.db'}")
    try:
        alert = ledger.alert(int(acked[0]["id"]))
        entry = ledger.history(alert.id)[-1]
    finally:
        ledger.close()
    assert alert.status == "acknowledged"
    assert alert.labels["metric"] in ("sms_delivery_success_rate", "sms_delivery_latency_p95")
    assert (entry.by, entry.via, entry.comment) == ("li.wei", "sms_link", masked(COMMENT))
    told_line = re.search(
        r"^alerting: (\d+) alerts opened, [1-9]\d* acknowledged by people; "
        r"messages sent: im (\d+)(?: \(\d+ pending\))?, sms (\d+)(?: \(\d+ pending\))?;",
        text,
        re.M,
    )
    assert told_line is not None and int(told_line[1]) >= 1 and int(told_line[2]) >= 2 and int(told_line[3]) >= 2, text
    assert f"  {LEAD['name']}: {link['url']}" in text.split("ack links (open one in a browser", 1)[1]
    truth_runs = [p for p in (home / "demo").iterdir() if p.is_dir()]
    assert len(truth_runs) == 1 and (truth_runs[0] / "summary.json").is_file()

    # The history's ground truth: no incidents, no bad events. The live part's: the scheduled outage.
    history = json.loads((truth_runs[0] / "history" / "summary.json").read_text())
    assert sum(history["incidents"].values()) == 0 and sum(history["faults"].values()) == 0
    assert history["settings"]["speed"] == "max" and history["events"]["sms"] > 0
    lines = (truth_runs[0] / "incidents.jsonl").read_bytes().splitlines()
    incidents = [msgspec.json.decode(line, type=IncidentRecord) for line in lines]
    assert [(i.id, i.kind, i.scope) for i in incidents] == [
        ("inc-0001", "sms_channel_outage", {"channel": CHANNEL}),
        ("inc-0002", "cell_outage", {"region": "north", "cell_id": CELL}),
    ]
    incident = incidents[0]
    assert incident.start == datetime.fromisoformat(history["sim_end"]) + timedelta(seconds=10)

    # The anomaly the demo printed is on one of the incident's series, flagged within a few windows of its start.
    assert flagged["incident"] == "inc-0001" and flagged["kind"] == "sms_channel_outage"
    assert flagged["series"] in incident.series, (flagged["series"], incident.series)
    assert 1 <= int(flagged["windows"]) <= 4, flagged.group(0)
    # The default detector: seasonal for the delivery rate (a ratio), auto's own baseline for the p95 latency.
    assert flagged["detector"] in ("seasonal", "auto"), flagged[0]
    assert flagged["severity"] in ("warning", "major", "critical"), flagged[0]
    # One line per episode: a fingerprint is printed once however many windows it stays flagged.
    fingerprints = [m["fingerprint"] for m in map(ANOMALY_LINE.match, text.splitlines()) if m]
    assert len(fingerprints) == len(set(fingerprints)), text
    row = re.search(
        rf"  inc-0001 +sms_channel_outage +channel={CHANNEL} .* yes \((\d+) of (\d+) series\) +(\d+) ", text
    )
    assert row is not None and int(row[1]) >= 1 and int(row[2]) == len(incident.series), text
    detectors = json.loads((home / "demo" / "detectors-status.json").read_text())
    assert detectors["judged"] > 0 and detectors["anomalies"] > 0 and detectors["reload_error"] is None

    # The final report: the exact InfluxQL it ran, what it answered, and curl lines to repeat it.
    final = {m["query"]: m["answer"] for m in FINAL.finditer(text)}
    count_query = next(q for q in final if q.startswith("SELECT count(value) FROM telewatch_metric WHERE time >= "))
    series_query = next(q for q in final if q.startswith("SELECT last(value) FROM telewatch_metric"))
    sample_query = next(q for q in final if q.startswith('SELECT value, count FROM telewatch_metric WHERE "series" = '))
    anomaly_query = next(q for q in final if q.startswith("SELECT count(score) FROM telewatch_anomaly WHERE time >= "))
    points, series = number(final[count_query].split()[0]), number(final[series_query].split()[0])
    anomalies = number(final[anomaly_query].split()[0])
    assert points >= number(summary.get("queryable")) and series > 0 and anomalies > 0, text
    assert re.search(r"  time=\S+, value=[\d.e-]+, count=\d+\n", text), text
    assert f'--data-urlencode db=telewatch --data-urlencode "q={count_query}"' in text
    assert f"curl -sG http://127.0.0.1:{stack['influxdb_http_port']}/query" in text
    # A user can repeat them: bring InfluxDB back as the report says and get the same answers.
    assert f"telewatch dev up influxdb -c {cmdlines['streams'][1][5].decode()}" in text
    influx.start()
    try:
        again = influx.query(count_query, db="telewatch")["results"][0]["series"][0]["values"][0][1]
        assert again == points
        rows = influx.query(sample_query, db="telewatch")["results"][0]["series"][0]
        assert rows["columns"] == ["time", "value", "count"] and len(rows["values"]) > 0
        assert influx.query(anomaly_query, db="telewatch")["results"][0]["series"][0]["values"][0][1] == anomalies
        flagged_series = influx.query(
            f"SELECT count(score) FROM telewatch_anomaly WHERE time >= '{incident.start:%Y-%m-%dT%H:%M:%SZ}' "
            f"AND channel = '{CHANNEL}' GROUP BY \"series\"",
            db="telewatch",
        )["results"][0]["series"]
        assert flagged["series"] in {s["tags"]["series"] for s in flagged_series}
        # What the NOC sees: every dashboard panel, queried as Grafana would, has data on the demo's data.
        run = InfluxQuery(f"http://127.0.0.1:{stack['influxdb_http_port']}", "telewatch")
        window = time_filter(datetime.now(UTC) - timedelta(seconds=elapsed + 600), datetime.now(UTC))
        boards = [json.loads(p.read_text()) for p in sorted(JSON_DIR.glob("*.json"))]
        findings = [f for board in boards for f in check_board(board, run, window, "10s")]
        assert len(boards) == 6 and len(findings) > 100
        empty = [f"{f.board} / {f.panel}: {f.problem}\n  {f.statement}" for f in findings if f.problem]
        assert not empty, "\n".join(empty)
    finally:
        influx.stop()
    print(f"demo test: {elapsed:.1f} s until stopped")


def test_the_workers_get_the_config_file_or_an_exact_private_copy(tmp_path: Path) -> None:
    config_file = write_test_config(tmp_path, streams=STREAMS, influxdb={"username": "u", "password": "secret"})
    config = load_config(config_file)
    assert worker_config_path(config, config_file) == config_file.resolve()
    assert worker_config_path(load_config(DEFAULT_CONFIG), None) == DEFAULT_CONFIG
    copy = worker_config_path(config, None)
    home = config.stack.home_path()
    assert copy == home / "demo" / "worker-config.yaml"
    assert load_config(copy) == config  # the password included, so the file is the user's only
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    streams, detectors = StreamsWorkerProcess(home, copy), DetectorsWorkerProcess(home, copy)
    assert streams.command()[1:] == [
        "-m", "telewatch", "streams", "-c", str(copy),
        "--status-file", str(home / "demo" / "streams-status.json"), "--loglevel", "warning",
    ]  # fmt: skip
    assert detectors.command()[1:] == [
        "-m", "telewatch", "detect", "-c", str(copy),
        "--status-file", str(home / "demo" / "detectors-status.json"), "--loglevel", "warning",
    ]  # fmt: skip
    assert (streams.pidfile.name, detectors.pidfile.name) == ("streams-worker.pid", "detectors-worker.pid")
    assert (streams.logfile.parent, detectors.logfile.name) == (home / "demo", "detectors-worker.log")


async def test_the_demo_runs_with_the_example_owners_unless_the_config_names_its_own(tmp_path: Path) -> None:
    path = write_test_config(tmp_path, streams=STREAMS, alerting={"api": {"port": 18123}, "ack_timeout": "10m"})
    config = load_config(path)
    demo = DemoAlerting(config, Console(file=io.StringIO()), environ={})
    assert demo.demo_owners and demo.generated_secret
    [(name, secret)] = demo.env.items()
    assert name == "TW_ACK_LINK_SECRET" and re.fullmatch(r"[0-9a-f]{64}", secret)
    try:
        ran = await demo.configure()
        assert demo.robot_url is not None and demo.robots is not None
        settings = ran.alerting
        assert ran.model_copy(update={"alerting": config.alerting}) == config  # the rest as the user wrote it
        assert settings.ack_timeout == "10m" and settings.api.public_url == "http://127.0.0.1:18123"
        assert settings.owners.model_dump(exclude={"im_groups"}) == load_config(
            EXAMPLE_OWNERS
        ).alerting.owners.model_dump(exclude={"im_groups"})
        assert {g.url for g in settings.owners.im_groups.values()} == {demo.robot_url}
        # Every IM group's variables are set for the alerting processes, to the keys the local robots expect.
        robots = {r.name: r for r in demo.robots.robots.values()}
        for group_name, group in settings.owners.im_groups.items():
            robot = robots[group_name]
            assert (robot.vendor, demo.env[group.token_env]) == (group.kind, robot.token)
            assert demo.env.get(group.secret_env or "") == robot.secret
        route = settings.route
        assert route is not None and route.group_wait == DEMO_GROUP_WAIT and route.group_interval is None
        assert [(r.receiver, r.matchers) for r in route.routes] == [
            (n, o.matchers) for n, o in settings.owners.owners.items()
        ]
        assert settings.ledger_url == f"sqlite:///{config.stack.home_path().absolute() / 'demo' / 'ledger.db'}"
        assert load_config(worker_config_path(ran, None)) == ran  # the workers' copy says the same
    finally:
        await demo.stop()
    # A config naming owners is used as it is; a secret from the environment is used, a short one refused.
    owned = load_config(EXAMPLE_OWNERS)
    given = DemoAlerting(owned, Console(file=io.StringIO()), environ={"TW_ACK_LINK_SECRET": "s" * 32})
    assert not given.demo_owners and given.env == {} and await given.configure() is owned
    with pytest.raises(MissingSecret, match="shorter than 32 bytes"):
        DemoAlerting(owned, Console(file=io.StringIO()), environ={"TW_ACK_LINK_SECRET": "short"})


def test_the_console_masks_phones_but_not_label_values_or_links() -> None:
    link = "http://127.0.0.1:18090/a/MXxhfDEyMzQ1Njc4OTAxMjM.vusT83VmF94sGcXNF6WUpA"
    text = f"短信送达率 channel=106900001 异常\n@8613800000001 @+34600000010 电话13812345678\n{link}"
    assert masked(text) == (f"短信送达率 channel=106900001 异常\n@86138****0001 @+346****0010 电话138****5678\n{link}")


def test_first_points_are_due_when_the_open_window_closes() -> None:
    config = load_config(DEFAULT_CONFIG)
    start = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC).timestamp()
    due = datetime.fromtimestamp(first_points_due(config, start), UTC)
    assert due == datetime(2026, 1, 1, 12, 3, 0, tzinfo=UTC)  # window 12:00–12:01, + 120 s allowed lateness


def test_the_history_is_clean_and_the_live_part_gets_the_demo_incidents_unless_the_config_has_its_own() -> None:
    settings = load_config(DEFAULT_CONFIG).simulator
    assert settings.incidents.random.per_day > 0 and not settings.incidents.schedule
    history = history_settings(settings)
    assert history.speed == "max" and history.rate == settings.rate and history.seed == settings.seed
    assert history.incidents.random.per_day == 0 and history.incidents.schedule == []
    assert all(history.faults.probabilities()[kind] == 0 for kind in FAULT_KINDS)
    assert history.topology == settings.topology and history.utc_offset_h == settings.utc_offset_h

    live = live_settings(settings)
    assert live.speed == settings.speed and live.faults == settings.faults
    assert live.incidents.random == settings.incidents.random  # random incidents stay as configured
    scheduled = [(i.kind, i.start_offset_s, i.duration_s) for i in live.incidents.schedule]
    assert scheduled == list(DEMO_INCIDENTS)
    channel, cell = live.incidents.schedule[0].channel, live.incidents.schedule[1].cell_id
    assert channel in {c.name for c in settings.topology.sms_channels}
    assert cell is not None and any(cell in settings.topology.cell_ids(r) for r in settings.topology.regions)
    assert live_settings(settings) == live  # the targets are the seed's, not chance's

    own = SimulatorSettings.model_validate(SIMULATOR)
    assert live_settings(own) is own


def anomaly(series: str, started: datetime, ts: datetime, fingerprint: str, detector: str = "seasonal") -> bytes:
    dims = dict(pair.split("=", 1) for pair in series.split("|")[1:])
    evidence = [Evidence(series=series, ts=ts, value=0.3, expected=0.97)]
    return msgspec.json.encode(
        Anomaly(
            fingerprint=fingerprint, series=series, metric=series.split("|")[0], dims=dims, ts=ts, started_at=started,
            value=0.3, expected=0.97, lower=0.94, upper=1.0, score=0.999, severity="critical", detector=detector,
            evidence=evidence,
        )
    )  # fmt: skip


def test_each_anomaly_episode_is_printed_once_with_the_incident_it_matches() -> None:
    t0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    truth = GroundTruth(window_s=60)
    outage_series = f"sms_delivery_success_rate|channel={CHANNEL}"
    truth.incidents.append(
        IncidentRecord(
            id="inc-0001", kind="sms_channel_outage", start=t0 + timedelta(seconds=30), end=t0 + timedelta(minutes=8),
            scope={"channel": CHANNEL}, series=[outage_series], params={}, source="schedule", description="outage",
        )
    )  # fmt: skip
    console = Console(file=io.StringIO(), record=True, width=400, color_system=None)
    # Fed by hand (its run() reads Kafka); anomalies of windows before t0 - 2 h are an earlier run's, before t0 history.
    watcher = AnomalyWatcher(load_config(DEFAULT_CONFIG), console, truth, t0.timestamp() - 7200, t0.timestamp())
    minute = timedelta(minutes=1)
    assert watcher.take(anomaly(outage_series, t0, t0 + minute, "aa")) is not None  # window 2 of the incident
    assert watcher.take(anomaly(outage_series, t0, t0 + 2 * minute, "aa")) is not None  # the same episode again
    other = f"sms_delivery_success_rate|channel={CHANNEL}|kind=notification"
    watcher.take(anomaly(other, t0 + minute, t0 + 2 * minute, "bb"))  # the target, but a series it does not list
    watcher.take(anomaly("call_drop_rate|region=north", t0 - 30 * minute, t0 - 29 * minute, "cc"))  # history
    earlier = t0 - timedelta(hours=3)  # an earlier run's, on a broker that kept it: not shown
    assert watcher.take(anomaly("call_drop_rate|region=north", earlier, earlier + minute, "dd")) is None
    lines = console.export_text().splitlines()
    assert len(lines) == 3 and watcher.episodes["aa"].windows == 2
    assert ANOMALY_LINE.match(lines[0]) and lines[0].endswith("-> inc-0001 sms_channel_outage (started 12:00:30), "
                                                             "flagged in its window 2"), lines[0]  # fmt: skip
    assert " value 0.3 vs expected 0.97 (band 0.94 to 1) detector seasonal fingerprint aa " in lines[0]
    assert lines[1].endswith(f"-> no injected incident lists this series (inc-0001 sms_channel_outage on "
                             f"channel={CHANNEL} was running)"), lines[1]  # fmt: skip
    assert lines[2].endswith("-> no injected incident (history)"), lines[2]

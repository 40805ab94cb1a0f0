"""The alerting benchmarks run as a user runs them (``./dev bench alert_storm|alert_latency``), at a tiny size, on
the real stack: their reports hold what docs/BENCHMARKS.md says they do, and the figures relate sanely (no message
without an alert, no stage before the one it follows, stages that add up). No wall-clock figure is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(name: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / f"{name}.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *args, "--json", str(out)],
        capture_output=True, text=True, timeout=240, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def test_alert_storm_tells_every_alert_once_grouped_and_inhibited(tmp_path: Path) -> None:
    # 4 regions x 5 cells, the first region also region-wide (it mutes its 5 cells), 5 SMS channels: 26 series.
    r = run_bench(
        "alert_storm", tmp_path, "--anomalies", "200", "--regions", "4", "--cells", "5", "--region-outages", "1",
        "--sms-series", "5", "--group-interval", "5s",
    )  # fmt: skip
    assert r["series"] == {"cell": 20, "region": 1, "sms": 5, "total": 26}
    assert r["produced"]["records"] == r["worker"]["read"] == 200
    assert r["worker"]["opened"] == r["alerts"]["total"] == 26
    assert r["alerts"]["by_scope"] == {"cell": 20, "region": 1, "channel": 5}
    groups = r["groups"]
    assert groups["total"] == 4 + 1  # [metric, region]: one per region, one for the SMS channels (no region)
    assert groups["muted_members"] == 5 and groups["told_members"] + groups["muted_members"] == 26
    rows = r["outbox"]["by_channel_state"]
    assert set(rows) <= {"sms/sent", "sms_digest/pending", "im/sent"}
    # Each group flush tells each person of the owner by SMS (calls: 2 people, SMS: 1) and its IM group once.
    assert rows["sms/sent"] + rows.get("sms_digest/pending", 0) == 4 * 2 + 1
    assert rows["im/sent"] == groups["total"]
    messages = r["messages"]
    assert messages["sms"] == rows["sms/sent"] == sum(messages["sms_by_phone"].values())
    assert 1 <= messages["im"] <= rows["im/sent"]  # an IM group's rows are coalesced
    assert messages["sms"] + messages["im"] <= r["alerts"]["total"]
    assert r["attempts"] == {"sent": rows["sms/sent"] + rows["im/sent"]}
    timing = r["timing"]
    assert 0 < timing["first_message_s"] <= timing["last_message_s"]
    assert r["worker"]["intake_steady"] > 0 and r["worker"]["peak_rss_mib"] > 0
    assert [run["records"] for run in r["bare"]["runs"]] == [200, 200]
    assert r["ledger_alone"]["opened"] == 26 and r["ledger_alone"]["flushes"] == groups["total"]
    assert r["trail"][-1][1:3] == [200, 26]
    assert r["cpu"]["machine"] >= r["cpu"]["others"] >= 0 and r["cpu"]["bench"] > 0


STAGES = {
    "window_close": ("to_window_end", "lateness"),
    "detection": (),
    "routing": ("intake", "group_wait"),
    "gateway": ("send", "smsc"),
}


def test_alert_latency_breaks_one_incident_down_by_stage(tmp_path: Path) -> None:
    # Short windows, so the incident is flagged and told within seconds of its start.
    r = run_bench(
        "alert_latency", tmp_path, "--incidents", "1", "--first-at", "3", "--duration", "30", "--window-s", "5",
        "--lateness-s", "2", "--group-wait", "1s",
    )  # fmt: skip
    assert r["config"] | {"rate": 0} == {
        "window_s": 5, "allowed_lateness_s": 2, "rate": 0, "group_wait": "1s", "warmup_points": 30,
        "poll_every": "1s",
    }  # fmt: skip
    [incident] = r["incidents"]
    assert incident["problem"] is None and incident["channel"] == "106900001"
    assert incident["series"].startswith("sms_delivery_") and "channel=106900001" in incident["series"]
    stages = incident["stages"]
    # The worker stamps an attempt when its event loop resumes after Kannel's answer, which may be a few ms after
    # fakesmsc logged the message: only that sub-stage may come out slightly negative.
    assert all(value >= 0 for name, value in stages.items() if name != "smsc"), stages
    assert stages["smsc"] > -0.5
    assert sum(stages[stage] for stage in STAGES) == pytest.approx(stages["total"])
    for stage, parts in STAGES.items():
        if parts:
            assert sum(stages[p] for p in parts) == pytest.approx(stages[stage])
    times = incident["times"]
    order = ["point_produced", "anomaly_produced", "alert_opened", "outbox_created", "attempt_sent"]
    assert [times[k] for k in order] == sorted(times[k] for k in order)
    assert times["arrived"] >= times["outbox_created"]
    assert times["window_end"] > incident["start"]
    assert abs(incident["sim_lag_s"]) <= 1.0
    summary = r["stages"]
    assert set(summary) == {"total", *STAGES, *(p for parts in STAGES.values() for p in parts)}
    assert summary["total"]["n"] == 1 and summary["total"]["p50"] == pytest.approx(stages["total"])
    assert r["phases"]["history_events"] > 0
    assert set(r["peak_rss_mib"]) == {"streams", "detect", "alerting"}
    assert r["cpu"]["machine"] >= r["cpu"]["others"] >= 0 and r["cpu"]["bench"] > 0

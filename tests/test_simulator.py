"""The labelled traffic simulator: determinism, realism, incidents matching their ground truth, labelled faults."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from pydantic import ValidationError

from core.contracts import INPUT_CONTRACTS, CallAttempt, Complaint, Event, KpiSample, SmsDelivery
from core.series import parse_series_key
from simulator import FileSink, IncidentRecord, Simulator, SimulatorSettings, Stats, Tick, run_simulation
from simulator.catalog import OUTAGE_SCENARIOS, ROLES
from simulator.planner import IncidentPlanner
from simulator.profile import TrafficProfile, billing_factor
from simulator.settings import FAULT_KINDS, INCIDENT_KINDS, IncidentSettings
from simulator.sinks import role_file
from simulator.topology import Topology
from streams.validation import EventDecoder, Rejection

WEDNESDAY = datetime(2026, 11, 18, 9, tzinfo=UTC)
QUIET = dict.fromkeys(FAULT_KINDS, 0.0)
NOISY = dict.fromkeys(FAULT_KINDS, 0.01)
CHANNELS = [
    {"name": "106900001", "main_kind": "verification_code"},
    {"name": "106900002", "main_kind": "billing_reminder"},
    {"name": "106900003", "main_kind": "notification"},
    {"name": "106900004", "main_kind": "marketing"},
]
DECODERS = {role: msgspec.json.Decoder(event_type) for role, event_type in INPUT_CONTRACTS.items()}


def small(**changes: Any) -> SimulatorSettings:
    """A small network (3 regions x 6 cells, 4 channels) at a low rate, no faults, no random incidents."""
    topology = {
        "regions": ["north", "south", "east"],
        "cells_per_region": 6,
        "kpi_interval_s": 60,
        "sms_channels": CHANNELS,
    }
    settings = {
        "rate": 10,
        "complaints_per_hour": 60,
        "tick_s": 5,
        "topology": topology,
        "incidents": {"random": {"per_day": 0}},
        "faults": QUIET,
    }
    return SimulatorSettings.model_validate({**settings, **changes})


def run(settings: SimulatorSettings, start: datetime, seconds: float) -> list[Tick]:
    return list(Simulator(settings, start).ticks(until=start + timedelta(seconds=seconds)))


def events(ticks: list[Tick], role: str) -> list[Any]:
    """The decoded events of one role (fault-free runs only)."""
    decoder = DECODERS[role]
    return [decoder.decode(p) for t in ticks for b in t.batches if b.role == role for p in b.payloads]


def count(ticks: list[Tick], role: str) -> int:
    return sum(len(b) for t in ticks for b in t.batches if b.role == role)


def within(record: IncidentRecord, ts: datetime, delay_s: float = 0.0) -> bool:
    return record.start + timedelta(seconds=delay_s) <= ts < record.end


def ratio(part: list[Any], test: Callable[[Any], bool]) -> float:
    assert part, "no events to compute a rate from"
    return sum(1 for e in part if test(e)) / len(part)


# --- determinism and files -------------------------------------------------------------------


def simulate_to(directory: Path, settings: SimulatorSettings, seconds: float = 600) -> Stats:
    return asyncio.run(run_simulation(settings, FileSink(directory), WEDNESDAY, seconds))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    schedule = [{"kind": "cell_outage", "start_offset_s": 120, "duration_s": 300}]
    settings = small(faults=NOISY, incidents={"random": {"per_day": 400}, "schedule": schedule})
    simulate_to(tmp_path / "a", settings)
    simulate_to(tmp_path / "b", settings)
    simulate_to(tmp_path / "c", settings.override(seed=43))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted([*(role_file(r) for r in ROLES), "incidents.jsonl", "faults.jsonl", "summary.json"])
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for name in (*(role_file(r) for r in ROLES), "faults.jsonl", "incidents.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes(), name


def test_file_sink_writes_payloads_truth_and_summary(tmp_path: Path) -> None:
    schedule = [{"kind": "sms_channel_outage", "start_offset_s": 60, "duration_s": 300}]
    settings = small(faults=NOISY, incidents={"random": {"per_day": 0}, "schedule": schedule})
    stats = simulate_to(tmp_path, settings)
    lines = {role: (tmp_path / role_file(role)).read_bytes().split(b"\n")[:-1] for role in ROLES}
    assert all(b"\n" not in line for role_lines in lines.values() for line in role_lines)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["events"] == {role: len(lines[role]) for role in ROLES} == stats.events
    assert summary["seed"] == 42 and summary["settings"]["rate"] == 10
    assert (summary["sim_start"], summary["sim_end"]) == ("2026-11-18T09:00:00Z", "2026-11-18T09:10:00Z")
    faults = [json.loads(line) for line in (tmp_path / "faults.jsonl").read_text().splitlines()]
    assert Counter(f["kind"] for f in faults) == {k: n for k, n in summary["faults"].items() if n}
    assert len(faults) > 100
    for fault in faults:  # each label points at the exact line it describes
        line = lines[fault["role"]][fault["seq"]]
        text = fault["payload"]
        assert line == (base64.b64decode(text[7:]) if text.startswith("base64:") else text.encode())
    incidents = [json.loads(line) for line in (tmp_path / "incidents.jsonl").read_text().splitlines()]
    assert [(i["id"], i["kind"], i["start"]) for i in incidents] == [
        ("inc-0001", "sms_channel_outage", "2026-11-18T09:01:00Z")
    ]
    assert summary["incidents"]["sms_channel_outage"] == 1


# --- realism ---------------------------------------------------------------------------------


def test_daily_cycle_and_weekend_in_call_volume() -> None:
    settings = small()
    night = count(run(settings, WEDNESDAY.replace(hour=3, minute=30), 3600), "calls")
    morning = count(run(settings, WEDNESDAY.replace(hour=10, minute=30), 3600), "calls")
    saturday = count(run(settings, datetime(2026, 11, 21, 10, 30, tzinfo=UTC), 3600), "calls")
    assert night * 5 < morning
    assert saturday < 0.85 * morning


def test_billing_reminders_follow_the_calendar() -> None:
    settings = small()

    def billing(day: int) -> int:
        sms = events(run(settings, datetime(2026, 11, day, 10, tzinfo=UTC), 1200), "sms")
        return sum(1 for e in sms if e.kind == "billing_reminder")

    first, fifth, fifteenth = billing(1), billing(5), billing(15)
    assert first > 1.8 * fifth and fifth > 3 * fifteenth and fifteenth > 50


def test_profiles_average_one_over_a_weekday() -> None:
    profile = TrafficProfile(utc_offset_h=0)
    day = WEDNESDAY.replace(hour=0).timestamp()
    minutes = [day + 60 * m for m in range(1440)]
    assert np.mean([profile.calls(t) for t in minutes]) == pytest.approx(1.0, rel=1e-3)
    assert np.mean([profile.complaints(t) for t in minutes]) == pytest.approx(1.0, rel=1e-3)
    sms = np.mean([profile.sms(t) for t in minutes], axis=0)
    assert sms == pytest.approx([1.0, billing_factor(18), 1.0, 1.0], rel=1e-3)
    assert np.mean([billing_factor(d) for d in range(1, 31)]) == pytest.approx(1.0)
    assert profile.calls(day + 4 * 3600) * 5 < profile.calls(day + 11 * 3600)


def test_events_are_realistic() -> None:
    ticks = run(small(), WEDNESDAY, 1800)
    calls: list[CallAttempt] = events(ticks, "calls")
    assert 0.97 < ratio(calls, lambda c: c.result != "failed") < 0.99
    answered = [c for c in calls if c.result in ("answered", "dropped")]
    assert 0.003 < ratio(answered, lambda c: c.result == "dropped") < 0.012
    setup = [c.setup_ms for c in calls if c.setup_ms is not None]
    assert 1000 < np.median(setup) < 3000
    assert all(c.setup_ms is None for c in calls if c.result == "failed")
    fast = np.median([c.setup_ms for c in calls if c.network in ("5G", "VoLTE") and c.setup_ms])
    assert fast < np.median([c.setup_ms for c in calls if c.network == "2G" and c.setup_ms])
    assert {c.cause_code for c in calls if c.result == "busy"} == {17}
    assert {c.cause_code for c in calls if c.result == "answered"} == {16}
    sms: list[SmsDelivery] = events(ticks, "sms")
    assert 0.95 < ratio(sms, lambda s: s.status == "delivered") < 0.99
    assert all(s.error_code for s in sms if s.status != "delivered")
    verification = np.median([s.latency_ms for s in sms if s.kind == "verification_code" and s.latency_ms])
    assert verification < np.median([s.latency_ms for s in sms if s.kind == "marketing" and s.latency_ms]) / 2
    kpis: list[KpiSample] = events(ticks, "kpi")
    assert len(kpis) == 18 * 4 * 30  # every cell, every KPI, every minute
    rrc = [k.value for k in kpis if k.kpi == "rrc_setup_success_rate"]
    assert 98 < np.mean(rrc) < 100
    complaints: list[Complaint] = events(ticks, "complaints")
    assert complaints and all(re.fullmatch(r"1\d{2}\*{4}\d{4}", c.subscriber) for c in complaints)
    assert all(c.scenario.startswith(c.category + ".") for c in complaints)
    for role, items in (("calls", calls), ("sms", sms), ("complaints", complaints)):
        ids = [e.event_id() for e in items]
        assert len(set(ids)) == len(ids), role
    for tick in ticks:
        for batch in tick.batches:
            stamps = [DECODERS[batch.role].decode(p).ts for p in batch.payloads]
            assert stamps == sorted(stamps) and all(tick.start <= ts < tick.end for ts in stamps)


def test_message_keys_per_role() -> None:
    ticks = run(small(), WEDNESDAY, 300)
    key_of: dict[str, Callable[[Any], str]] = {
        "calls": lambda e: e.cell_id,
        "sms": lambda e: e.channel,
        "kpi": lambda e: e.element,
        "complaints": lambda e: e.region,
    }
    for message in (m for t in ticks for m in t.messages()):
        event = DECODERS[message.role].decode(message.payload)
        assert message.key == key_of[message.role](event).encode()


# --- incidents -------------------------------------------------------------------------------

INCIDENT_START = 1800
SCHEDULE = [
    {"kind": "sms_channel_outage", "start_offset_s": INCIDENT_START, "duration_s": 1800, "channel": "106900003"},
    {"kind": "cell_outage", "start_offset_s": INCIDENT_START, "duration_s": 3600, "cell_id": "north-c02"},
    {"kind": "core_congestion", "start_offset_s": INCIDENT_START, "duration_s": 1800, "region": "south"},
    {
        "kind": "complaint_surge",
        "start_offset_s": INCIDENT_START,
        "duration_s": 3600,
        "region": "east",
        "scenario": "activation.sim_not_active",
    },
]


@pytest.fixture(scope="module")
def incident_run() -> tuple[dict[str, IncidentRecord], dict[str, list[Any]]]:
    ticks = run(small(incidents={"random": {"per_day": 0}, "schedule": SCHEDULE}), WEDNESDAY, 7200)
    truth: dict[str, IncidentRecord] = {r.kind: r for t in ticks for r in t.incidents}
    return truth, {role: events(ticks, role) for role in ROLES}


def test_sms_channel_outage_matches_truth(incident_run: tuple[dict[str, IncidentRecord], dict[str, list[Any]]]) -> None:
    truth, produced = incident_run
    outage = truth["sms_channel_outage"]
    assert outage.scope == {"channel": "106900003"}
    assert "sms_delivery_success_rate|channel=106900003" in outage.series
    for channel in ("106900001", "106900002", "106900003", "106900004"):
        sms = [s for s in produced["sms"] if s.channel == channel]
        during = [s for s in sms if within(outage, s.ts)]
        outside = [s for s in sms if not within(outage, s.ts)]
        delivered_during = ratio(during, lambda s: s.status == "delivered")
        delivered_outside = ratio(outside, lambda s: s.status == "delivered")
        assert delivered_outside > 0.93
        if channel == "106900003":
            assert 0.15 < delivered_during < 0.55
            p95 = [np.percentile([s.latency_ms for s in part if s.latency_ms], 95) for part in (during, outside)]
            assert p95[0] > 4 * p95[1]
        else:
            assert abs(delivered_during - delivered_outside) < 0.03


def test_cell_outage_matches_truth(incident_run: tuple[dict[str, IncidentRecord], dict[str, list[Any]]]) -> None:
    truth, produced = incident_run
    outage = truth["cell_outage"]
    assert outage.scope == {"region": "north", "cell_id": "north-c02"}
    assert "call_setup_success_rate|cell_id=north-c02|region=north" in outage.series
    assert "network_kpi|element=north-c02|kpi=rrc_setup_success_rate|region=north" in outage.series
    assert "complaint_count|category=network|region=north" in outage.series
    calls = [c for c in produced["calls"] if c.cell_id == "north-c02"]
    during = ratio([c for c in calls if within(outage, c.ts)], lambda c: c.result != "failed")
    outside = ratio([c for c in calls if not within(outage, c.ts)], lambda c: c.result != "failed")
    assert during < 0.7 < 0.95 < outside
    neighbours = [c for c in produced["calls"] if c.region == "north" and c.cell_id != "north-c02"]
    assert ratio([c for c in neighbours if within(outage, c.ts)], lambda c: c.result != "failed") > 0.95
    rrc = [k for k in produced["kpi"] if k.element == "north-c02" and k.kpi == "rrc_setup_success_rate"]
    assert max(k.value for k in rrc if within(outage, k.ts)) < min(k.value for k in rrc if not within(outage, k.ts))
    delay = outage.params["complaint_delay_s"]
    assert 180 <= delay <= 600
    rise = {}  # complaints per second in the outage scenarios: after the onset / before the outage
    for region in ("north", "south", "east"):
        network = [c for c in produced["complaints"] if c.region == region and c.scenario in OUTAGE_SCENARIOS]
        before = sum(1 for c in network if c.ts < outage.start) / INCIDENT_START
        rise[region] = sum(1 for c in network if within(outage, c.ts, delay)) / (3600 - delay) / before
    assert rise["north"] > 2.5 * max(rise["south"], rise["east"])


def test_core_congestion_matches_truth(incident_run: tuple[dict[str, IncidentRecord], dict[str, list[Any]]]) -> None:
    truth, produced = incident_run
    congestion = truth["core_congestion"]
    assert congestion.series[0] == "call_setup_time_p95|region=south"
    assert len(congestion.series) == 1 + 6
    for region, low, high in (("south", 1.8, 4.5), ("east", 0.85, 1.15)):
        calls = [c for c in produced["calls"] if c.region == region and c.setup_ms is not None]
        p95 = [
            np.percentile([c.setup_ms for c in calls if within(congestion, c.ts) == inside], 95)
            for inside in (True, False)
        ]
        assert low < p95[0] / p95[1] < high, region


def test_complaint_surge_matches_truth(incident_run: tuple[dict[str, IncidentRecord], dict[str, list[Any]]]) -> None:
    truth, produced = incident_run
    surge = truth["complaint_surge"]
    assert surge.scope == {"region": "east", "category": "activation", "scenario": "activation.sim_not_active"}
    assert surge.series == [
        "complaint_count|category=activation|region=east",
        "complaint_count|category=activation|region=east|scenario=activation.sim_not_active",
    ]
    per_group: Counter[tuple[str, str, bool]] = Counter(
        (c.region, c.scenario, within(surge, c.ts)) for c in produced["complaints"]
    )
    # the surge lasts 3600 s of the 7200 s run: inside and outside spans are equal
    assert (
        per_group[("east", "activation.sim_not_active", True)]
        > 5 * per_group[("east", "activation.sim_not_active", False)]
    )
    for region in ("north", "south", "east"):
        for scenario in ("activation.sim_not_active", "activation.plan_change_failed", "repair.not_fixed"):
            if (region, scenario) != ("east", "activation.sim_not_active"):
                assert per_group[(region, scenario, True)] < 2.5 * per_group[(region, scenario, False)] + 5


def test_slow_degradation_ramps() -> None:
    schedule = [{"kind": "slow_degradation", "start_offset_s": 0, "duration_s": 3600, "channel": "106900001"}]
    ticks = run(small(incidents={"random": {"per_day": 0}, "schedule": schedule}), WEDNESDAY, 3600)
    (record,) = (r for t in ticks for r in t.incidents)
    assert record.series == [
        "sms_delivery_success_rate|channel=106900001",
        "sms_delivery_success_rate|channel=106900001|kind=verification_code",
    ]
    sms = [s for s in events(ticks, "sms") if s.channel == "106900001"]
    quarters = [
        ratio(
            [s for s in sms if q * 900 <= (s.ts - WEDNESDAY).total_seconds() < (q + 1) * 900],
            lambda s: s.status == "delivered",
        )
        for q in range(4)
    ]
    assert quarters[0] > quarters[1] > quarters[2] > quarters[3]
    assert quarters[0] > 0.93 and quarters[3] < record.params["final_success_rate"] + 0.08


SERIES_DIMS = {
    "call_setup_success_rate": [{"region"}, {"region", "cell_id"}],
    "call_drop_rate": [{"region"}, {"region", "cell_id"}],
    "call_setup_time_p95": [{"region"}, {"region", "cell_id"}],
    "sms_delivery_success_rate": [{"channel"}, {"channel", "kind"}],
    "sms_delivery_latency_p95": [{"channel"}, {"channel", "kind"}],
    "network_kpi": [{"region", "element", "kpi"}],
    "complaint_count": [{"region", "category"}, {"region", "category", "scenario"}],
}


def target_of(record: IncidentRecord) -> tuple[str, ...]:
    scope = record.scope
    if "cell_id" in scope:
        return ("cell", scope["cell_id"])
    if "channel" in scope:
        return ("channel", scope["channel"])
    if "category" in scope:
        return ("complaints", scope["region"], scope["category"])
    return ("region", scope["region"])


def test_random_incidents_are_well_formed_and_do_not_overlap() -> None:
    settings = SimulatorSettings()
    topology = Topology.build(settings.topology, np.random.default_rng(1))
    incidents = IncidentSettings.model_validate({"random": {"per_day": 40}})
    start = WEDNESDAY.timestamp()
    planner = IncidentPlanner(incidents, topology, start, np.random.default_rng(2), lambda *_: 100.0)
    records = planner.begin(start + 7 * 86400)
    assert 200 < len(records) < 360  # Poisson around 40 a day for a week
    assert [r.id for r in records] == [f"inc-{i:04d}" for i in range(1, len(records) + 1)]
    assert {r.kind for r in records} == set(INCIDENT_KINDS)
    assert [r.start for r in records] == sorted(r.start for r in records)
    encoded = [json.loads(msgspec.json.encode(r)) for r in records]
    for record, line in zip(records, encoded, strict=True):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", line["start"])
        assert record.start < record.end and record.source == "random" and record.series and record.description
        for key in record.series:
            metric, dims = parse_series_key(key)
            assert set(dims) in SERIES_DIMS[metric], key
            for name in ("region", "cell_id", "channel", "category"):
                if name in dims and name in record.scope:
                    assert dims[name] == record.scope[name], key
            if "element" in dims:
                assert dims["element"] == record.scope["cell_id"]
    targets: dict[tuple[str, ...], list[IncidentRecord]] = {}
    for record in records:
        targets.setdefault(target_of(record), []).append(record)
    for same in targets.values():
        for a, b in itertools.pairwise(same):
            assert a.end <= b.start, (a, b)


# --- faults ----------------------------------------------------------------------------------


def test_faults_are_labelled_and_rejected_as_labelled() -> None:
    ticks = run(small(faults=NOISY), WEDNESDAY, 1800)
    validators = {role: EventDecoder(event_type) for role, event_type in INPUT_CONTRACTS.items()}
    seen: dict[str, set[str]] = {role: set() for role in ROLES}
    newest: dict[str, datetime] = {}
    kinds: Counter[tuple[str, str]] = Counter()
    for tick in ticks:
        now = tick.end.timestamp()
        for message in tick.messages():
            fault, role = message.fault, message.role
            verdict = validators[role].decode(message.payload, now=now)
            if fault is not None:
                kinds[(role, fault.kind)] += 1
                assert fault.produced_at == tick.end and fault.role == role
            if fault is not None and fault.reason is not None:
                assert isinstance(verdict, Rejection), fault
                assert (verdict.reason, verdict.field) == (fault.reason, fault.field), fault
                if fault.kind == "clock_skew":
                    event = DECODERS[role].decode(message.payload)
                    assert (event.ts - tick.end).total_seconds() >= 600
                continue
            assert isinstance(verdict, Event), (message, verdict)
            event_id = verdict.event_id()
            if fault is None:
                assert verdict.ts < tick.end
            elif fault.kind == "duplicate":
                assert event_id in seen[role] and event_id == fault.event_id
            elif fault.kind == "late":
                assert (tick.end - verdict.ts).total_seconds() >= 600
            elif fault.kind == "out_of_order":
                assert newest[role] > verdict.ts
            seen[role].add(event_id)
            newest[role] = max(newest.get(role, verdict.ts), verdict.ts)
    assert {kind for _, kind in kinds} == set(FAULT_KINDS)
    assert {role for role, _ in kinds} == set(ROLES)


# --- settings and the run loop ---------------------------------------------------------------


def scheduled(**incident: Any) -> dict[str, Any]:
    """Settings with one scheduled incident (start and duration defaulted)."""
    fields = {"start_offset_s": 0, "duration_s": 60, **incident}
    return {"incidents": {"schedule": [{k: v for k, v in fields.items() if v is not None}]}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rate": 1}, "leaves nothing for calls and SMS"),
        ({"speed": 0.0001}, "speed must be at least 0.001"),
        ({"faults": {"duplicate": 0.2}}, "less than or equal to 0.1"),
        ({"topology": {"regions": ["north", "north"]}}, "region names must be unique"),
        ({"topology": {"regions": ["north|x"]}}, "must be 1-64 letters"),
        (scheduled(kind="cell_outage", cell_id="x-c01"), "unknown cell"),
        (scheduled(kind="cell_outage", cell_id="north-c26"), "unknown cell"),
        (scheduled(kind="cell_outage", channel="106900001"), "takes no channel"),
        (scheduled(kind="complaint_surge", start_offset_s=None), "exactly one of start_offset_s"),
        (scheduled(kind="complaint_surge", category="repair", scenario="network.no_signal"), "belongs to category"),
        (scheduled(kind="complaint_surge", scenario="network.nope"), "unknown scenario"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_settings_are_validated(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        SimulatorSettings.model_validate(changes)


def test_settings_defaults_and_override() -> None:
    settings = SimulatorSettings()
    assert (settings.seed, settings.rate, settings.speed, settings.tick_s) == (42, 1000.0, 1.0, 1.0)
    assert len(settings.topology.regions) == 8 and len(settings.topology.sms_channels) == 10
    assert settings.override(speed="max").speed == "max"
    with pytest.raises(ValidationError):
        settings.override(tick_s=0)
    for name, field in SimulatorSettings.model_fields.items():
        assert field.description, name


def test_start_must_be_aware_and_not_after_scheduled_incidents() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        Simulator(small(), datetime(2026, 11, 18, 9))
    earlier = scheduled(kind="core_congestion", start_offset_s=None, start_at="2026-11-18T08:00:00Z")
    with pytest.raises(ValueError, match=re.escape("incidents.schedule[0] starts before the simulation start")):
        Simulator(small(**earlier), WEDNESDAY)
    later = scheduled(kind="core_congestion", start_offset_s=None, start_at="2026-11-18T10:00:00+01:00")
    (record,) = (r for t in run(small(**later), WEDNESDAY, 60) for r in t.incidents)
    assert record.start == WEDNESDAY


class _Recorder:
    """A paced sink that keeps what it gets and asks the run to stop after a few ticks."""

    paced = True

    def __init__(self, stop: asyncio.Event, ticks: int) -> None:
        self.stop = stop
        self.ticks = ticks
        self.written: list[Tick] = []
        self.summary: dict[str, Any] | None = None

    async def open(self) -> None:
        pass

    async def write(self, tick: Tick) -> None:
        self.written.append(tick)
        if len(self.written) == self.ticks:
            self.stop.set()

    async def flush(self) -> None:
        pass

    async def close(self, summary: dict[str, Any]) -> None:
        self.summary = summary


async def test_run_stops_when_asked_and_reports() -> None:
    stop = asyncio.Event()
    sink = _Recorder(stop, ticks=3)
    reports: list[int] = []
    settings = small(speed=500.0, tick_s=1.0)
    stats = await run_simulation(settings, sink, WEDNESDAY, None, lambda s: reports.append(s.total_events), stop)
    assert len(sink.written) == 3 and stats.sim_end == WEDNESDAY + timedelta(seconds=3)
    assert stats.total_events == sum(len(b) for t in sink.written for b in t.batches) == reports[-1] > 0
    assert sink.summary is not None and sink.summary["events"] == stats.events
    partial = await run_simulation(settings, _Recorder(asyncio.Event(), 0), WEDNESDAY, 2.5)
    assert partial.sim_end == WEDNESDAY + timedelta(seconds=2.5)


def test_a_complaint_surge_too_thin_to_observe_lists_no_series() -> None:
    settings = SimulatorSettings()
    topology = Topology.build(settings.topology, np.random.default_rng(1))
    incidents = IncidentSettings.model_validate({"random": {"per_day": 0}, "schedule": [
        {"kind": "complaint_surge", "start_offset_s": 0, "duration_s": 3600}]})  # fmt: skip
    start = WEDNESDAY.timestamp()
    for usual, listed in ((0.2, False), (50.0, True)):
        planner = IncidentPlanner(incidents, topology, start, np.random.default_rng(2), lambda *_, u=usual: u)
        [record] = planner.begin(start + 3600)
        assert bool(record.series) is listed, (usual, record.description)
        assert ("too few to observe" in record.description) is not listed

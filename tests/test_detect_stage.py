"""The detectors' stages without Kafka: anomalies with stable fingerprints, silence, correlation, replay, reconfiguration."""

from __future__ import annotations

import msgspec

from core.contracts import AnomaliesRecord, Anomaly, Evidence, Recovery
from core.metrics import default_metrics
from core.series import series_key
from detectors.correlate import CorrelateStage
from detectors.detect_stage import DetectStage
from detectors.settings import DetectorSettings
from fixtures.metric_points import START, WINDOW, traffic
from runtime.outbox import Outgoing


def anomalies(outbox: list[Outgoing]) -> list[Anomaly]:
    records = [msgspec.json.decode(o.value, type=AnomaliesRecord) for o in outbox if o.target == "anomalies"]
    return [r for r in records if isinstance(r, Anomaly)]


def recoveries(outbox: list[Outgoing]) -> list[Recovery]:
    records = [msgspec.json.decode(o.value, type=AnomaliesRecord) for o in outbox if o.target == "anomalies"]
    return [r for r in records if isinstance(r, Recovery)]


def test_an_outage_is_one_episode_with_a_stable_fingerprint_and_evidence() -> None:
    stage = DetectStage(DetectorSettings(), default_metrics())
    state = stage.new_state()
    stage.update(state, traffic(range(0, 120), outage=range(100, 110)))
    found = anomalies(state.outbox)
    assert found, "a 38-point drop in setup success must be flagged"
    assert {a.fingerprint for a in found} == {found[0].fingerprint}, "one episode, one fingerprint"
    first = found[0]
    assert first.ts == START + 101 * WINDOW, "flagged at the second anomalous window (2 of 3)"
    assert first.started_at == START + 100 * WINDOW
    back = recoveries(state.outbox)
    assert [r.normal_windows for r in back] == list(range(1, 11)), "a recovery per normal window after the outage"
    assert back[0].ts > found[-1].ts and {r.series for r in back} == {first.series}
    assert first.value < first.lower < first.expected and first.evidence[0].series == first.series
    assert all(START + 100 * WINDOW <= a.ts < START + 110 * WINDOW for a in found), "no flags outside the outage"
    lines = [o.value.decode() for o in state.outbox if o.target == "influxdb"]
    assert sum(line.startswith("telewatch_score,") for line in lines) >= 90, (
        "every judged point's band goes to InfluxDB"
    )


def test_replaying_the_changelog_rebuilds_the_same_detectors_and_outbox() -> None:
    stage = DetectStage(DetectorSettings(), default_metrics())
    state = stage.new_state()
    batches = [traffic(range(i, i + 20), outage=range(100, 110)) for i in range(0, 120, 20)]
    deltas = [stage.update(state, batch) for batch in batches[:3]]
    snapshot = stage.dump(state)
    deltas = [stage.update(state, batch) for batch in batches[3:]]
    restored = stage.load(snapshot)
    for delta in deltas:
        stage.apply_delta(restored, delta)
    assert restored.outbox == state.outbox
    assert restored.newest == state.newest
    for series, detector in state.detectors.items():
        again = restored.detectors[series]
        assert (again.last_ts, again.typical_volume, again.baseline.n_learned) == (
            detector.last_ts, detector.typical_volume, detector.baseline.n_learned)  # fmt: skip
        assert again.baseline.expect(1e10, 0.0, None) == detector.baseline.expect(1e10, 0.0, None)


def test_a_series_that_goes_silent_is_anomalous() -> None:
    stage = DetectStage(DetectorSettings(), default_metrics())
    state = stage.new_state()
    quiet = traffic(range(0, 80), outage=range(0), region="south")
    busy = traffic(range(0, 100), outage=range(0), region="north", seed=2)
    stage.update(state, [p for pair in zip(busy[:80], quiet, strict=True) for p in pair] + busy[80:])
    silent = [a for a in anomalies(state.outbox) if a.detector == "silence"]
    assert silent and silent[0].dims == {"region": "south"}
    assert silent[0].ts >= START + 82 * WINDOW


def test_a_changed_direction_applies_without_losing_what_was_learned() -> None:
    stage = DetectStage(DetectorSettings(), default_metrics())
    state = stage.new_state()
    stage.update(state, traffic(range(0, 60), outage=range(0)))
    detector = state.detectors["call_setup_success_rate|region=north"]
    learned = detector.baseline.n_learned
    up_only = DetectorSettings.model_validate({"metrics": {"call_setup_success_rate": {"direction": "up"}}})
    stage.reconfigure(up_only)
    stage.update(state, traffic(range(60, 80), outage=range(60, 80)))
    assert state.detectors["call_setup_success_rate|region=north"] is detector
    assert detector.spec.direction == "up" and detector.baseline.n_learned == learned + 20, "kept learning"
    assert anomalies(state.outbox) == [], "a drop is not bad when only a rise is"


def anomaly(metric: str, dims: dict[str, str], minute: int, fingerprint: str) -> bytes:
    ts = START + minute * WINDOW
    return msgspec.json.encode(
        Anomaly(
            fingerprint=fingerprint,
            series=series_key(metric, dims),
            metric=metric,
            dims=dims,
            ts=ts,
            started_at=ts,
            value=1.0,
            expected=0.5,
            lower=0.4,
            upper=0.6,
            score=0.95,
            severity="major",
            detector="seasonal",
            evidence=[
                Evidence(series=series_key(metric, dims), ts=ts, value=1.0, expected=0.5, description=fingerprint)
            ],
        )
    )


def test_a_surge_and_a_mapped_metric_anomaly_in_one_region_make_one_incident() -> None:
    stage = CorrelateStage(DetectorSettings().correlation)
    state = stage.new_state()
    surge = {"region": "north", "category": "network", "scenario": "network.call_drop"}
    stage.update(
        state,
        [
            anomaly("call_drop_rate", {"region": "north"}, 10, "m1"),
            anomaly("call_drop_rate", {"region": "south"}, 10, "m2"),  # another region
            anomaly("sms_delivery_success_rate", {"channel": "1069"}, 10, "m3"),  # not mapped to call drops
            anomaly("complaint_count", surge, 14, "s1"),
            anomaly("complaint_count", surge, 15, "s1"),  # the same surge again
        ],
    )
    incidents = anomalies(state.outbox)
    assert len(incidents) == 1
    incident = incidents[0]
    assert incident.detector == "correlation" and incident.severity == "critical"
    assert incident.dims == {"region": "north", "scenario": "network.call_drop"}
    assert [e.description for e in incident.evidence] == ["m1", "complaint surge, scenario network.call_drop: s1"]
    stage.update(state, [anomaly("complaint_count", surge, 200, "s2")])
    assert len(anomalies(state.outbox)) == 1, "a surge hours later is not the same incident"

"""The detectors worker's logic: metric points in, verdicts and anomalies out (no Kafka here).

Per partition of the metrics topic (series are keyed, so each series is on one
partition, in window order) :class:`DetectStage` keeps one
:class:`~detectors.series_detector.SeriesDetector` per series. Each point is
judged, then learned. Every judged point's expectation, band and score go to
InfluxDB (``telewatch_score``); a flagged point becomes an
:class:`~core.contracts.Anomaly` on the anomalies topic and in InfluxDB
(``telewatch_anomaly``). When a metric's newest window moves on and a series
that normally has traffic sent nothing for ``silence_after`` windows, the
silence is judged too.

Detectors hold no clock and no randomness beyond their seeds, so replaying
the same points gives the same verdicts: the changelog delta is simply the
batch of points (as in :mod:`streams.window_merge`), and a snapshot pickles
the detectors. The outbox (anomalies, InfluxDB lines) is rebuilt by a replay
and sent again after a crash: anomalies are at least once, with stable
fingerprints, which alerting de-duplicates.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from core.contracts import Anomaly, Evidence, MetricPoint, Recovery, Severity
from core.influx_schema import anomaly_line, score_line
from core.metrics import MetricDefinition
from core.series import parse_series_key
from detectors.api import value_kind
from detectors.series_detector import SeriesDetector, Verdict
from detectors.settings import DetectorSettings, DetectorSpec
from runtime import replay_delta
from runtime.outbox import Outgoing

_point_decoder = msgspec.json.Decoder(MetricPoint)
_json = msgspec.json.Encoder()


@dataclass
class DetectState:
    """The detectors of one metrics partition, the newest window per metric, and the outbox."""

    detectors: dict[str, SeriesDetector] = field(default_factory=dict)
    #: Metric → start of the newest window seen, and the window length.
    newest: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Series flagged recently → normal windows in a row since (reported as recoveries up to recovery_windows).
    recovering: dict[str, int] = field(default_factory=dict)
    outbox: list[Outgoing] = field(default_factory=list)
    outbox_sent: int = 0


@dataclass
class DetectCounters:
    """What this process has judged (for the console and status file)."""

    points: int = 0
    judged: int = 0
    anomalous: int = 0
    anomalies: int = 0
    silent: int = 0
    rebuilt: int = 0


class DetectStage(replay_delta.ReplayStage[DetectState]):
    """Judges metric points with the configured detectors (see the module docstring)."""

    #: Format version of this stage's snapshots (see ``runtime.state_format``).
    state_format = 3

    def __init__(self, settings: DetectorSettings, metrics: Sequence[MetricDefinition]) -> None:
        self.settings = settings
        self.metrics = list(metrics)
        self.counters = DetectCounters()
        #: (metric, matching series overrides) → spec, for the current config.
        self._specs: dict[tuple[str, tuple[int, ...]], DetectorSpec] = {}

    def reconfigure(self, settings: DetectorSettings) -> None:
        """Use new settings: each series picks up its new spec at its next point."""
        self.settings = settings
        self._specs.clear()

    def new_state(self) -> DetectState:
        """An empty state."""
        return DetectState()

    # -- changes ------------------------------------------------------------------------------
    def dump(self, state: DetectState) -> bytes:
        """The whole state (pickled detectors; they are plain picklable objects)."""
        snapshot = (state.detectors, state.newest, state.recovering, state.outbox)
        return pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, snapshot: bytes | None) -> DetectState:
        """A state from a snapshot (``None``: empty)."""
        if snapshot is None:
            return self.new_state()
        detectors, newest, recovering, outbox = pickle.loads(snapshot)
        return DetectState(detectors, newest, recovering, outbox)

    # -- judging ------------------------------------------------------------------------------
    def detector_for(self, state: DetectState, point: MetricPoint) -> SeriesDetector:
        """The series' detector: kept while its spec is unchanged, adjusted or rebuilt when the config changed."""
        settings = self.settings
        key = (point.metric, settings.matching(point.series))
        spec = self._specs.get(key)
        if spec is None:  # validating a spec costs more than judging a point: once per metric and overrides
            spec = self._specs[key] = settings.spec_of(*key)
        detector = state.detectors.get(point.series)
        if detector is None:
            detector = state.detectors[point.series] = SeriesDetector(spec, value_kind(self.metrics, point.metric))
        elif detector.spec != spec:
            if (detector.spec.family, detector.spec.params) == (spec.family, spec.params):
                detector.respec(spec)  # thresholds, direction ...: the learned baseline stays
            else:
                detector = state.detectors[point.series] = SeriesDetector(spec, detector.kind)
                self.counters.rebuilt += 1
        return detector

    def take(self, state: DetectState, payloads: Sequence[bytes], replay: bool) -> None:
        counters = self.counters
        for payload in payloads:
            point = _point_decoder.decode(payload)
            detector = self.detector_for(state, point)
            ts = point.window_start.timestamp()
            volume = (
                point.denominator if detector.kind == "ratio" else (None if detector.kind == "count" else point.count)
            )
            verdict = detector.feed(ts, point.value, volume)
            if not replay:
                counters.points += 1
            self._emit(state, point.metric, point.series, point.dims, detector, verdict, replay)
            window_s = (point.window_end - point.window_start).total_seconds()
            newest = state.newest.get(point.metric)
            if newest is None or ts > newest[0]:
                state.newest[point.metric] = (ts, window_s)
                self._check_silence(state, point.metric, replay)  # once per new window of the metric

    def _check_silence(self, state: DetectState, metric: str, replay: bool) -> None:
        newest, window_s = state.newest[metric]
        prefix = metric + "|"
        for series, detector in state.detectors.items():
            if not series.startswith(prefix) or detector.typical_volume is None:
                continue
            gap = newest - detector.last_ts
            # A series reporting every 5 windows (a KPI) is silent only after 3 of its own intervals.
            if gap >= detector.spec.silence_after * max(window_s, detector.typical_gap or 0.0):
                verdict = detector.feed_missing(newest)
                if verdict.anomalous and not replay:
                    self.counters.silent += 1
                self._emit(state, metric, series, parse_series_key(series)[1], detector, verdict, replay)

    def _emit(
        self,
        state: DetectState,
        metric: str,
        series: str,
        dims: dict[str, str],
        detector: SeriesDetector,
        verdict: Verdict,
        replay: bool,
    ) -> None:
        ts = datetime.fromtimestamp(verdict.ts, tz=UTC)
        family = detector.family
        if verdict.expected is not None:
            line = score_line(metric, series, dims, family, verdict.expected, verdict.lower, verdict.upper,
                              verdict.score, verdict.anomalous, verdict.flagged, ts)  # fmt: skip
            state.outbox.append(Outgoing("influxdb", b"", line.encode()))
            if not replay:
                self.counters.judged += 1
                self.counters.anomalous += verdict.anomalous
        if not verdict.flagged:
            if series in state.recovering and verdict.expected is not None:
                self._recovery(state, metric, series, dims, verdict)
            return
        state.recovering[series] = 0
        started = detector.episode_start if detector.episode_start is not None else verdict.ts
        anomaly = Anomaly(
            fingerprint=fingerprint(series, started),
            series=series,
            metric=metric,
            dims=dims,
            ts=ts,
            started_at=datetime.fromtimestamp(started, tz=UTC),
            value=verdict.value if math.isfinite(verdict.value) else 0.0,
            expected=verdict.expected if verdict.expected is not None else 0.0,
            lower=verdict.lower if verdict.lower is not None else 0.0,
            upper=verdict.upper if verdict.upper is not None else 0.0,
            score=min(max(verdict.score, 0.0), 1.0),
            severity=severity_of(verdict),
            detector="silence" if verdict.reason.startswith("no point") else family,
            evidence=[
                Evidence(
                    series=series,
                    ts=ts,
                    value=verdict.value if math.isfinite(verdict.value) else 0.0,
                    expected=verdict.expected if verdict.expected is not None else 0.0,
                    description=verdict.reason or describe(verdict),
                )
            ],
        )
        state.outbox.append(Outgoing("anomalies", series.encode(), _json.encode(anomaly)))
        state.outbox.append(Outgoing("influxdb", b"", anomaly_line(anomaly).encode()))
        if not replay:
            self.counters.anomalies += 1

    def _recovery(self, state: DetectState, metric: str, series: str, dims: dict[str, str], verdict: Verdict) -> None:
        """A judged point of a recently flagged series: count it when normal, start again when not."""
        if verdict.anomalous:
            state.recovering[series] = 0
            return
        normal = state.recovering[series] + 1
        if normal >= self.settings.recovery_windows:
            del state.recovering[series]
        else:
            state.recovering[series] = normal
        recovery = Recovery(
            series=series,
            metric=metric,
            dims=dims,
            ts=datetime.fromtimestamp(verdict.ts, tz=UTC),
            value=verdict.value if math.isfinite(verdict.value) else 0.0,
            expected=verdict.expected if verdict.expected is not None else 0.0,
            normal_windows=normal,
        )
        state.outbox.append(Outgoing("anomalies", series.encode(), _json.encode(recovery)))


def fingerprint(series: str, started: float) -> str:
    """Stable id of an anomaly episode: its series and start."""
    return hashlib.blake2b(f"{series}@{started:.0f}".encode(), digest_size=8).hexdigest()


#: Scores from which a flagged point is major and critical: about 1.9 and 2.6 times the threshold's deviation at the
#: default threshold 4 (``detectors.calibration``); a silent series scores 3 times it.
MAJOR_SCORE = 0.75
CRITICAL_SCORE = 0.85


def severity_of(verdict: Verdict) -> Severity:
    """Severity from the calibrated score: warning when flagged, major from 0.75, critical from 0.85."""
    if verdict.score >= CRITICAL_SCORE:
        return "critical"
    if verdict.score >= MAJOR_SCORE:
        return "major"
    return "warning"


def describe(verdict: Verdict) -> str:
    """One line for people: the value against its band."""
    if verdict.expected is None or verdict.lower is None or verdict.upper is None:
        return f"value {verdict.value:.4g}"
    return (
        f"value {verdict.value:.4g}, expected {verdict.expected:.4g} (band {verdict.lower:.4g} to {verdict.upper:.4g})"
    )

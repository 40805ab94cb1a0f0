"""Correlation: a metric anomaly and a complaint surge about it, in the same area and time, are one incident.

The configuration maps complaint scenarios to the metrics they are about
(``detectors.correlation.scenarios``, as operators map end-to-end metrics to
complaint scenarios). A surge is an anomaly of ``complaint_count`` on a series
with a ``scenario``; it pairs with an anomaly of a mapped metric when both are
within ``window_s`` of each other and in the same area: the same ``region``,
or any region when the metric has none (an SMS channel serves every region).
Each pair is reported once, as an anomaly from the ``correlation`` detector
with the severity one step up and the evidence of both.

Like the other stages it is deterministic (anomaly times, no clock), so its
changelog delta is the batch of anomalies it read.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from core.contracts import AnomaliesRecord, Anomaly, Severity
from core.influx_schema import anomaly_line
from detectors.settings import CorrelationSettings
from runtime import replay_delta
from runtime.outbox import Outgoing

DETECTOR = "correlation"
SURGE_METRIC = "complaint_count"
_RAISE: dict[Severity, Severity] = {"info": "warning", "warning": "major", "major": "critical", "critical": "critical"}
_decoder = msgspec.json.Decoder(AnomaliesRecord)
_json = msgspec.json.Encoder()


@dataclass
class CorrelateState:
    """Recent surges and metric anomalies, the pairs already reported, and the outbox."""

    surges: list[Anomaly] = field(default_factory=list)
    metrics: list[Anomaly] = field(default_factory=list)
    #: (metric anomaly fingerprint, surge fingerprint) → time of the later one.
    reported: dict[tuple[str, str], float] = field(default_factory=dict)
    outbox: list[Outgoing] = field(default_factory=list)
    outbox_sent: int = 0


class CorrelateStage(replay_delta.ReplayStage[CorrelateState]):
    """Pairs metric anomalies with complaint surges (see the module docstring)."""

    #: Format version of this stage's snapshots (see ``runtime.state_format``).
    state_format = 1

    def __init__(self, settings: CorrelationSettings) -> None:
        self.settings = settings
        self.incidents = 0

    def reconfigure(self, settings: CorrelationSettings) -> None:
        """Use a new mapping and window from the next anomaly on."""
        self.settings = settings

    def new_state(self) -> CorrelateState:
        """An empty state."""
        return CorrelateState()

    def dump(self, state: CorrelateState) -> bytes:
        """The whole state."""
        return pickle.dumps((state.surges, state.metrics, state.reported, state.outbox))

    def load(self, snapshot: bytes | None) -> CorrelateState:
        """A state from a snapshot (``None``: empty)."""
        if snapshot is None:
            return self.new_state()
        surges, metrics, reported, outbox = pickle.loads(snapshot)
        return CorrelateState(surges, metrics, reported, outbox)

    def take(self, state: CorrelateState, payloads: Sequence[bytes], replay: bool) -> None:
        for payload in payloads:
            anomaly = _decoder.decode(payload)
            if not isinstance(anomaly, Anomaly) or anomaly.detector == DETECTOR:
                continue  # recoveries and our own incidents
            if anomaly.metric == SURGE_METRIC and "scenario" in anomaly.dims:
                pairs = [(m, anomaly) for m in state.metrics if self._related(m, anomaly)]
                state.surges.append(anomaly)
            elif anomaly.metric != SURGE_METRIC:
                pairs = [(anomaly, s) for s in state.surges if self._related(anomaly, s)]
                state.metrics.append(anomaly)
            else:
                continue
            for metric, surge in pairs:
                key = (metric.fingerprint, surge.fingerprint)
                if key in state.reported:
                    continue
                state.reported[key] = max(metric.ts, surge.ts).timestamp()
                incident = correlated(metric, surge)
                state.outbox.append(Outgoing("anomalies", incident.series.encode(), _json.encode(incident)))
                state.outbox.append(Outgoing("influxdb", b"", anomaly_line(incident).encode()))
                if not replay:
                    self.incidents += 1
            self._forget(state, anomaly.ts.timestamp())

    def _related(self, metric: Anomaly, surge: Anomaly) -> bool:
        mapped = self.settings.scenarios.get(surge.dims["scenario"], [])
        if metric.metric not in mapped:
            return False
        region = metric.dims.get("region")
        if region is not None and region != surge.dims.get("region"):
            return False
        return abs((metric.ts - surge.ts).total_seconds()) <= self.settings.window_s

    def _forget(self, state: CorrelateState, now: float) -> None:
        horizon = now - 2 * self.settings.window_s
        state.surges = [a for a in state.surges if a.ts.timestamp() >= horizon]
        state.metrics = [a for a in state.metrics if a.ts.timestamp() >= horizon]
        state.reported = {k: t for k, t in state.reported.items() if t >= horizon}


def correlated(metric: Anomaly, surge: Anomaly) -> Anomaly:
    """The incident of a metric anomaly and a complaint surge: both pieces of evidence, severity one step up."""
    digest = hashlib.blake2b(f"{metric.fingerprint}+{surge.fingerprint}".encode(), digest_size=8).hexdigest()
    scenario = surge.dims["scenario"]
    surge_evidence = [
        msgspec.structs.replace(e, description=f"complaint surge, scenario {scenario}: {e.description}")
        for e in surge.evidence
    ]
    return msgspec.structs.replace(
        metric,
        fingerprint=digest,
        dims={**metric.dims, "scenario": scenario},
        ts=max(metric.ts, surge.ts),
        started_at=min(metric.started_at, surge.started_at),
        score=max(metric.score, surge.score),
        severity=_RAISE[metric.severity],
        detector=DETECTOR,
        evidence=[*metric.evidence, *surge_evidence],
    )

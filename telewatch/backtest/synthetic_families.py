"""Synthetic series of what real operations metrics do, each with one injected anomaly: the detectors' robustness suite.

Every family is a plain value series at a 5-minute cadence (``days`` long,
seeded): an anomaly-free part, then one injected anomaly at ``anomaly_at``
(an index into the series) lasting ``anomaly_len`` points. The suite checks,
for the default detector, the alert episodes per day on the anomaly-free part,
that the anomaly is flagged within a few points, and that no verdict is NaN,
infinite or an exception (``tests/test_detector_robustness.py``;
``./dev bench detector_robustness`` prints the table).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.api import build_detector
from detectors.settings import DetectorSettings
from telewatch.backtest.point_adjust import episodes

FloatArray = npt.NDArray[np.float64]
STEP_S = 300
DAY_POINTS = 86400 // STEP_S
#: Points after the anomaly's start within which it must be flagged.
DETECT_WITHIN = 7


@dataclass(frozen=True)
class Family:
    """One synthetic series: timestamps, values and where its anomaly is."""

    name: str
    what: str
    ts: FloatArray
    values: FloatArray
    anomaly_at: int
    anomaly_len: int
    #: One-point anomalies in the first part (the spiky family's spikes): each may be flagged, alone.
    spikes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """How the default detector did on a family."""

    name: str
    what: str
    days_clean: float
    episodes_clean: int
    flagged_clean: int
    detected_after: int | None
    bad_scores: int
    #: Spikes flagged, and the points right after a spike that were anomalous (a flipped baseline).
    spikes_flagged: int = 0
    anomalous_after_spike: int = 0

    @property
    def episodes_per_day(self) -> float:
        """Alert episodes per day on the anomaly-free part."""
        return self.episodes_clean / self.days_clean


def _daily(n: int, amplitude: float, phase: float = 0.0) -> FloatArray:
    t = np.arange(n) / DAY_POINTS
    return amplitude * np.sin(2 * np.pi * (t + phase))


def _timestamps(n: int) -> FloatArray:
    return 1_700_006_400.0 + STEP_S * np.arange(n, dtype=float)


def families(days: int = 14, seed: int = 0) -> list[Family]:
    """The suite's families (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = days * DAY_POINTS
    at = n - 2 * DAY_POINTS + 37
    out: list[Family] = []

    spikes: tuple[int, ...] = ()

    def add(name: str, what: str, build: Callable[[], tuple[FloatArray, int]]) -> None:
        values, length = build()
        out.append(Family(name, what, _timestamps(len(values)), values, at, length, spikes if name == "spiky" else ()))

    def gaussian() -> tuple[FloatArray, int]:
        v = 100 + _daily(n, 20) + rng.normal(0, 2, n)
        v[at : at + 12] -= 25
        return v, 12

    def flat() -> tuple[FloatArray, int]:
        v = np.full(n, 42.0)
        v[: n // 3] += rng.normal(0, 0.5, n // 3)  # noisy, then flat for days
        v[at : at + 6] = 47.0
        return v, 6

    def quantised() -> tuple[FloatArray, int]:
        v = rng.poisson(3 + _daily(n, 2) + 2, n).astype(float)
        v[at : at + 6] += 25
        return v, 6

    def heavy_tailed() -> tuple[FloatArray, int]:
        v = 50 + 3 * rng.standard_t(2, n)
        v[at : at + 12] += 400
        return v, 12

    def spiky() -> tuple[FloatArray, int]:
        nonlocal spikes
        v = 20 + rng.normal(0, 1, n)
        at_spikes = np.sort(rng.choice(at - 2 * DAY_POINTS, size=days // 2, replace=False)) + DAY_POINTS
        v[at_spikes] += rng.uniform(10, 40, len(at_spikes))  # a spike every second day: one point each
        spikes = tuple(int(i) for i in at_spikes)
        v[at : at + 12] += 15
        return v, 12

    def level_shift() -> tuple[FloatArray, int]:
        v = 200 + _daily(n, 30) + rng.normal(0, 3, n)
        v[at:] -= 60  # for good: found, then learned as the new level
        return v, n - at

    def noiseless_periodic() -> tuple[FloatArray, int]:
        t = np.arange(n) % DAY_POINTS
        v = np.where((t > 96) & (t < 216), 80.0, 10.0)  # a daily square wave, no noise
        v[at : at + 6] = 45.0
        return v, 6

    def trend() -> tuple[FloatArray, int]:
        v = 1000 + 0.4 * np.arange(n) + _daily(n, 15) + rng.normal(0, 3, n)
        v[at : at + 12] -= 40
        return v, 12

    def random_walk() -> tuple[FloatArray, int]:
        v = 500 + np.cumsum(rng.normal(0, 1, n))
        v[at:] += 30
        return v, 12

    def huge() -> tuple[FloatArray, int]:
        v = 3e12 + _daily(n, 2e11) + rng.normal(0, 1e10, n)
        v[at : at + 12] += 1.5e11
        return v, 12

    def tiny() -> tuple[FloatArray, int]:
        v = 4e-9 + _daily(n, 1e-9) + rng.normal(0, 1e-10, n)
        v[at : at + 12] += 1e-9
        return v, 12

    def negative() -> tuple[FloatArray, int]:
        v = -80 + _daily(n, 10) + rng.normal(0, 1, n)  # e.g. a signal level in dBm
        v[at : at + 12] -= 12
        return v, 12

    def irregular() -> tuple[FloatArray, int]:
        v = 100 + _daily(n, 20) + rng.normal(0, 2, n)
        v[at : at + 12] += 25
        return v, 12

    add("gaussian", "daily pattern + normal noise", gaussian)
    add("flat", "noisy, then constant for days", flat)
    add("quantised", "small integer values", quantised)
    add("heavy_tailed", "Student-t (2 dof) noise", heavy_tailed)
    add("spiky", "isolated one-point spikes every second day", spiky)
    add("level_shift", "a permanent drop to a new level", level_shift)
    add("noiseless_periodic", "a daily square wave without noise", noiseless_periodic)
    add("trend", "steady growth + daily pattern", trend)
    add("random_walk", "a wandering level, then a jump", random_walk)
    add("huge", "around 3e12", huge)
    add("tiny", "around 4e-9", tiny)
    add("negative", "around -80", negative)
    jitter = rng.uniform(-60, 60, n)
    irregular_ts = _timestamps(n) + jitter
    gaps = rng.random(n) < 0.1  # a tenth of the points missing, some hours-long gaps
    for start in rng.choice(n - DAY_POINTS, size=days // 3, replace=False):
        gaps[start : start + 36] = True
    gaps[at - 1 : at + 12] = False
    keep = ~gaps
    fam = irregular()
    out.append(
        Family(
            "gaps_irregular",
            "jittered timestamps, a tenth missing, hours-long gaps",
            irregular_ts[keep],
            fam[0][keep],
            int(np.count_nonzero(keep[:at])),
            12,
        )
    )
    return out


def run_family(family: Family, settings: DetectorSettings | None = None) -> Outcome:
    """Feed the family to the default detector of a plain value series and measure it."""
    detector = build_detector(family.name, settings)
    flagged = np.zeros(len(family.values), dtype=bool)
    anomalous = np.zeros(len(family.values), dtype=bool)
    bad = 0
    for i, (ts, value) in enumerate(zip(family.ts.tolist(), family.values.tolist(), strict=True)):
        verdict = detector.feed(ts, value)
        flagged[i] = verdict.flagged
        anomalous[i] = verdict.anomalous
        numbers: Sequence[float | None] = (verdict.score, verdict.expected, verdict.lower, verdict.upper)
        bad += sum(1 for x in numbers if x is not None and not math.isfinite(x))
        bad += not 0.0 <= verdict.score < 1.0
    spikes = np.array(family.spikes, dtype=int)
    clean = flagged[: family.anomaly_at].copy()
    clean[spikes] = False
    span_days = (family.ts[family.anomaly_at - 1] - family.ts[0]) / 86400
    hits = np.flatnonzero(flagged[family.anomaly_at : family.anomaly_at + DETECT_WITHIN])
    return Outcome(
        name=family.name,
        what=family.what,
        days_clean=float(span_days),
        episodes_clean=len(episodes(clean)),
        flagged_clean=int(clean.sum()),
        detected_after=int(hits[0]) if len(hits) else None,
        bad_scores=bad,
        spikes_flagged=int(flagged[spikes].sum()),
        anomalous_after_spike=int(anomalous[spikes + 1].sum()),
    )

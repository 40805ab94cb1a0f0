"""One series' detector: a baseline family judged with volume, direction, duration and warm-up.

Each point is scored *before* it is learned. The deviation from the baseline's
expectation is measured in standard deviations of what the series can show:

- a **ratio** (a success rate from 5 attempts) adds the binomial sampling
  spread ``sqrt(p (1 - p) / n)`` of its denominator ``n`` to the baseline's
  scale, so a small-volume series must move much further to count; a point
  behind fewer than ``min_volume`` events is not judged at all;
- a **count** (complaints in a window) is judged by its Poisson tail
  probability against the expected count, turned into the same z scale;
- a **value** (latency, a KPI) uses the baseline's scale alone.

Only a deviation in the configured ``direction`` counts. A point is
*anomalous* when its z reaches ``threshold``; the series is *flagged* when at
least ``min_anomalous`` of the last ``of_last`` points were anomalous and the
detector is past its ``warmup_points``. Flagged points are not learned (the
baseline must not get used to an outage) until ``relearn_after`` anomalous ones
in a row say the level has really moved; other points are learned clipped to the
band. Ratios also keep a capped one-sided CUSUM of their z (a slow slide adds up),
and learn nothing while it builds up.

>>> from detectors.series_detector import SeriesDetector
>>> from detectors.settings import DetectorSpec
>>> d = SeriesDetector(DetectorSpec(direction="down", warmup_points=10), "ratio")
>>> for i in range(60):
...     _ = d.feed(i * 60.0, 0.98, volume=1000)
>>> d.feed(3600.0, 0.80, volume=5).flagged  # 4 of 5 calls: too few to say anything
False
>>> [d.feed(3660.0 + 60 * i, 0.80, volume=1000).flagged for i in range(2)]  # 2 of the last 3 windows
[False, True]
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from detectors.baseline import Baseline, Estimate
from detectors.families import build_baseline
from detectors.settings import DetectorSpec

#: How a metric's value relates to its volume: see the module docstring.
ValueKind = Literal["ratio", "count", "value"]

_NORMAL = NormalDist()
#: z reported for a tail probability too small to invert.
_MAX_Z = 40.0
#: Counts are also judged summed over the last 2, 4, ... windows (up to the last of these): a surge too thin for one
#: window shows in a sum, the sooner the shorter the sum it fills.
COUNT_SUM_WINDOWS = (2, 4, 8, 16, 32)
#: A ratio must be off by at least this many events (in the numerator) to be anomalous.
MIN_EVENTS_OFF = 3.0
#: A ratio whose rare events (drops; a success rate's failures) number fewer than this per window is judged by their
#: Poisson tail when that is less extreme than the normal approximation.
RARE_EVENTS_NORMAL = 50.0
#: CUSUM: each window adds its bad-direction z (clipped to ±4) minus this allowance ...
CUSUM_ALLOWANCE = 1.0
#: ... and a sum this high is a sustained drift (z 2 for 16 windows, z 3 for 8). The sum is capped here: once
#: the drift is over it falls below the limit within a window, instead of counting down from an outage's hundreds.
CUSUM_LIMIT = 16.0
#: While the sum is at least this high a drift may be building: the baseline learns nothing, or it would follow the drift.
CUSUM_HOLD = 4.0
#: Likewise for counts: while a sum over the last windows is this many standard deviations high, a surge may be
#: building and the baseline learns nothing.
COUNT_HOLD = 3.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the detector says about one point."""

    ts: float
    value: float
    expected: float | None
    lower: float | None
    upper: float | None
    #: 0 (normal) to 1 (certainly anomalous); 0.5 at the threshold.
    score: float
    #: The point deviates by at least the threshold in the bad direction.
    anomalous: bool
    #: Alert-worthy: enough anomalous points among the last ones, past the warm-up.
    flagged: bool
    #: Not judged: too little volume, or the baseline is still learning.
    reason: str = ""


class SeriesDetector:
    """Feeds one series' points to its baseline and judges them (see the module docstring)."""

    def __init__(self, spec: DetectorSpec, kind: ValueKind) -> None:
        self.spec = spec
        self.kind = kind
        self.baseline: Baseline = build_baseline(spec.family, spec.params)
        self._recent: deque[bool] = deque(maxlen=spec.of_last)
        self._anomalous_run = 0
        #: Window start of the last point fed (points are fed in order; older ones are ignored).
        self.last_ts = float("-inf")
        #: Exponentially weighted volume of recent points (None: the metric has no volume).
        self.typical_volume: float | None = None
        #: Start of the current anomalous episode (the first flagged or anomalous point of it).
        self.episode_start: float | None = None
        #: Exponentially weighted spacing of the series' points (a KPI may report every 5 windows).
        self.typical_gap: float | None = None
        #: Counts: (value, expected) of the last ``COUNT_SUM_WINDOWS[-1]`` points, for the rolling-sum tests.
        self._counts: deque[tuple[float, float]] = deque(maxlen=COUNT_SUM_WINDOWS[-1])
        #: One-sided CUSUM of the bad-direction z: a small shift that lasts (a slow degradation) adds up.
        self._cusum = 0.0
        #: Counts: the highest z of the sums over the last windows at the last point.
        self._count_sum_z = 0.0

    def respec(self, spec: DetectorSpec) -> None:
        """Take new options of the same family and parameters, keeping what the baseline has learned."""
        if (spec.family, spec.params) != (self.spec.family, self.spec.params):
            raise ValueError("respec keeps the baseline: family and params must stay the same")
        self.spec = spec
        self._recent = deque(self._recent, maxlen=spec.of_last)

    # -- river's protocol ----------------------------------------------------------------------
    def score_one(self, x: dict[str, float]) -> float:
        """river-style: the score of ``{"ts": .., "value": .., "volume": ..}`` without learning it."""
        return self._judge(x["ts"], x["value"], x.get("volume"))[0].score

    def learn_one(self, x: dict[str, float]) -> None:
        """river-style: learn a point (as :meth:`feed` does after judging it)."""
        self.feed(x["ts"], x["value"], x.get("volume"))

    # -- the telewatch API ---------------------------------------------------------------------
    def feed(self, ts: float, value: float, volume: float | None = None) -> Verdict:
        """Judge the point at ``ts`` (epoch seconds), then learn it; ``volume``: a ratio's denominator or a count's events."""
        if ts <= self.last_ts:
            return Verdict(ts, value, None, None, None, 0.0, False, False, "older than the last point: ignored")
        verdict, learn = self._judge(ts, value, volume)
        if self.last_ts != float("-inf"):
            gap = ts - self.last_ts
            self.typical_gap = gap if self.typical_gap is None else 0.9 * self.typical_gap + 0.1 * gap
        self.last_ts = ts
        if volume is not None:
            self.typical_volume = volume if self.typical_volume is None else 0.9 * self.typical_volume + 0.1 * volume
        self._recent.append(verdict.anomalous)
        flagged = verdict.anomalous and sum(self._recent) >= self.spec.min_anomalous
        if verdict.anomalous:
            self._anomalous_run += 1
            if self.episode_start is None:
                self.episode_start = ts
        else:
            self._anomalous_run = 0
            self.episode_start = None
        # Flagged points are not learned (the baseline must not get used to an outage); a lone anomalous
        # point is, clipped to the band (a rare event must not pull the level to 0, nor one wild point set a
        # slot of the daily profile). While the drift sum builds up nothing is learned: a baseline that
        # followed a slow slide would never see it.
        relearn = self._anomalous_run >= self.spec.relearn_after
        hold = self._cusum >= CUSUM_HOLD or self._count_sum_z >= COUNT_HOLD
        if learn and (relearn or (not flagged and not hold)):
            self.baseline.learn_one(ts, value if relearn else self._bounded(verdict, value), volume)
        if flagged != verdict.flagged:
            verdict = Verdict(verdict.ts, verdict.value, verdict.expected, verdict.lower, verdict.upper,
                              verdict.score, verdict.anomalous, flagged, verdict.reason)  # fmt: skip
        return verdict

    def _bounded(self, verdict: Verdict, value: float) -> float:
        """The value to learn: once warm, clipped to the band, so one wild point moves the baseline only so far."""
        if verdict.lower is None or verdict.upper is None or self.baseline.n_learned < self.spec.warmup_points:
            return value
        return min(max(value, verdict.lower), verdict.upper)

    def feed_missing(self, ts: float) -> Verdict:
        """The window at ``ts`` passed without a point: anomalous when the series normally has traffic.

        A series silent for ``relearn_after`` windows in a row is taken to be gone: no more verdicts until it is back.
        """
        expected = self.typical_volume
        cadence = self.typical_gap or 0.0
        overdue = ts - self.last_ts >= self.spec.silence_after * cadence if cadence else True
        silent = overdue and expected is not None and expected >= max(self.spec.min_volume, 1.0)
        warm = self.baseline.n_learned >= self.spec.warmup_points
        self._recent.append(silent)
        flagged = silent and warm and sum(self._recent) >= self.spec.min_anomalous
        if silent:
            self._anomalous_run += 1
            if self.episode_start is None:
                self.episode_start = ts
            if self._anomalous_run >= self.spec.relearn_after:
                self.typical_volume = None
        reason = f"no point: silent where about {expected:.0f} events per window were expected" if silent else ""
        return Verdict(ts, math.nan, None, None, None, 1.0 if silent else 0.0, silent, flagged, reason)

    # -- scoring -------------------------------------------------------------------------------
    def _judge(self, ts: float, value: float, volume: float | None) -> tuple[Verdict, bool]:
        """The verdict before duration rules, and whether the point may be learned."""
        spec = self.spec
        estimate = self.baseline.expect(ts, value, volume)
        if not math.isfinite(value):
            return Verdict(ts, value, None, None, None, 0.0, False, False, "not a number"), False
        if estimate is None:
            return Verdict(ts, value, None, None, None, 0.0, False, False, "learning"), True
        if self.kind != "count" and volume is not None and volume < spec.min_volume:
            band = self._band(estimate, self._sigma(estimate, volume))
            return Verdict(ts, value, estimate.expected, *band, 0.0, False, False, "too few events to judge"), False
        if self.kind == "ratio":
            estimate = estimate._replace(expected=min(max(estimate.expected, 0.0), 1.0))
        sigma = self._sigma(estimate, volume)
        z = drift_z = self._z(value, estimate, sigma, volume)
        if self.kind == "ratio" and volume:
            z = _ratio_z(value, estimate.expected, z, volume)
        if self.kind == "count":
            z = self._with_count_sum(z, value, estimate)
        bad = _bad_part(z, spec.direction)
        if estimate.score is not None:
            score = estimate.score
            # A family that scores itself (half_space_trees): threshold 4 (the default) means a score of 0.5.
            anomalous = score >= min(0.99, spec.threshold / 8)
        else:
            score = 1 - 2 ** -((max(bad, 0.0) / spec.threshold) ** 2)
            anomalous = bad >= spec.threshold
        reason = ""
        if self.kind == "ratio" and estimate.score is None:  # value series drift together with their noise
            # The sum takes the normal z: summed over many windows, the rare events' skew averages out.
            drift = _bad_part(drift_z, spec.direction)
            self._cusum = min(max(0.0, self._cusum + min(max(drift, -4.0), 4.0) - CUSUM_ALLOWANCE), CUSUM_LIMIT)
            if self._cusum >= CUSUM_LIMIT and drift > 0 and not anomalous:
                anomalous, reason = True, f"sustained drift (CUSUM {self._cusum:.1f})"
                score = max(score, 0.5)
        anomalous = anomalous and abs(value - estimate.expected) >= spec.min_delta
        if self.kind == "ratio" and volume:
            anomalous = anomalous and abs(value - estimate.expected) * volume >= MIN_EVENTS_OFF
        warm = self.baseline.n_learned >= spec.warmup_points
        lower, upper = self._band(estimate, sigma)
        reason = reason if warm else "warming up"
        return Verdict(ts, value, estimate.expected, lower, upper, score, anomalous and warm, False, reason), True

    def _with_count_sum(self, z: float, value: float, estimate: Estimate) -> float:
        """The largest of the window's z and the z of the sums over the last 2, 4, ... windows."""
        counts = self._counts
        counts.append((value, max(estimate.expected, 0.0)))
        total = expected = 0.0
        n = 0
        self._count_sum_z = 0.0
        sums = iter(COUNT_SUM_WINDOWS)
        length = next(sums)
        for v, e in reversed(counts):
            total, expected, n = total + v, expected + e, n + 1
            if n < length:
                continue
            mean = expected + estimate.scale * n**0.5
            if total > mean:
                z_sum = _z_of_tail(_poisson_sf(round(total) - 1, max(mean, 0.05)))
                self._count_sum_z = max(self._count_sum_z, z_sum)
                z = max(z, z_sum)
            length = next(sums, 0)
            if not length:
                break
        return z

    def _sigma(self, estimate: Estimate, volume: float | None) -> float:
        if self.kind == "ratio" and volume:
            # The baseline's scale already holds the binomial noise at the usual volume: take the larger, not the sum.
            p = min(max(estimate.expected, 1e-4), 1 - 1e-4)
            return max(estimate.scale, math.sqrt(p * (1 - p) / volume))
        if self.kind == "count":
            return math.hypot(estimate.scale, math.sqrt(max(estimate.expected, 0.25)))
        return estimate.scale

    def _z(self, value: float, estimate: Estimate, sigma: float, volume: float | None) -> float:
        if self.kind != "count" or estimate.expected > 50:
            return (value - estimate.expected) / sigma
        # Small counts: the Poisson tail (with the baseline's own spread added to the mean) as a z.
        rate = max(estimate.expected, 0.05) + estimate.scale
        if value > rate:
            tail = _poisson_sf(round(value) - 1, rate)
            return _z_of_tail(tail)
        if value < rate:
            return -_z_of_tail(_poisson_cdf(round(value), rate))
        return 0.0

    def _band(self, estimate: Estimate, sigma: float) -> tuple[float, float]:
        half = self.spec.threshold * sigma
        lower, upper = estimate.expected - half, estimate.expected + half
        if self.kind == "ratio":
            return max(lower, 0.0), min(upper, 1.0)
        if self.kind == "count":
            return max(lower, 0.0), upper
        return lower, upper


def _bad_part(z: float, direction: str) -> float:
    """``z`` as a deviation in the bad direction (negative when it goes the good way)."""
    return {"up": z, "down": -z, "both": abs(z)}[direction]


def _ratio_z(value: float, expected: float, z: float, volume: float) -> float:
    """A ratio's z (given: the normal one), or the Poisson tail of its rare events when that is less extreme.

    The normal approximation of a binomial overstates a rise of rare events: 5 drops in 133 calls where 0.8 were
    expected is 4.6 binomial standard deviations, but happens once in 700 windows (z 3.0). The rare events are
    the numerator (a drop rate) or the rest (the failures of a success rate).
    """
    p = min(max(expected, 1e-4), 1 - 1e-4)
    rare, seen, sign = (p * volume, value * volume, 1.0) if p <= 0.5 else ((1 - p) * volume, (1 - value) * volume, -1.0)
    if rare >= RARE_EVENTS_NORMAL or abs(z) < 1:
        return z
    if seen > rare:
        tail = sign * _z_of_tail(_poisson_sf(round(seen) - 1, rare))
    else:
        tail = -sign * _z_of_tail(_poisson_cdf(round(seen), rare))
    return tail if abs(tail) < abs(z) else z


def _poisson_cdf(k: int, rate: float) -> float:
    """P(X <= k) for X ~ Poisson(rate)."""
    if k < 0:
        return 0.0
    term = total = math.exp(-rate)
    for i in range(1, k + 1):
        term *= rate / i
        total += term
    return min(total, 1.0)


def _poisson_sf(k: int, rate: float) -> float:
    """P(X > k) for X ~ Poisson(rate), summed from the tail side for accuracy."""
    if k < 0:
        return 1.0
    term = math.exp(-rate)
    for i in range(1, k + 2):
        term *= rate / i
    total = 0.0
    i = k + 1
    while term > 1e-300 and i < k + 1000:
        total += term
        i += 1
        term *= rate / i
        if term < total * 1e-16:
            break
    return min(total, 1.0)


def _z_of_tail(probability: float) -> float:
    if probability <= 0:
        return _MAX_Z
    if probability >= 0.5:
        return 0.0
    return min(-_NORMAL.inv_cdf(probability), _MAX_Z)

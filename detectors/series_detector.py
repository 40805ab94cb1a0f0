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
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any, Literal, NamedTuple

from detectors.baseline import Baseline, Estimate
from detectors.calibration import score_of_z
from detectors.families import build_baseline, parameters
from detectors.settings import DetectorSpec

#: How a metric's value relates to its volume: see the module docstring.
ValueKind = Literal["ratio", "count", "value"]

_NORMAL = NormalDist()
_NEVER = float("-inf")
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
#: The 99th percentile of |z| for normal noise; a value series whose own is higher has its z divided by the excess.
NORMAL_Q99 = 2.576
#: Step of the running percentile of |z| (log domain), and the points it takes 4 times bigger steps for.
TAIL_STEP = 0.05
TAIL_FAST_POINTS = 300
_TAIL_UP, _TAIL_DOWN = math.exp(0.99 * TAIL_STEP), math.exp(-0.01 * TAIL_STEP)
_TAIL_UP_FAST, _TAIL_DOWN_FAST = math.exp(0.99 * 4 * TAIL_STEP), math.exp(-0.01 * 4 * TAIL_STEP)
#: A point flags alone (``alone_score``) only in a series whose tails are at most this much wider than normal.
ALONE_MAX_TAIL = 1.5
#: ... and only beyond the largest |z| the series showed recently (this decays by half every so many points).
RECENT_MAX_HALF_LIFE = 200
RECENT_MAX_DECAY = 0.5 ** (1 / RECENT_MAX_HALF_LIFE)
#: A value series whose 99th percentile of |z| is this many times the normal one is too erratic to judge.
ERRATIC_FACTOR = 4.0


class Verdict(NamedTuple):
    """What the detector says about one point (a named tuple: one is made per point)."""

    ts: float
    value: float
    expected: float | None
    lower: float | None
    upper: float | None
    #: Calibrated: 0.5 at the threshold, strictly increasing in the deviation, below 1 (``detectors.calibration``).
    score: float
    #: The point deviates by at least the threshold in the bad direction.
    anomalous: bool
    #: Alert-worthy: enough anomalous points among the last ones, past the warm-up.
    flagged: bool
    #: Not judged: too little volume, or the baseline is still learning.
    reason: str = ""


class SeriesDetector:
    """Feeds one series' points to its baseline and judges them (see the module docstring)."""

    __slots__ = (
        "_anomalous_run",
        "_count_sum_z",
        "_counts",
        "_cusum",
        "_held",
        "_recent",
        "_recent_max",
        "_tail",
        "_tail_n",
        "baseline",
        "episode_start",
        "kind",
        "last_ts",
        "spec",
        "typical_gap",
        "typical_volume",
    )

    def __init__(self, spec: DetectorSpec, kind: ValueKind) -> None:
        self.spec = spec
        self.kind = kind
        self.baseline: Baseline = build_baseline(*baseline_for(spec, kind))
        #: Anomalous flags of the last ``of_last`` points, newest in bit 0.
        self._recent = 0
        self._anomalous_run = 0
        #: Points of the current anomalous run that were not learned: learned after all if the run proves a new level.
        self._held: list[tuple[float, float, float | None]] | None = None
        #: Window start of the last point fed (points are fed in order; older ones are ignored).
        self.last_ts = _NEVER
        #: Exponentially weighted volume of recent points (None: the metric has no volume).
        self.typical_volume: float | None = None
        #: Start of the current anomalous episode (the first flagged or anomalous point of it).
        self.episode_start: float | None = None
        #: Exponentially weighted spacing of the series' points (a KPI may report every 5 windows).
        self.typical_gap: float | None = None
        #: Counts: (value, expected) of the last ``COUNT_SUM_WINDOWS[-1]`` points, for the rolling-sum tests.
        self._counts: deque[tuple[float, float]] | None = (
            deque(maxlen=COUNT_SUM_WINDOWS[-1]) if kind == "count" else None
        )
        #: One-sided CUSUM of the bad-direction z: a small shift that lasts (a slow degradation) adds up.
        self._cusum = 0.0
        #: Counts: the highest z of the sums over the last windows at the last point.
        self._count_sum_z = 0.0
        #: Values: a running estimate of the 99th percentile of |z| on learned points (normal noise: 2.576).
        self._tail = NORMAL_Q99
        self._tail_n = 0
        #: Values: the largest |z| of recent points, decaying (half-life ``RECENT_MAX_HALF_LIFE`` points).
        self._recent_max = 0.0

    @property
    def family(self) -> str:
        """The family judging the series (``auto`` gives counts and ratios ``seasonal``)."""
        return baseline_for(self.spec, self.kind)[0]

    def respec(self, spec: DetectorSpec) -> None:
        """Take new options of the same family and parameters, keeping what the baseline has learned."""
        if (spec.family, spec.params) != (self.spec.family, self.spec.params):
            raise ValueError("respec keeps the baseline: family and params must stay the same")
        self.spec = spec
        self._recent &= (1 << spec.of_last) - 1

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
        spec = self.spec
        verdict, learn, z = self._judge(ts, value, volume)
        if self.last_ts != _NEVER:
            gap = ts - self.last_ts
            self.typical_gap = gap if self.typical_gap is None else 0.9 * self.typical_gap + 0.1 * gap
        self.last_ts = ts
        if volume is not None:
            self.typical_volume = volume if self.typical_volume is None else 0.9 * self.typical_volume + 0.1 * volume
        anomalous = verdict.anomalous
        recent = self._recent = ((self._recent << 1) | anomalous) & ((1 << spec.of_last) - 1)
        # A point flags alone only in a plain series: a percentile of few events can be extreme by chance.
        flagged = anomalous and (
            recent.bit_count() >= spec.min_anomalous or (volume is None and self._alone(verdict.score, z))
        )
        if self._tail_n:  # value series: the recent largest |z| (judged points, learned or not)
            magnitude = abs(z)
            decayed = self._recent_max * RECENT_MAX_DECAY
            self._recent_max = magnitude if magnitude > decayed else decayed
        reason = verdict.reason
        if anomalous:
            self._anomalous_run += 1
            if self.episode_start is None:
                self.episode_start = ts
        else:
            self._anomalous_run = 0
            self.episode_start = None
            self._held = None
        # Flagged points are not learned (the baseline must not get used to an outage); a lone anomalous
        # point is, clipped to the band (a rare event must not pull the level to 0, nor one wild point set a
        # slot of the daily profile). While the drift sum builds up nothing is learned: a baseline that
        # followed a slow slide would never see it.
        relearn = self._anomalous_run >= spec.relearn_after
        if relearn:
            reason = f"level moved {self._anomalous_run} windows ago: learning it as the new normal"
        hold = self._cusum >= CUSUM_HOLD or self._count_sum_z >= COUNT_HOLD
        if learn and relearn:
            if self._anomalous_run == spec.relearn_after:
                rebase = getattr(self.baseline, "rebase", None)
                if rebase is not None:
                    rebase()
            if self._held:  # the run so far, from its start: the daily profile learns the new level's whole shape
                for held in self._held:
                    self.baseline.learn_one(*held)
                self._held = None
            self.baseline.learn_one(ts, value, volume)
        elif learn and not flagged and not hold:
            if self.kind == "value" and z == z:  # a lone anomalous point too: it is what a heavy tail looks like
                self._learn_tail(abs(z))
            lower, upper = verdict.lower, verdict.upper
            if upper is not None and lower is not None and (value > upper or value < lower):
                value = self._bounded(verdict, value)
            self.baseline.learn_one(ts, value, volume)
        elif learn and anomalous:
            if self._held is None:
                self._held = []
            self._held.append((ts, value, volume))
            learn_shape = getattr(self.baseline, "learn_shape", None)
            if learn_shape is not None:
                learn_shape(ts, value)
        if flagged or reason is not verdict.reason:
            verdict = verdict._replace(flagged=flagged, reason=reason)
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
        spec = self.spec
        expected = self.typical_volume
        cadence = self.typical_gap or 0.0
        overdue = ts - self.last_ts >= spec.silence_after * cadence if cadence else True
        silent = overdue and expected is not None and expected >= max(spec.min_volume, 1.0)
        warm = self.baseline.n_learned >= spec.warmup_points
        recent = self._recent = ((self._recent << 1) | silent) & ((1 << spec.of_last) - 1)
        flagged = silent and warm and recent.bit_count() >= spec.min_anomalous
        if silent:
            self._anomalous_run += 1
            if self.episode_start is None:
                self.episode_start = ts
            if self._anomalous_run >= spec.relearn_after:
                self.typical_volume = None
        reason = f"no point: silent where about {expected:.0f} events per window were expected" if silent else ""
        score = score_of_z(3 * spec.threshold, spec.threshold) if silent else 0.0
        return Verdict(ts, math.nan, None, None, None, score, silent, flagged, reason)

    def _alone(self, score: float, z: float) -> bool:
        """A value series' point flags by itself: past ``alone_score``, in a series whose tails are known and close
        to normal, and beyond the largest deviation it showed recently (a pattern that recurs daily does not)."""
        return (
            score >= self.spec.alone_score
            and self._tail_n >= TAIL_FAST_POINTS
            and self._tail <= ALONE_MAX_TAIL * NORMAL_Q99
            and abs(z) > self._recent_max
        )

    def _learn_tail(self, z: float) -> None:
        """Frugal streaming 99th percentile of |z|, in the log domain: x1.05 when above, /1.05^(1/99) when below.

        The first few hundred points take bigger steps, so a heavy-tailed series is known as one within a day.
        """
        fast = self._tail_n <= TAIL_FAST_POINTS
        self._tail_n += 1
        if z > self._tail:
            self._tail *= _TAIL_UP_FAST if fast else _TAIL_UP
        else:
            self._tail *= _TAIL_DOWN_FAST if fast else _TAIL_DOWN

    @property
    def tail_factor(self) -> float:
        """Values: how much wider than normal noise the series' tails are (1: normal; z is divided by it)."""
        return max(1.0, self._tail / NORMAL_Q99)

    # -- scoring -------------------------------------------------------------------------------
    def _judge(self, ts: float, value: float, volume: float | None) -> tuple[Verdict, bool, float]:
        """The verdict before duration rules, whether the point may be learned, and its z (NaN: none)."""
        spec = self.spec
        nan = math.nan
        estimate = self.baseline.expect(ts, value, volume)
        if not math.isfinite(value):
            return Verdict(ts, value, None, None, None, 0.0, False, False, "not a number"), False, nan
        if estimate is None:
            return Verdict(ts, value, None, None, None, 0.0, False, False, "learning"), True, nan
        kind = self.kind
        expected, scale, own = estimate
        if kind != "count" and volume is not None and volume < spec.min_volume:
            band = self._band(estimate, self._sigma(estimate, volume))
            verdict = Verdict(ts, value, expected, *band, 0.0, False, False, "too few events to judge")
            return verdict, False, nan
        reason = ""
        erratic = False
        if kind == "ratio":
            expected = 0.0 if expected < 0.0 else 1.0 if expected > 1.0 else expected
            if volume:
                # The baseline's scale already holds the binomial noise at the usual volume: the larger, not the sum.
                p = 1e-4 if expected < 1e-4 else 1 - 1e-4 if expected > 1 - 1e-4 else expected
                binomial = math.sqrt(p * (1 - p) / volume)
                sigma = binomial if binomial > scale else scale
            else:
                sigma = scale
            z = drift_z = raw_z = (value - expected) / sigma
            if volume and (z >= 1.0 or z <= -1.0):
                z = _ratio_z(value, expected, z, volume)
        elif kind == "count":
            sigma = self._sigma(estimate, volume)
            z = drift_z = raw_z = self._z(value, estimate, sigma, volume)
            z = self._with_count_sum(z, value, estimate)
        else:
            sigma = scale
            z = drift_z = raw_z = (value - expected) / sigma
            factor = self._tail / NORMAL_Q99
            if factor > 1.0:
                if factor >= ERRATIC_FACTOR:
                    erratic = True
                    reason = f"too erratic to judge: 1 point in 100 strays {factor:.0f} times further than normal noise"
                sigma *= factor
                z /= factor
        direction = spec.direction
        bad = abs(z) if direction == "both" else z if direction == "up" else -z
        threshold = spec.threshold
        if own is not None:
            # A family that scores itself (half_space_trees): threshold 4 (the default) means a score of 0.5.
            cut = min(0.99, threshold / 8)
            score = 0.5 * own / cut if own < cut else 0.5 + 0.5 * (own - cut) / (1.0 - cut + 1e-9)
            anomalous = own >= cut
        else:
            score = score_of_z(bad, threshold)
            anomalous = bad >= threshold
            if kind == "ratio":  # value series drift together with their noise
                # The sum takes the normal z: summed over many windows, the rare events' skew averages out.
                drift = _bad_part(drift_z, direction)
                drift = -4.0 if drift < -4.0 else 4.0 if drift > 4.0 else drift
                cusum = self._cusum + drift - CUSUM_ALLOWANCE
                cusum = self._cusum = 0.0 if cusum < 0.0 else CUSUM_LIMIT if cusum > CUSUM_LIMIT else cusum
                if cusum >= CUSUM_LIMIT and drift > 0 and not anomalous:
                    anomalous, reason = True, f"sustained drift (CUSUM {cusum:.1f})"
                    score = max(score, 0.5)
        if anomalous:
            off = abs(value - expected)
            anomalous = not erratic and off >= spec.min_delta
            if kind == "ratio" and volume:
                anomalous = anomalous and off * volume >= MIN_EVENTS_OFF
        warm = self.baseline.n_learned >= spec.warmup_points
        half = threshold * sigma
        lower, upper = expected - half, expected + half
        if kind != "value":
            lower = 0.0 if lower < 0.0 else lower
            if kind == "ratio" and upper > 1.0:
                upper = 1.0
        if not warm:
            reason, anomalous = "warming up", False
        return Verdict(ts, value, expected, lower, upper, score, anomalous, False, reason), True, raw_z

    def _with_count_sum(self, z: float, value: float, estimate: Estimate) -> float:
        """The largest of the window's z and the z of the sums over the last 2, 4, ... windows."""
        counts = self._counts
        if counts is None:
            counts = self._counts = deque(maxlen=COUNT_SUM_WINDOWS[-1])
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
            # Beyond what a float can hold, the normal z keeps far surges ranked instead of tied at the cap.
            return _z_of_tail(tail) if tail > 0 else max(_MAX_Z, (value - rate) / math.sqrt(rate))
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


def baseline_for(spec: DetectorSpec, kind: ValueKind) -> tuple[str, Mapping[str, Any]]:
    """The family and parameters a series of ``kind`` gets from ``spec``.

    ``auto`` judges counts and ratios with the ``seasonal`` family (the parameters both have carry over): their
    noise is the sampling noise the detector computes from the volume, around the seasonal mean, and a local
    level that chased single events would hide a surge.
    """
    if spec.family != "auto" or kind == "value":
        return spec.family, spec.params
    shared = parameters("seasonal")
    return "seasonal", {k: v for k, v in spec.params.items() if k in shared}


def _bad_part(z: float, direction: str) -> float:
    """``z`` as a deviation in the bad direction (negative when it goes the good way)."""
    if direction == "both":
        return abs(z)
    return z if direction == "up" else -z


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

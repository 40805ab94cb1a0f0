"""Half-space trees baseline: river's HalfSpaceTrees scores each point itself.

Each point becomes the features ``value``, ``volume`` (0 without one) and the
time of day as a point on a circle (``tod_sin``, ``tod_cos``), scaled to [0, 1]
by a running :class:`river.preprocessing.MinMaxScaler` and scored by
:class:`river.anomaly.HalfSpaceTrees`: a point that falls where few recent
points fell is anomalous. Two adjustments make the trees' score usable:

- the trees split the range [-3, 4] of each scaled feature rather than [0, 1],
  so a value beyond anything seen lands in a nearly empty region instead of
  sharing the outermost one with the largest normal values;
- the raw score (1 minus the mass along the point's path, relative to the
  largest possible) has no fixed meaning: normal points score 0.2 to 0.6 here
  (above 0.9 with [0, 1] limits), so :attr:`Estimate.score` is calibrated: 0.5
  at the running 99.5th percentile of the raw scores of the points learned
  (:class:`river.stats.Quantile`, as :class:`river.anomaly.QuantileFilter`
  thresholds a score), 0 and 1 at 0 and 1, linear in between.

The trees find values beyond those of recent points; a spike within a daily
swing mostly goes unnoticed (the time of day says little to trees whose window
is shorter than a day), and so do level shifts once a window has learned them.
The trees compare a point with the previous ``window_size`` points, so there is
no score until ``window_size`` points (and then 100 more, for the percentile)
were learned; meanwhile the estimate carries no score and the series is judged
by its band. The band (``expected``, ``scale``) is an exponentially weighted mean
and mean absolute deviation of the value, for dashboards. The trees dominate the
state: about 170 KB pickled with the default 10 trees of height 8.

>>> import random
>>> from detectors.half_space_trees import HalfSpaceTreesBaseline
>>> rng = random.Random(7)
>>> b = HalfSpaceTreesBaseline(n_trees=5, height=6, window_size=50, min_points=20)
>>> for i in range(400):
...     ts = i * 300.0
...     if i == 100:
...         print(b.expect(ts, 50.0, 1000.0).score)  # the first window: no score yet
...     b.learn_one(ts, 50.0 + rng.gauss(0.0, 1.0), 1000.0 + rng.gauss(0.0, 30.0))
None
>>> normal = b.expect(400 * 300.0, 50.0, 1000.0)
>>> spike = b.expect(400 * 300.0, 60.0, 1000.0)
>>> round(normal.expected), normal.score < 0.5 < spike.score
(50, True)
"""

from __future__ import annotations

import math
from typing import Any

from river import anomaly, preprocessing, stats

from detectors.baseline import Estimate

_FEATURES = ("value", "volume", "tod_sin", "tod_cos")
#: The trees split [-_PAD, 1 + _PAD] of each min-max scaled feature.
_PAD = 3.0
#: The percentile of the raw scores of learned points that the calibrated score puts at 0.5.
_QUANTILE = 0.995
#: Raw scores learned before the percentile (and so the score) is trusted.
_MIN_SCORED = 100
#: Weight of a new point in the band's mean and mean absolute deviation.
_BAND_ALPHA = 0.05


class HalfSpaceTreesBaseline:
    """River's HalfSpaceTrees on value, volume and time of day (see the module docstring).

    Parameters
    ----------
    n_trees
        Number of trees.
    height
        Height of each tree (a tree has ``2 ** (height + 1) - 1`` nodes: memory grows with it).
    window_size
        Points per window: the trees score a point against the mass of the previous window.
    seed
        Seed of the random splits.
    min_points
        Points learned before the baseline gives an expectation (its band); the score
        comes only after ``window_size`` + 100 points.
    """

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        seed: int = 42,
        min_points: int = 50,
    ) -> None:
        self.n_trees = _check_int("n_trees", n_trees, 1, 100)
        self.height = _check_int("height", height, 1, 12)
        self.window_size = _check_int("window_size", window_size, 10, 100_000)
        self.seed = _check_int("seed", seed, 0, 2**32 - 1)
        self.min_points = _check_int("min_points", min_points, 1, 100_000)
        self._scaler: Any = preprocessing.MinMaxScaler()
        self._trees: Any = anomaly.HalfSpaceTrees(
            n_trees=self.n_trees,
            height=self.height,
            window_size=self.window_size,
            limits={name: (-_PAD, 1.0 + _PAD) for name in _FEATURES},
            seed=self.seed,
        )
        self._model: Any = self._scaler | self._trees
        self._threshold: Any = stats.Quantile(_QUANTILE)
        self._n_scored = 0
        self._n = 0
        self._mean = 0.0
        self._deviation = 0.0

    @property
    def n_learned(self) -> int:
        """Points learned so far."""
        return self._n

    @staticmethod
    def _features(ts: float, value: float, volume: float | None) -> dict[str, float]:
        angle = 2.0 * math.pi * (ts % 86400.0) / 86400.0
        volume = volume if volume is not None and math.isfinite(volume) else 0.0
        return {"value": value, "volume": volume, "tod_sin": math.sin(angle), "tod_cos": math.cos(angle)}

    def _value_varies(self) -> bool:
        """Whether the learned values span a range (the scaler maps everything to 0 otherwise)."""
        low, high = self._scaler.min["value"].get(), self._scaler.max["value"].get()
        return bool(high > low)

    def expect(self, ts: float, value: float, volume: float | None) -> Estimate | None:
        """The band, and the calibrated score of the point once the trees can score; ``None`` before ``min_points``."""
        if self._n < self.min_points:
            return None
        score = None
        if self._n_scored >= _MIN_SCORED and math.isfinite(value) and self._value_varies():
            raw = float(self._model.score_one(self._features(ts, value, volume)))
            score = _calibrate(raw, float(self._threshold.get()))
        floor = 1e-9 + 1e-4 * abs(self._mean)
        return Estimate(self._mean, max(self._deviation * 1.25, floor), score)

    def learn_one(self, ts: float, value: float, volume: float | None) -> None:
        """Record the point's raw score (for the percentile), then learn it into the trees and the band."""
        if not math.isfinite(value):
            return
        x = self._features(ts, value, volume)
        if self._n >= self.window_size:  # the trees have a reference window
            self._threshold.update(float(self._model.score_one(x)))
            self._n_scored += 1
        self._model.learn_one(x)
        self._n += 1
        if self._n > 1:
            self._deviation += max(_BAND_ALPHA, 1.0 / (self._n - 1)) * (abs(value - self._mean) - self._deviation)
        self._mean += max(_BAND_ALPHA, 1.0 / self._n) * (value - self._mean)


def _calibrate(raw: float, threshold: float) -> float:
    """Map a raw score in [0, 1] piecewise linearly so that ``threshold`` becomes 0.5."""
    if threshold <= 0.0 or threshold >= 1.0:
        return raw
    if raw <= threshold:
        return 0.5 * max(raw, 0.0) / threshold
    return min(0.5 + 0.5 * (raw - threshold) / (1.0 - threshold), 1.0)


def _check_int(name: str, value: int, low: int, high: int) -> int:
    """``value`` as an int, or ``ValueError`` naming the parameter and its range."""
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or value != int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], not {value!r}")
    return int(value)

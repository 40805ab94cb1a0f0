"""Robust baseline: the rolling median of the last points, with the rolling IQR as the scale.

The expectation is the median of the last ``window`` values and the scale their
interquartile range divided by 1.349 (the IQR of a normal distribution is 1.349
standard deviations), so a few outliers in the window move neither. Both come
from river's rolling statistics (:class:`river.stats.RollingQuantile`,
:class:`river.stats.RollingIQR`), which keep the window sorted: the state is the
window twice, about 2.5 KB pickled for the default 60 points. The baseline has no
notion of time: it suits series without a daily pattern, or with one much slower
than the window.

>>> from detectors.robust import RobustBaseline
>>> b = RobustBaseline(window=20, min_points=5)
>>> for i in range(30):
...     _ = b.expect(i * 60.0, 0.0, None)
...     b.learn_one(i * 60.0, 10.0 + (i % 5) - 2, None)  # 8, 9, 10, 11, 12, 8, ...
>>> b.learn_one(30 * 60.0, 1000.0, None)  # one outlier moves neither the median nor the IQR much
>>> e = b.expect(31 * 60.0, 0.0, None)
>>> e.expected, round(e.scale, 3)
(10.0, 1.668)
"""

from __future__ import annotations

import math
from typing import Any

from river import stats

from detectors.baseline import Estimate

#: The IQR of a normal distribution, in standard deviations.
_IQR_PER_SIGMA = 1.349


class RobustBaseline:
    """Rolling median and IQR of the last ``window`` points (see the module docstring).

    Parameters
    ----------
    window
        Number of most recent points the median and the IQR are taken over.
    min_points
        Points learned before the baseline gives an expectation.
    """

    def __init__(self, window: int = 60, min_points: int = 10) -> None:
        self.window = _check_int("window", window, 4, 100_000)
        self.min_points = _check_int("min_points", min_points, 1, 100_000)
        self._median: Any = stats.RollingQuantile(q=0.5, window_size=self.window)
        self._iqr: Any = stats.RollingIQR(window_size=self.window)
        self._n = 0

    @property
    def n_learned(self) -> int:
        """Points learned so far."""
        return self._n

    def expect(self, ts: float, value: float, volume: float | None) -> Estimate | None:
        """The rolling median, with IQR / 1.349 as the scale; ``None`` before ``min_points``."""
        if self._n < self.min_points:
            return None
        median = float(self._median.get())
        floor = 1e-9 + 1e-4 * abs(median)
        return Estimate(median, max(float(self._iqr.get()) / _IQR_PER_SIGMA, floor))

    def learn_one(self, ts: float, value: float, volume: float | None) -> None:
        """Add the value to the window (dropping the oldest once it is full)."""
        if not math.isfinite(value):
            return
        self._median.update(value)
        self._iqr.update(value)
        self._n += 1


def _check_int(name: str, value: int, low: int, high: int) -> int:
    """``value`` as an int, or ``ValueError`` naming the parameter and its range."""
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or value != int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], not {value!r}")
    return int(value)

"""Seasonal baseline: a slow level plus a learned daily (or weekly) profile, with a robust scale.

The expectation at ``ts`` is ``level + profile[slot(ts)]``: ``level`` is an
exponentially weighted mean of the series, ``profile`` an exponentially
weighted mean of ``value - level`` per slot of the period (e.g. 96 quarter
hours of a day), trusted in proportion to how often the slot has been seen.
The scale is an exponentially weighted mean absolute residual (times 1.25,
which makes it a standard deviation for normal noise). State is a few floats
and two arrays per series: about 2 KB pickled for a daily profile in 15 min slots.

>>> from detectors.seasonal import SeasonalBaseline
>>> b = SeasonalBaseline(period_s=3600, slot_s=600)
>>> for i in range(200):
...     ts = i * 60.0
...     _ = b.expect(ts, 0.0, None)
...     b.learn_one(ts, 10.0 + (5.0 if (ts % 3600) < 600 else 0.0), None)
>>> round(b.expect(240 * 60.0, 0.0, None).expected)  # the first 10 minutes of an hour: the high slot
14
>>> round(b.expect(250 * 60.0, 0.0, None).expected)
10
"""

from __future__ import annotations

import math

from detectors.baseline import Estimate
from detectors.daily_profile import DailyProfile, check_fractions


class SeasonalBaseline(DailyProfile):
    """Level + per-slot profile + robust scale (see the module docstring).

    Parameters
    ----------
    period_s
        Length of the season: 86400 (daily) or 604800 (weekly).
    slot_s
        Width of a profile slot; ``period_s`` must be a multiple of it.
    level_alpha
        Weight of a new point in the level (0.02: about 50 points of memory).
    profile_alpha
        Weight of a new day's visit of a slot in its offset (shared by the visit's points).
    scale_alpha
        Weight of a new residual in the scale.
    min_points
        Points learned before the baseline gives an expectation.
    """

    def __init__(
        self,
        period_s: int = 86400,
        slot_s: int = 900,
        level_alpha: float = 0.005,
        profile_alpha: float = 0.2,
        scale_alpha: float = 0.02,
        min_points: int = 5,
    ) -> None:
        check_fractions(level_alpha=level_alpha, profile_alpha=profile_alpha, scale_alpha=scale_alpha)
        self._init_profile(period_s, slot_s, single=False)
        self.level_alpha = level_alpha
        self.profile_alpha = profile_alpha
        self.scale_alpha = scale_alpha
        self.min_points = min_points
        self._level = 0.0
        self._scale = 0.0
        self._n = 0

    @property
    def n_learned(self) -> int:
        """Points learned so far."""
        return self._n

    def expect(self, ts: float, value: float, volume: float | None) -> Estimate | None:
        """Level plus the slot's offset; ``None`` before ``min_points``."""
        if self._n < self.min_points:
            return None
        slot = self._slot(ts)
        expected = self._level + self._offset(slot)
        floor = 1e-9 + 1e-4 * abs(self._level)
        return Estimate(expected, max(self._scale * 1.25, floor))

    def learn_one(self, ts: float, value: float, volume: float | None) -> None:
        """Update level, the slot's offset and the scale."""
        if not math.isfinite(value):
            return
        slot = self._slot(ts)
        n = self._n = self._n + 1
        offset = self._offset(slot)  # the profile does not change before the level below
        if n > 1:
            residual = abs(value - (self._level + offset))
            scale = self._scale
            scale_weight = 1.0 / (n - 1) if (n - 1) * self.scale_alpha < 1.0 else self.scale_alpha
            if n > self.min_points:  # Huber-like: a run of large residuals (a ramp) cannot inflate the scale fast
                cap = 3.0 * scale + 1e-12
                residual = cap if residual > cap else residual
            self._scale = scale + scale_weight * (residual - scale)
        # Bias-corrected start: a plain mean until 1/alpha points have been seen.
        level_weight = 1.0 / n if n * self.level_alpha < 1.0 else self.level_alpha
        level = self._level = self._level + level_weight * (value - self._level - offset)
        seen = self._seen[slot]
        self._visit(slot)
        # profile_alpha is per visit (per day), shared by the visit's points.
        self._learn_offset(slot, seen, self._slot_weight(slot, seen, self.profile_alpha), value - level)

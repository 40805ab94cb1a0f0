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
from array import array

from detectors.baseline import Estimate


class SeasonalBaseline:
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
        if period_s <= 0 or slot_s <= 0 or period_s % slot_s:
            raise ValueError(f"period_s ({period_s}) must be a positive multiple of slot_s ({slot_s})")
        for name, alpha in (
            ("level_alpha", level_alpha),
            ("profile_alpha", profile_alpha),
            ("scale_alpha", scale_alpha),
        ):
            if not 0 < alpha <= 1:
                raise ValueError(f"{name} must be in (0, 1], not {alpha}")
        self.period_s = period_s
        self.slot_s = slot_s
        self.level_alpha = level_alpha
        self.profile_alpha = profile_alpha
        self.scale_alpha = scale_alpha
        self.min_points = min_points
        slots = period_s // slot_s
        self._profile = array("d", bytes(8 * slots))
        self._seen = array("H", bytes(2 * slots))
        #: Visits of each slot (a day's run of points in it), and the slot of the last point.
        self._visits = array("H", bytes(2 * slots))
        self._last_slot = -1
        self._level = 0.0
        self._scale = 0.0
        self._n = 0
        #: Sum of the profile over the slots seen, and how many: offsets are centred on their mean.
        self._profile_sum = 0.0
        self._slots_seen = 0

    @property
    def n_learned(self) -> int:
        """Points learned so far."""
        return self._n

    def _slot(self, ts: float) -> int:
        return int(ts % self.period_s) // self.slot_s

    def _completed_visits(self, slot: int) -> int:
        """Visits of the slot before the current one: the current visit must not explain itself."""
        visits = self._visits[slot]
        return visits - 1 if slot == self._last_slot and visits else visits

    def _offset(self, slot: int) -> float:
        completed = self._completed_visits(slot)
        if not completed or not self._slots_seen:
            return 0.0
        centred = self._profile[slot] - self._profile_sum / self._slots_seen
        return centred * completed / (completed + 1.0)

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
        self._n += 1
        # Bias-corrected start: a plain mean until 1/alpha points have been seen.
        level_weight = max(self.level_alpha, 1.0 / self._n)
        if self._n > 1:
            residual = abs(value - (self._level + self._offset(slot)))
            scale_weight = max(self.scale_alpha, 1.0 / (self._n - 1))
            if self._n > self.min_points:  # Huber-like: a run of large residuals (a ramp) cannot inflate the scale fast
                residual = min(residual, 3.0 * self._scale + 1e-12)
            self._scale += scale_weight * (residual - self._scale)
        self._level += level_weight * (value - self._level - self._offset(slot))
        seen = self._seen[slot]
        if not seen:
            self._slots_seen += 1
        if slot != self._last_slot:
            self._last_slot = slot
            if self._visits[slot] < 65535:
                self._visits[slot] += 1
        # profile_alpha is per visit (per day), shared by the visit's points.
        per_visit = seen / max(self._visits[slot] - 1, 1) if self._visits[slot] > 1 else max(seen, 1)
        offset_weight = max(self.profile_alpha / per_visit, 1.0 / (seen + 1))
        change = offset_weight * (value - self._level - self._profile[slot])
        self._profile[slot] += change
        self._profile_sum += change
        if seen < 65535:
            self._seen[slot] = seen + 1

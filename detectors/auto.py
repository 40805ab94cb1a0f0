"""Auto baseline (the default): a seasonal model and a local-level model, the one that forecasts better chosen per point.

Both models share a daily profile of offsets per slot (e.g. 96 quarter hours),
learned as in :class:`~detectors.seasonal.SeasonalBaseline`:

- the **seasonal** model expects ``level + offset(slot)`` with a slow level:
  right for a series that returns to its daily pattern (traffic, success
  rates, most KPIs), where a fast level would chase its noise;
- the **local** model expects ``local + offset(slot)`` with a fast level
  (exponentially weighted, ``local_alpha``): right for a series that wanders
  (a random walk, a resource filling up, a trend), where the slow level lags
  and its residuals are the wander rather than the noise.

Series whose points come with a volume (a percentile or a mean of a
window's events) use the seasonal model only: their noise is sampling noise
around the daily pattern, which a fast level would chase. Each model's
one-step absolute error is tracked (exponentially weighted,
each residual capped at a few times the current error so that one spike
cannot inflate it); the local model is used while its error is below
``switch_margin`` times the seasonal one's. The scale is the chosen model's
error times 1.25 (a standard deviation for normal noise), but never below:

- the slot's own typical error (a series that is noisy at 9 am and quiet at
  night, or a noiseless periodic series whose steps fall inside a slot, is
  judged by what that slot usually shows), and
- a floor from the measurement: the series' resolution (the smallest step
  between two different values it has shown: 1 for a count, 0.1 for a
  percentage with one decimal) and a millionth of its level, so a flat or
  quantised stretch is not divided by ~0.

About 1.6 KB of state per series for a daily profile in 15-minute slots.

>>> import random
>>> from detectors.auto import AutoBaseline
>>> b, rng, x = AutoBaseline(period_s=3600, slot_s=600), random.Random(1), 100.0
>>> for i in range(600):  # a random walk: the local model forecasts it, the seasonal one lags
...     x += rng.gauss(0.0, 1.0)
...     b.learn_one(i * 60.0, x, None)
>>> b.model, round(x, 1), round(b.expect(600 * 60.0, 0.0, None).expected, 1)
('local', 111.9, 110.1)
"""

from __future__ import annotations

import math
from array import array
from typing import Literal

from detectors.baseline import Estimate
from detectors.daily_profile import DailyProfile, check_fractions

#: A residual counts into a model's error at most this many times the error so far (plus the floor).
_ERROR_CAP = 4.0
#: The scale is at least this share of the slot's own typical error.
_SLOT_SHARE = 0.8
#: Normal noise: the standard deviation is 1.25 times the mean absolute deviation.
_MAD_TO_SIGMA = 1.25
#: The scale is at least this share of the series' spread (a noiseless series is judged to within a few percent).
_SPREAD_SHARE = 0.05
#: The level floor: a scale of at least this share of the level's magnitude.
_RELATIVE_FLOOR = 1e-6


class AutoBaseline(DailyProfile):
    """Seasonal or local level, chosen by recent one-step error, over a shared daily profile (see the module docstring).

    Parameters
    ----------
    period_s
        Length of the season: 86400 (daily) or 604800 (weekly).
    slot_s
        Width of a profile slot; ``period_s`` must be a multiple of it.
    level_alpha
        Weight of a new point in the seasonal model's slow level.
    local_alpha
        Weight of a new point in the local model's fast level.
    profile_alpha
        Weight of a new day's visit of a slot in its offset and its typical error.
    error_alpha
        Weight of a new residual in each model's error.
    switch_margin
        The local model is used while its error is below this share of the seasonal model's.
    min_points
        Points learned before the baseline gives an expectation.
    """

    __slots__ = (
        "_err_local",
        "_err_n",
        "_err_seasonal",
        "_floor_value",
        "_last_value",
        "_level",
        "_local",
        "_margin",
        "_n",
        "_resolution",
        "_slot_error",
        "_spread",
        "error_alpha",
        "level_alpha",
        "local_alpha",
        "min_points",
        "profile_alpha",
        "switch_margin",
    )

    def __init__(
        self,
        period_s: int = 86400,
        slot_s: int = 600,
        level_alpha: float = 0.01,
        local_alpha: float = 0.3,
        profile_alpha: float = 0.2,
        error_alpha: float = 0.02,
        switch_margin: float = 0.8,
        min_points: int = 5,
    ) -> None:
        check_fractions(
            level_alpha=level_alpha,
            local_alpha=local_alpha,
            profile_alpha=profile_alpha,
            error_alpha=error_alpha,
            switch_margin=switch_margin,
        )
        if not 1 <= min_points <= 100_000:
            raise ValueError(f"min_points must be in [1, 100000], not {min_points}")
        self._init_profile(period_s, slot_s, single=True)
        self.level_alpha = level_alpha
        self.local_alpha = local_alpha
        self.profile_alpha = profile_alpha
        self.error_alpha = error_alpha
        self.switch_margin = switch_margin
        #: The margin in force: ``switch_margin``, or 0 (never local) once the series shows it summarises events.
        self._margin = switch_margin
        self.min_points = int(min_points)
        #: Each slot's typical absolute error (of the model in use), as the profile learns its offset.
        self._slot_error = array("f", bytes(4 * (period_s // slot_s)))
        self._level = 0.0
        self._local = 0.0
        self._err_seasonal = 0.0
        self._err_local = 0.0
        self._n = 0
        #: Residuals counted into the errors since the start or the last :meth:`rebase`.
        self._err_n = 0
        self._resolution = math.inf
        self._last_value = math.nan
        #: Exponentially weighted mean absolute deviation of the values from the slow level (daily swing included).
        self._spread = 0.0
        #: The scale floor (see the module docstring), updated as the point is learned.
        self._floor_value = 1e-12

    @property
    def n_learned(self) -> int:
        """Points learned so far."""
        return self._n

    @property
    def model(self) -> Literal["seasonal", "local"]:
        """The model the next expectation comes from."""
        return "local" if self._err_local < self._margin * self._err_seasonal else "seasonal"

    def expect(self, ts: float, value: float, volume: float | None) -> Estimate | None:
        """The chosen model's forecast; the scale as the module docstring says; ``None`` before ``min_points``."""
        if self._n < self.min_points:
            return None
        slot = self._slot(ts)
        offset = self._offset(slot)
        if self._err_local < self._margin * self._err_seasonal:
            expected, error = self._local + offset, self._err_local
        else:
            expected, error = self._level + offset, self._err_seasonal
        scale = _MAD_TO_SIGMA * error
        if self._visits[slot] > (slot == self._last_slot):  # a completed visit: the slot's own error is known
            slot_scale = _SLOT_SHARE * _MAD_TO_SIGMA * self._slot_error[slot]
            if slot_scale > scale:
                scale = slot_scale
        floor = self._floor_value
        return Estimate(expected, scale if scale > floor else floor)

    def learn_one(self, ts: float, value: float, volume: float | None) -> None:
        """Update both levels, their errors, the slot's offset and typical error, and the resolution."""
        if not math.isfinite(value):
            return
        slot = self._slot(ts)
        offset = self._offset(slot)
        n = self._n = self._n + 1
        if n == 1 and volume is not None:
            # A percentile or mean of a window's events returns to its profile; its noise is sampling noise,
            # which a fast level would chase. Only plain series (no volume) may use the local model.
            self._margin = 0.0
        step = abs(value - self._last_value)
        if step > 1e-9 * abs(value) and step < self._resolution:
            self._resolution = step
        self._last_value = value
        self._visit(slot)
        level = self._level
        if n == 1:
            self._level = self._local = value
            residual, capped = 0.0, False
        elif self._err_n < 0:  # just rebased: the local level starts at the new value
            self._local = value - offset
            self._err_n = 0
            residual, capped = abs(value - self._local - offset), False
        else:
            floor = self._floor_value
            err_n = self._err_n = self._err_n + 1
            weight = 1.0 / err_n if err_n * self.error_alpha < 1.0 else self.error_alpha
            capped = err_n > self.min_points
            r_seasonal = abs(value - level - offset)
            r_local = abs(value - self._local - offset)
            err_seasonal, err_local = self._err_seasonal, self._err_local
            if capped:
                r_seasonal = min(r_seasonal, _ERROR_CAP * err_seasonal + floor)
                r_local = min(r_local, _ERROR_CAP * err_local + floor)
            residual = r_local if err_local < self._margin * err_seasonal else r_seasonal
            self._spread += weight * (abs(value - level) - self._spread)
            self._err_seasonal = err_seasonal + weight * (r_seasonal - err_seasonal)
            self._err_local = err_local + weight * (r_local - err_local)
            level_weight = 1.0 / n if n * self.level_alpha < 1.0 else self.level_alpha
            self._level = level + level_weight * (value - level - offset)
            self._local += self.local_alpha * (value - self._local - offset)
        self._learn_slot(slot, value, residual, capped)
        resolution = self._resolution if self._resolution < math.inf else 0.0
        self._floor_value = max(resolution, _SPREAD_SHARE * self._spread, _RELATIVE_FLOOR * abs(self._level), 1e-12)

    def learn_shape(self, ts: float, value: float) -> None:
        """Learn a point the detector holds back (flagged) into its slot's offset and typical error only, not the
        levels: a pattern that comes back at the same time every day becomes normal within days, while one
        outage moves only its slots, by one visit's weight."""
        if not math.isfinite(value) or not self._n:
            return
        slot = self._slot(ts)
        self._visit(slot)
        offset = self._offset(slot)
        base = self._local if self._err_local < self._margin * self._err_seasonal else self._level
        self._learn_slot(slot, value, abs(value - base - offset), True)

    def _learn_slot(self, slot: int, value: float, residual: float, capped: bool) -> None:
        """The slot's typical error (each residual capped, once known, at a few times it) and its offset."""
        seen = self._seen[slot]
        weight = self._slot_weight(slot, seen, self.profile_alpha)
        previous = self._slot_error[slot]
        cap = _ERROR_CAP * previous + self._floor_value
        if seen and capped and residual > cap:
            residual = cap
        self._slot_error[slot] = previous + weight * (residual - previous)
        self._learn_offset(slot, seen, weight, value - self._level)

    def rebase(self) -> None:
        """The series has moved to a new level for good: the local level restarts at the next value, and both
        models' errors are measured afresh (uncapped), so the scale fits the new regime at once."""
        self._err_n = -1

"""Forecast baselines: river's online forecasters, judged by their one-step residuals.

The expectation at a point is the forecaster's one-step-ahead forecast, made
from the points before it; the scale is an exponentially weighted mean absolute
one-step residual (times 1.25, which makes it a standard deviation for normal
noise). River's forecasters learn ``y`` alone and assume one point per step, in
order, so the timestamps are ignored: points arrive one per window.

- :class:`HoltWintersBaseline` wraps :class:`river.time_series.HoltWinters`
  (additive): a smoothed level, trend and, optionally, a season of
  ``seasonality`` points. A few hundred bytes pickled without a season.
- :class:`SnarimaxBaseline` wraps :class:`river.time_series.SNARIMAX`: an online
  linear regression on lagged values and residuals (ARIMA with seasonal terms).
  The target is standardised (:class:`river.preprocessing.TargetStandardScaler`):
  river's default regressor learns its intercept at 0.01 per point, so a series
  around 95 would be forecast near 0 for hundreds of points. About 2 KB pickled.

A forecaster that fails (an arithmetic error, a non-finite forecast) is
replaced by a new one, with a new scale: the baseline gives no expectation
until the new one has learned enough (the last value stands in for a forecast
that fails in :meth:`expect`).

>>> from detectors.forecast import HoltWintersBaseline
>>> b = HoltWintersBaseline(alpha=0.5, beta=0.1)
>>> for i in range(50):
...     _ = b.expect(i * 60.0, 0.0, None)
...     b.learn_one(i * 60.0, 100.0 + 2.0 * i + (1.0 if i % 2 else -1.0), None)  # a trend of 2 per point, +-1
>>> e = b.expect(50 * 60.0, 0.0, None)
>>> round(e.expected), 1.0 < e.scale < 3.0
(200, True)
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from river import linear_model, preprocessing, time_series

from detectors.baseline import Estimate

#: Weight of a new absolute residual in the scale.
_SCALE_ALPHA = 0.05
#: Residuals seen before the scale is trusted (on top of ``min_points``).
_MIN_RESIDUALS = 5
#: What a failing forecaster may raise (anything else is a bug and propagates).
_MODEL_ERRORS = (ArithmeticError, IndexError, ValueError)


class _ForecastBaseline:
    """One-step forecast + residual scale around a river forecaster; subclasses build and feed the model."""

    min_points: int
    #: Points the model learns before its forecasts (and residuals) count.
    _burn_in: int

    def _init_state(self) -> None:
        self._n = 0
        self._last: float | None = None
        self._restart()

    def _restart(self) -> None:
        """A new model, and a new scale (the old one measured the old model)."""
        self._model: Any = self._new_model()
        self._model_n = 0
        self._n_residuals = 0
        self._abs_residual = 0.0
        #: The model's forecast of the next point, once asked (it changes only when the model learns).
        self._next: float | None = None
        self._next_known = False

    def _new_model(self) -> Any:
        raise NotImplementedError

    def _learn_model(self, y: float) -> None:
        self._model.learn_one(y)

    @property
    def n_learned(self) -> int:
        """Points learned so far."""
        return self._n

    def _forecast(self) -> float | None:
        """The model's one-step forecast; ``None`` if it cannot give a finite one."""
        if not self._next_known:
            try:
                y = float(self._model.forecast(horizon=1)[0])
            except _MODEL_ERRORS:
                y = math.nan
            self._next = y if math.isfinite(y) else None
            self._next_known = True
        return self._next

    def expect(self, ts: float, value: float, volume: float | None) -> Estimate | None:
        """The one-step forecast (the last value while the model cannot forecast); ``None`` before ``min_points``."""
        if self._n < self.min_points or self._n_residuals < _MIN_RESIDUALS or self._last is None:
            return None
        forecast = self._forecast()
        expected = self._last if forecast is None else forecast
        floor = 1e-9 + 1e-4 * abs(expected)
        return Estimate(expected, max(self._abs_residual * 1.25, floor))

    def learn_one(self, ts: float, value: float, volume: float | None) -> None:
        """Update the scale with the point's residual, then teach the model the point."""
        if not math.isfinite(value):
            return
        if self._model_n >= self._burn_in:
            forecast = self._forecast()
            if forecast is None:  # the model broke down
                self._restart()
            else:
                self._n_residuals += 1
                weight = max(_SCALE_ALPHA, 1.0 / self._n_residuals)  # a plain mean at the start
                self._abs_residual += weight * (abs(value - forecast) - self._abs_residual)
        try:
            self._learn_model(value)
        except _MODEL_ERRORS:
            self._restart()
        else:
            self._model_n += 1
            self._next_known = False
        self._last = value
        self._n += 1


class HoltWintersBaseline(_ForecastBaseline):
    """Additive Holt-Winters: level, trend and optional season (see the module docstring).

    River's additive season starts from ``y / level`` (its multiplicative formula),
    which is wrong in scale and fails on a first season averaging 0, and its trend
    from the mean difference of the first season's points, which is the season's
    shape; this class starts them from ``y - level`` and 0 instead.

    Parameters
    ----------
    alpha
        Smoothing of the level, in (0, 1]: the weight of a new point.
    beta
        Smoothing of the trend, in [0, 1]; 0 means no trend (only without a season).
    gamma
        Smoothing of the season, in [0, 1]; unused without a season.
    seasonality
        Points per season (e.g. 96 for a daily season of 15 min windows); 0 for none.
    min_points
        Points learned before the baseline gives an expectation (and, with a season,
        at least a season plus a few points).
    """

    def __init__(
        self,
        alpha: float = 0.3,
        beta: float = 0.05,
        gamma: float = 0.2,
        seasonality: int = 0,
        min_points: int = 10,
    ) -> None:
        self.alpha = _check_fraction("alpha", alpha, zero_ok=False)
        self.beta = _check_fraction("beta", beta, zero_ok=True)
        self.gamma = _check_fraction("gamma", gamma, zero_ok=True)
        self.seasonality = _check_int("seasonality", seasonality, 0, 100_000)
        if self.seasonality == 1:
            raise ValueError("seasonality must be 0 (none) or an integer in [2, 100000], not 1")
        if self.seasonality and not self.beta:
            raise ValueError("beta must be in (0, 1] when seasonality is set (river's season needs a trend)")
        self.min_points = _check_int("min_points", min_points, 1, 100_000)
        self._burn_in = max(2, self.seasonality)
        self._init_state()

    def _new_model(self) -> Any:
        holt_winters: Any = time_series.HoltWinters  # untyped in river
        return holt_winters(
            alpha=self.alpha,
            beta=self.beta or None,
            gamma=self.gamma if self.seasonality else None,
            seasonality=self.seasonality,
        )

    def _learn_model(self, y: float) -> None:
        model = self._model
        if self.seasonality and not model._initialized and len(model._first_values) == self.seasonality - 1:
            # The point completing the first season: initialise as river does, but with additive seasons,
            # and no trend (within one season, the differences are the season's, not a trend).
            first = [*model._first_values, y]
            level = statistics.fmean(first)
            model._first_values.append(y)
            model.level.append(level)
            model.trend.append(0.0)
            model.season.extend(v - level for v in first)
            model._initialized = True
        else:
            model.learn_one(y)


class SnarimaxBaseline(_ForecastBaseline):
    """(Seasonal) ARIMA learnt online by river's SNARIMAX (see the module docstring).

    Parameters
    ----------
    p
        Autoregressive order: past values used as features.
    d
        Differencing order (1: the model forecasts the change from the last value).
    q
        Moving-average order: past one-step errors used as features.
    m
        Season length in points, for the seasonal terms (``sp``, ``sd``, ``sq``).
    sp
        Seasonal autoregressive order: values 1..sp seasons back.
    sd
        Seasonal differencing order.
    sq
        Seasonal moving-average order.
    min_points
        Points learned before the baseline gives an expectation (and at least the
        lags the model needs plus a few points).
    """

    def __init__(
        self,
        p: int = 2,
        d: int = 0,
        q: int = 1,
        m: int = 1,
        sp: int = 0,
        sd: int = 0,
        sq: int = 0,
        min_points: int = 20,
    ) -> None:
        self.p = _check_int("p", p, 0, 100)
        self.d = _check_int("d", d, 0, 2)
        self.q = _check_int("q", q, 0, 100)
        self.m = _check_int("m", m, 1, 100_000)
        self.sp = _check_int("sp", sp, 0, 10)
        self.sd = _check_int("sd", sd, 0, 2)
        self.sq = _check_int("sq", sq, 0, 10)
        self.min_points = _check_int("min_points", min_points, 1, 100_000)
        lags = max(self.p, self.q, self.m * self.sp, self.m * self.sq)
        self._burn_in = self.d + self.m * self.sd + lags
        self._init_state()

    def _new_model(self) -> Any:
        linear: Any = preprocessing.StandardScaler() | linear_model.LinearRegression()  # a Regressor at runtime
        regressor = preprocessing.TargetStandardScaler(regressor=linear)
        return time_series.SNARIMAX(
            p=self.p, d=self.d, q=self.q, m=self.m, sp=self.sp, sd=self.sd, sq=self.sq, regressor=regressor
        )


def _check_int(name: str, value: int, low: int, high: int) -> int:
    """``value`` as an int, or ``ValueError`` naming the parameter and its range."""
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or value != int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], not {value!r}")
    return int(value)


def _check_fraction(name: str, value: float, *, zero_ok: bool) -> float:
    """``value`` as a float in [0, 1] (or (0, 1]), or ``ValueError`` naming the parameter and its range."""
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or not (0 <= value <= 1 if zero_ok else 0 < value <= 1):
        raise ValueError(f"{name} must be in {'[0, 1]' if zero_ok else '(0, 1]'}, not {value!r}")
    return float(value)

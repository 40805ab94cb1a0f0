"""The baseline families: pickling, tracking a series, flagging a spike, bounded memory, warm-up.

Modelled on river's ``check_estimator`` (``check_pickling``,
``check_bounded_memory_growth``), run on every family of :mod:`detectors.families`.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from detectors.auto import AutoBaseline
from detectors.baseline import Baseline, Estimate
from detectors.families import FAMILIES, check_params, parameters
from detectors.forecast import HoltWintersBaseline, SnarimaxBaseline
from detectors.half_space_trees import HalfSpaceTreesBaseline
from detectors.robust import RobustBaseline
from detectors.seasonal import SeasonalBaseline

STEP = 300.0  # one point per 5 min window
PERIOD = 48  # points per season of the seasonal series
SIGMA = 1.0
LEVEL = 100.0

Factory = Callable[[], Baseline]

DEFAULTS: dict[str, Factory] = {
    "auto": AutoBaseline,
    "seasonal": SeasonalBaseline,
    "robust": RobustBaseline,
    "holt_winters": HoltWintersBaseline,
    "snarimax": SnarimaxBaseline,
    "half_space_trees": HalfSpaceTreesBaseline,
}


@dataclass(frozen=True)
class Series:
    ts: np.ndarray[Any, np.dtype[np.float64]]
    truth: np.ndarray[Any, np.dtype[np.float64]]
    values: np.ndarray[Any, np.dtype[np.float64]]
    volumes: np.ndarray[Any, np.dtype[np.float64]]

    def feed(self, baseline: Baseline, start: int, stop: int) -> list[Estimate | None]:
        """Ask about, then learn, points ``start`` to ``stop``; the estimates."""
        estimates = []
        for i in range(start, stop):
            estimates.append(baseline.expect(self.ts[i], self.values[i], self.volumes[i]))
            baseline.learn_one(float(self.ts[i]), float(self.values[i]), float(self.volumes[i]))
        return estimates


def make_series(n: int, *, seed: int = 0, amplitude: float = 0.0) -> Series:
    """LEVEL (plus a sine of PERIOD points and ``amplitude``) plus normal noise of SIGMA, with a volume."""
    rng = np.random.default_rng(seed)
    i = np.arange(n, dtype=np.float64)
    truth = LEVEL + amplitude * np.sin(2 * np.pi * i / PERIOD)
    return Series(i * STEP, truth, truth + rng.normal(0.0, SIGMA, n), 1000.0 + rng.normal(0.0, 30.0, n))


def test_the_registry_imports_every_family() -> None:
    assert set(FAMILIES) == set(DEFAULTS)
    for name, cls in DEFAULTS.items():
        assert FAMILIES[name] is cls
        defaults = parameters(name)
        assert all(isinstance(v, (int, float)) for v in defaults.values()), defaults  # immutable defaults
        check_params(name, defaults)


# -- (a) pickling --------------------------------------------------------------------------------


@pytest.mark.parametrize("family", DEFAULTS)
def test_pickle_round_trip_before_and_after_learning(family: str) -> None:
    series = make_series(900, seed=1)
    baseline = DEFAULTS[family]()
    untrained = pickle.loads(pickle.dumps(baseline))
    series.feed(baseline, 0, 600)
    series.feed(untrained, 0, 600)
    trained = pickle.loads(pickle.dumps(baseline))
    assert trained.n_learned == baseline.n_learned == 600
    probes = [(series.ts[600] + k * STEP, LEVEL + dv, 1000.0) for k in range(3) for dv in (-10.0, 0.0, 0.5, 10.0)]
    expected = [baseline.expect(*probe) for probe in probes]
    assert all(e is not None for e in expected)
    assert [trained.expect(*probe) for probe in probes] == expected
    assert [untrained.expect(*probe) for probe in probes] == expected
    # ... and they keep learning alike.
    series.feed(baseline, 600, 900)
    assert series.feed(trained, 600, 900) == series.feed(untrained, 600, 900)
    probe = (series.ts[-1] + STEP, LEVEL + 3.0, 1000.0)
    assert trained.expect(*probe) == untrained.expect(*probe) == baseline.expect(*probe)


# -- (b) tracking the series, flagging a 10 sigma spike ------------------------------------------

TRACKING = [
    pytest.param(SeasonalBaseline, 0.0, id="seasonal-flat"),
    pytest.param(RobustBaseline, 0.0, id="robust-flat"),
    pytest.param(HoltWintersBaseline, 0.0, id="holt_winters-flat"),
    pytest.param(SnarimaxBaseline, 0.0, id="snarimax-flat"),
    pytest.param(lambda: SeasonalBaseline(period_s=int(PERIOD * STEP), slot_s=int(STEP)), 10.0, id="seasonal-sine"),
    pytest.param(lambda: HoltWintersBaseline(seasonality=PERIOD), 10.0, id="holt_winters-sine"),
    pytest.param(lambda: SnarimaxBaseline(m=PERIOD, sp=1), 10.0, id="snarimax-sine"),
]


@pytest.mark.parametrize(("factory", "amplitude"), TRACKING)
def test_tracks_the_series_and_a_10_sigma_spike_is_far_outside_the_band(factory: Factory, amplitude: float) -> None:
    series = make_series(1800, seed=2, amplitude=amplitude)
    baseline = factory()
    series.feed(baseline, 0, 1500)
    errors, scales = [], []
    for i in range(1500, 1800):
        estimate = baseline.expect(series.ts[i], series.values[i], series.volumes[i])
        assert estimate is not None
        errors.append(abs(estimate.expected - series.truth[i]))
        scales.append(estimate.scale)
        for spike in (10 * SIGMA, -10 * SIGMA):
            value = series.truth[i] + spike
            assert abs(value - estimate.expected) > 4 * estimate.scale, (i, spike, estimate)
        baseline.learn_one(float(series.ts[i]), float(series.values[i]), float(series.volumes[i]))
    assert float(np.mean(errors)) < 0.5 * SIGMA + 0.06 * amplitude, np.mean(errors)
    assert max(errors) < 3 * SIGMA, max(errors)
    assert 0.6 * SIGMA < float(np.median(scales)) < 2.0 * SIGMA, np.median(scales)


def test_half_space_trees_scores_a_spike_above_normal_points() -> None:
    series = make_series(2400, seed=3)
    baseline = HalfSpaceTreesBaseline()
    series.feed(baseline, 0, 1200)
    normal, spikes, scales = [], [], []
    for i in range(1200, 2400):
        estimate = baseline.expect(series.ts[i], series.values[i], series.volumes[i])
        assert estimate is not None and estimate.score is not None
        assert abs(estimate.expected - LEVEL) < 0.6 * SIGMA  # the band, for dashboards
        scales.append(estimate.scale)
        normal.append(estimate.score)
        if i % 20 == 0:
            spike = baseline.expect(series.ts[i], series.truth[i] + 10 * SIGMA, series.volumes[i])
            assert spike is not None and spike.score is not None
            spikes.append(spike.score)
        baseline.learn_one(float(series.ts[i]), float(series.values[i]), float(series.volumes[i]))
    assert 0.8 * SIGMA < float(np.median(scales)) < 1.25 * SIGMA
    assert min(spikes) > float(np.median(normal))
    assert float(np.median(spikes)) > float(np.percentile(normal, 99))
    # The calibrated score puts 0.5 at the 99.5th percentile of normal points' raw scores.
    assert float(np.mean(np.array(normal) >= 0.5)) < 0.01


def test_half_space_trees_scores_only_once_the_trees_have_a_window() -> None:
    series = make_series(500, seed=4)
    baseline = HalfSpaceTreesBaseline(window_size=100, min_points=20)
    estimates = series.feed(baseline, 0, 500)
    assert all(e is None for e in estimates[:20])
    assert all(e is not None and e.score is None for e in estimates[20:200])  # the band judges meanwhile
    assert all(e is not None and e.score is not None and 0.0 <= e.score <= 1.0 for e in estimates[200:])


# -- (c) bounded memory --------------------------------------------------------------------------


@pytest.mark.parametrize("family", DEFAULTS)
def test_memory_is_bounded(family: str) -> None:
    series = make_series(5000, seed=5, amplitude=3.0)
    baseline = DEFAULTS[family]()
    series.feed(baseline, 0, 500)
    size_500 = len(pickle.dumps(baseline))
    series.feed(baseline, 500, 5000)
    size_5000 = len(pickle.dumps(baseline))
    print(f"{family}: pickled {size_500} bytes after 500 points, {size_5000} after 5000")
    assert size_5000 <= 1.5 * size_500


# -- (d) warm-up ---------------------------------------------------------------------------------

WARMUP = [
    *(pytest.param(factory, 0, id=family) for family, factory in DEFAULTS.items()),
    pytest.param(lambda: RobustBaseline(min_points=3), 0, id="robust-3"),
    # With a season, the forecasters need a season (plus a few residuals) whatever min_points says.
    pytest.param(lambda: HoltWintersBaseline(seasonality=PERIOD), PERIOD + 5, id="holt_winters-season"),
    pytest.param(lambda: SnarimaxBaseline(m=PERIOD, sp=1), PERIOD + 5, id="snarimax-season"),
]


@pytest.mark.parametrize(("factory", "needed"), WARMUP)
def test_no_expectation_before_min_points(factory: Factory, needed: int) -> None:
    baseline = factory()
    needed = max(needed, baseline.min_points)  # type: ignore[attr-defined]
    estimates = make_series(needed + 5, seed=6).feed(baseline, 0, needed + 5)
    assert all(e is None for e in estimates[:needed])
    assert all(e is not None for e in estimates[needed:])


# -- edge cases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", DEFAULTS)
def test_a_constant_series_is_expected_exactly_and_not_learned_from_nan(family: str) -> None:
    baseline = DEFAULTS[family]()
    for i in range(400):
        baseline.expect(i * STEP, 7.0, None)
        baseline.learn_one(i * STEP, 7.0, None)
        baseline.learn_one(i * STEP + 1, math.nan, None)
    assert baseline.n_learned == 400
    estimate = baseline.expect(400 * STEP, 7.0, None)
    assert estimate is not None
    assert estimate.expected == pytest.approx(7.0)
    assert 0 < estimate.scale <= 1e-3
    if estimate.score is not None:  # the trees cannot tell values apart: the band judges
        pytest.fail(f"a constant series has no score: {estimate}")


def test_holt_winters_season_starts_additive_even_around_zero() -> None:
    # River 0.26.1 starts additive seasons at y / level: a first season averaging 0 would divide by 0.
    baseline = HoltWintersBaseline(seasonality=4, min_points=1)
    pattern = [-1.0, 1.0, -1.0, 1.0]
    for i in range(40):
        baseline.learn_one(i * STEP, pattern[i % 4], None)
    estimate = baseline.expect(40 * STEP, 0.0, None)
    assert estimate is not None
    assert estimate.expected == pytest.approx(-1.0, abs=1e-6)


@pytest.mark.parametrize("factory", [HoltWintersBaseline, SnarimaxBaseline, lambda: HoltWintersBaseline(seasonality=4)])
def test_a_forecaster_that_breaks_down_is_restarted(factory: Factory) -> None:
    baseline = factory()
    for i in range(100):
        baseline.learn_one(i * STEP, 1.0 + i % 3, None)
    for i in range(100, 110):  # overflows the forecasters
        baseline.learn_one(i * STEP, 1e300 * (1 + i % 2), None)
        baseline.expect(i * STEP, 1.0, None)
    for i in range(110, 3000):
        baseline.learn_one(i * STEP, 1.0 + i % 3, None)
    estimate = baseline.expect(3000 * STEP, 1.0, None)
    assert estimate is not None and math.isfinite(estimate.expected) and math.isfinite(estimate.scale)


INVALID = [
    (RobustBaseline, {"window": 2}, "window"),
    (RobustBaseline, {"window": 10.5}, "window"),
    (RobustBaseline, {"min_points": 0}, "min_points"),
    (HoltWintersBaseline, {"alpha": 0.0}, "alpha"),
    (HoltWintersBaseline, {"beta": 1.5}, "beta"),
    (HoltWintersBaseline, {"gamma": -0.1}, "gamma"),
    (HoltWintersBaseline, {"seasonality": 1}, "seasonality"),
    (HoltWintersBaseline, {"seasonality": 24, "beta": 0.0}, "beta"),
    (SnarimaxBaseline, {"p": -1}, "p"),
    (SnarimaxBaseline, {"d": 3}, "d"),
    (SnarimaxBaseline, {"m": 0}, "m"),
    (SnarimaxBaseline, {"sq": True}, "sq"),
    (HalfSpaceTreesBaseline, {"n_trees": 0}, "n_trees"),
    (HalfSpaceTreesBaseline, {"height": 20}, "height"),
    (HalfSpaceTreesBaseline, {"window_size": 5}, "window_size"),
    (HalfSpaceTreesBaseline, {"seed": -1}, "seed"),
]


@pytest.mark.parametrize(("cls", "params", "name"), INVALID)
def test_invalid_parameters_are_named(cls: type[Any], params: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        cls(**params)


def test_check_params_reports_a_family_parameter() -> None:
    with pytest.raises(ValueError, match="window must be an integer in \\[4, 100000\\]"):
        check_params("robust", {"window": 1})
    check_params("holt_winters", {"seasonality": 96, "alpha": 0.5})

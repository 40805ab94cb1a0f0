"""The robustness suite: the default detector on synthetic series of what real operations metrics do (issue 10).

Each family (``telewatch.backtest.synthetic_families``) has an anomaly-free part and one injected anomaly. The
default detector must raise at most 0.2 alert episodes per day on the anomaly-free part, flag the anomaly within
a few points, and never give a NaN, infinite or out-of-range number.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from detectors.api import build_detector
from detectors.calibration import score_of_z, z_of_score
from telewatch.backtest.synthetic_families import DETECT_WITHIN, Outcome, families, run_family

MAX_EPISODES_PER_DAY = 0.2
FAMILIES = {f.name: f for f in families(seed=3)}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def outcome(request: pytest.FixtureRequest) -> Outcome:
    return run_family(FAMILIES[request.param])


def test_the_anomaly_free_part_raises_at_most_a_few_episodes(outcome: Outcome) -> None:
    assert outcome.episodes_per_day <= MAX_EPISODES_PER_DAY, outcome


def test_the_injected_anomaly_is_flagged_within_a_few_points(outcome: Outcome) -> None:
    assert outcome.detected_after is not None and outcome.detected_after < DETECT_WITHIN, outcome


def test_no_verdict_has_a_nan_infinite_or_out_of_range_number(outcome: Outcome) -> None:
    assert outcome.bad_scores == 0, outcome


def test_a_spike_is_one_point_and_does_not_flip_the_baseline() -> None:
    spiky = FAMILIES["spiky"]
    result = run_family(spiky)
    assert spiky.spikes and result.anomalous_after_spike == 0, result
    assert result.episodes_clean == 0, result  # nothing but the spikes themselves


def test_a_level_shift_is_learned_after_relearn_after_points_and_says_so() -> None:
    shifted = FAMILIES["level_shift"]
    detector = build_detector("shift")
    verdicts = [detector.feed(ts, v) for ts, v in zip(shifted.ts.tolist(), shifted.values.tolist(), strict=True)]
    after = verdicts[shifted.anomaly_at :]
    relearn_after = detector.spec.relearn_after
    assert all(v.flagged for v in after[1 : relearn_after - 1])
    assert after[relearn_after - 1].reason.startswith(f"level moved {relearn_after} windows ago")
    later = after[relearn_after + 30 :]
    assert sum(v.flagged for v in later) <= 2  # the new level is normal


def test_a_series_too_erratic_to_judge_says_so_instead_of_alarming() -> None:
    rng = np.random.default_rng(5)
    detector = build_detector("erratic")
    values = 100 + rng.standard_cauchy(3000)  # no variance at all: any threshold is crossed every day
    verdicts = [detector.feed(1_700_000_000.0 + 300 * i, float(v)) for i, v in enumerate(values)]
    late = verdicts[1000:]
    assert any(v.reason.startswith("too erratic to judge") for v in late)
    assert sum(v.flagged for v in late) / (len(late) / 288) <= MAX_EPISODES_PER_DAY * 5


# -- the calibrated score ---------------------------------------------------------------------
def test_the_score_is_one_half_at_the_threshold_and_strictly_increasing_without_saturating() -> None:
    zs = [-50.0, -3.0, 0.0, 1.0, 3.9, 4.0, 4.1, 10.0, 29.9, 30.1, 40.0, 100.0, 1e4, 1e8]
    scores = [score_of_z(z, 4.0) for z in zs]
    assert score_of_z(4.0, 4.0) == 0.5
    assert all(a < b for a, b in itertools.pairwise(scores))
    assert all(0.0 <= s < 1.0 for s in scores)
    assert 8.0 < z_of_score(0.8, 4.0) < 9.5  # 0.8: about twice the threshold's deviation
    assert score_of_z(math.nan, 4.0) == 0.0


@pytest.mark.parametrize("threshold", [2.0, 4.0, 6.0])
def test_the_inverse_of_the_score_gives_the_deviation_back(threshold: float) -> None:
    for z in (0.5, threshold, 2 * threshold, 35.0):
        assert math.isclose(z_of_score(score_of_z(z, threshold), threshold), z, rel_tol=1e-6)


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        ("normal, scale 1", lambda rng, n: rng.normal(0, 1, n)),
        ("normal, scale 1e6, level 1e9", lambda rng, n: 1e9 + rng.normal(0, 1e6, n)),
        ("laplace", lambda rng, n: rng.laplace(0, 1, n)),
        ("student-t 3 dof", lambda rng, n: rng.standard_t(3, n)),
        ("lognormal", lambda rng, n: rng.lognormal(0, 0.8, n)),
    ],
)
def test_on_normal_data_the_share_of_points_at_or_above_one_half_is_small_whatever_the_shape(
    name: str, draw: object
) -> None:
    rng = np.random.default_rng(7)
    values = draw(rng, 8000)  # type: ignore[operator]
    detector = build_detector("calibration")
    scores = [detector.feed(1_700_000_000.0 + 300 * i, float(v)).score for i, v in enumerate(values)]
    share = float(np.mean(np.array(scores[2000:]) >= 0.5))
    assert share <= 0.005, f"{name}: {share:.4%} of points at or above 0.5"


def test_scores_of_different_points_differ_at_the_top() -> None:
    detector = build_detector("ranked")
    rng = random.Random(2)
    for i in range(500):
        detector.feed(1_700_000_000.0 + 300 * i, 50 + rng.gauss(0, 1))
    highs = [detector.score_one({"ts": 1_700_000_000.0 + 300 * 500, "value": 50 + k * 25.0}) for k in range(1, 8)]
    assert all(a < b < 1.0 for a, b in itertools.pairwise(highs))

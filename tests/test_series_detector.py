"""How a series' detector judges points: the drift sum, bounded learning, count sums and rare events.

Each case is one behaviour of :class:`detectors.series_detector.SeriesDetector` with the shipped defaults
(``build_detector``), on series made with a seeded random generator.
"""

from __future__ import annotations

import numpy as np

from detectors.api import build_detector
from detectors.series_detector import SeriesDetector

T0 = 1_793_577_600.0  # 2026-11-02 00:00 UTC
SMS = "sms_delivery_success_rate|channel=106900004"
DROPS = "call_drop_rate|cell_id=west-c03|region=west"


def feed_ratio(detector: SeriesDetector, rates: list[float], volume: int, seed: int, start: int = 0) -> list[bool]:
    """Feed binomial draws of ``rates`` (one a minute from window ``start``); the flags."""
    rng = np.random.default_rng(seed)
    flags = []
    for i, rate in enumerate(rates, start=start):
        value = rng.binomial(volume, rate) / volume
        flags.append(detector.feed(T0 + 60.0 * i, value, volume=volume).flagged)
    return flags


def test_a_slow_slide_of_a_low_volume_success_rate_is_flagged_as_a_drift() -> None:
    """A success rate from 40 messages a minute sliding from 97.5 % to 83 % over 4.6 hours (simulator seed 1's
    missed degradation): the baseline must not follow the slide while the drift sum builds up."""
    detector = build_detector(SMS)
    day = 1440
    assert not any(feed_ratio(detector, [0.975] * day, 40, seed=1)[60:])
    ramp = [0.975 - (0.975 - 0.83) * i / 278 for i in range(278)]
    flags = feed_ratio(detector, ramp, 40, seed=2, start=day)
    assert any(flags), "the slide was never flagged"
    first = flags.index(True)
    assert first > 30  # not at its start: a drift of a fraction of a standard deviation is not yet visible
    verdicts = []
    for i in range(first, first + 3):
        verdicts.append(detector.feed(T0 + 60.0 * (day + 278 + i), 0.8, volume=40))
    assert any("sustained drift" in v.reason or v.anomalous for v in verdicts)


def test_the_drift_sum_forgets_an_outage_once_it_is_over() -> None:
    """After a 45-minute outage the drift sum is back below its limit at once: the normal windows that follow
    are not flagged (the sum used to count down for hours from the outage's hundreds and flag them)."""
    detector = build_detector(SMS)
    feed_ratio(detector, [0.975] * 600, 400, seed=3)
    outage = feed_ratio(detector, [0.3] * 45, 400, seed=4, start=600)
    assert all(outage[1:])
    after = feed_ratio(detector, [0.975] * 240, 400, seed=5, start=645)
    assert not any(after[3:])


def test_a_wild_point_moves_the_baseline_only_to_the_band() -> None:
    """A single point far off (anomalous, not flagged: 1 of 3) is learned clipped to the band."""
    detector = build_detector("network_kpi|element=west-c03|kpi=rrc_setup_success_rate|region=west")
    rng = np.random.default_rng(6)
    for i in range(120):
        detector.feed(T0 + 60.0 * i, 99.0 + rng.normal(0, 0.2))
    before = detector.feed(T0 + 60.0 * 120, 99.0)
    assert before.expected is not None and before.lower is not None
    sigma = (before.expected - before.lower) / detector.spec.threshold
    wild = detector.feed(T0 + 60.0 * 121, 60.0)
    assert wild.anomalous and not wild.flagged
    after = detector.feed(T0 + 60.0 * 122, 99.0)
    assert after.expected is not None and abs(after.expected - before.expected) < 0.5 * sigma


def test_a_complaint_surge_shows_in_a_short_sum_within_a_few_windows() -> None:
    """Complaints at about 0.03 a window; then 1, 2 and 1 in three windows: too few for any one window, plenty
    for the last 4 (the sum over 30 windows needed more)."""
    detector = build_detector("complaint_count|category=installation|region=central")
    rng = np.random.default_rng(7)
    for i in range(2 * 1440):
        detector.feed(T0 + 60.0 * i, float(rng.poisson(0.03)))
    verdicts = [detector.feed(T0 + 60.0 * (2 * 1440 + i), v) for i, v in enumerate([1.0, 2.0, 1.0, 0.0])]
    assert not verdicts[0].flagged
    assert any(v.flagged for v in verdicts[1:])


def test_a_batch_of_complaints_is_flagged_in_its_own_window() -> None:
    """Complaints at about 0.03 a window, then 6 in one window (a batch after an outage): flagged at once."""
    detector = build_detector("complaint_count|category=network|region=north")
    rng = np.random.default_rng(12)
    flags = [detector.feed(T0 + 60.0 * i, float(rng.poisson(0.03))).flagged for i in range(2 * 1440)]
    assert not any(flags[60:]), "no false alarm on the usual trickle"
    assert detector.feed(T0 + 60.0 * 2 * 1440, 6.0).flagged


def test_a_few_rare_events_are_judged_by_their_poisson_tail() -> None:
    """5 drops in 133 calls where 0.6 % drop (0.8 expected) is 4.6 binomial standard deviations but happens
    about once in 700 windows: not anomalous. 9 drops (once in 10^6) are."""
    detector = build_detector(DROPS)
    feed_ratio(detector, [0.006] * 600, 133, seed=8)
    assert not detector.feed(T0 + 60.0 * 600, 5 / 133, volume=133).anomalous
    assert detector.feed(T0 + 60.0 * 601, 9 / 133, volume=133).anomalous


def test_a_slow_thin_complaint_surge_is_not_learned_away() -> None:
    """Complaints at 0.03 a window, then 0.25 a window for 100 windows (one or none in most windows): the
    baseline must not learn the surge while a sum over the last windows says it may be one. Learning it,
    the detector never flagged this surge (the sums kept up with a baseline that rose with it)."""
    detector = build_detector("complaint_count|category=repair|region=west|scenario=repair.repeat_fault")
    rng = np.random.default_rng(11)
    for i in range(2 * 1440):
        detector.feed(T0 + 60.0 * i, float(rng.poisson(0.03)))
    flags = [detector.feed(T0 + 60.0 * (2 * 1440 + i), float(rng.poisson(0.25))).flagged for i in range(100)]
    assert any(flags), "the surge was never flagged"

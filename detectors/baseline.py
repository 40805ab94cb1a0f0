"""What every detector family provides: an online baseline of one series.

A baseline learns a series one point at a time and, before learning a point,
says what it expected there: a value and a *scale* (how far the series
normally strays from the expectation, in the series' own units, like a
standard deviation). :class:`~detectors.series_detector.SeriesDetector` turns
(value, expected, scale, volume) into a score, a band and a verdict, so a
baseline does not know about thresholds, direction or volume.

Like river's estimators, baselines are small, picklable (no lambdas, locks or
clients), take their parameters as constructor arguments with immutable
defaults, draw randomness from a ``seed``, and read no clocks: the timestamp
comes with each point (epoch seconds).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Estimate(NamedTuple):
    """The expected value at a time, the typical deviation from it (> 0), and optionally the family's own score."""

    expected: float
    scale: float
    #: A family that scores points itself (e.g. HalfSpaceTrees) gives its score in [0, 1] here.
    score: float | None = None


class Baseline(Protocol):
    """An online model of one series (see the module docstring)."""

    def expect(self, ts: float, value: float, volume: float | None) -> Estimate | None:
        """What the series should be at ``ts`` (``value``/``volume``: the point about to be judged, for
        families that score it themselves); ``None`` while the baseline knows too little."""

    def learn_one(self, ts: float, value: float, volume: float | None) -> None:
        """Learn the point (after :meth:`expect` was asked about it)."""

    @property
    def n_learned(self) -> int:
        """Points learned so far (for the warm-up)."""

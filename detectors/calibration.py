"""The calibrated score: a deviation's tail probability, on a scale where 0.5 is the threshold.

A detector measures a point's deviation ``z`` in standard deviations of what
the series normally shows. Its score is ``L / (L + L_t)``, where
``L = -ln P(Z >= z)`` is the surprise of the deviation (the negative log of
the one-sided normal tail probability) and ``L_t`` the surprise of the
threshold. So:

- the score is 0.5 exactly at the threshold, below it under, above it over;
- it is strictly increasing in ``z`` over the whole real line and never
  reaches 1 (``L`` is computed from its asymptotic series where the tail
  probability itself underflows), so points above the threshold stay ranked;
- two series with the same threshold mean the same thing by the same score:
  equal scores are equally improbable deviations.

>>> from detectors.calibration import score_of_z, z_of_score
>>> score_of_z(4.0, 4.0)
0.5
>>> [round(score_of_z(z, 4.0), 3) for z in (0.0, 2.0, 8.0, 40.0)]
[0.063, 0.267, 0.772, 0.987]
>>> score_of_z(1e6, 4.0) < 1.0
True
>>> round(z_of_score(0.9, 4.0), 2)
13.4
"""

from __future__ import annotations

import math
from functools import lru_cache

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_INV_SQRT2 = 1 / math.sqrt(2)
#: Above this z the tail probability is taken from its asymptotic series (erfc underflows near 37).
_ASYMPTOTIC_Z = 30.0


def surprise(z: float) -> float:
    """``-ln P(Z >= z)`` for a standard normal ``Z``: increasing, ~``z**2 / 2`` for large ``z``."""
    if z < _ASYMPTOTIC_Z:
        return -math.log(0.5 * math.erfc(z / math.sqrt(2)))
    # Mills ratio: P(Z >= z) = phi(z) / z * (1 - 1/z^2 + 3/z^4 - ...).
    inv = 1.0 / (z * z)
    return 0.5 * z * z + _LOG_SQRT_2PI + math.log(z) - math.log1p(-inv + 3 * inv * inv)


@lru_cache(maxsize=64)
def threshold_surprise(threshold: float) -> float:
    """The surprise of a deviation of ``threshold`` (cached: one per configured threshold)."""
    return surprise(threshold)


def score_of_z(z: float, threshold: float) -> float:
    """The calibrated score of a deviation of ``z`` standard deviations (see the module docstring)."""
    if -_ASYMPTOTIC_Z < z < _ASYMPTOTIC_Z:  # the common case, inlined: this runs once per point
        level = -math.log(0.5 * math.erfc(z * _INV_SQRT2))
    elif z >= _ASYMPTOTIC_Z:
        if z == math.inf:
            return math.nextafter(1.0, 0.0)
        level = surprise(z)
    elif z <= -_ASYMPTOTIC_Z:
        level = 0.0
    else:  # NaN
        return 0.0
    return level / (level + threshold_surprise(threshold))


def z_of_score(score: float, threshold: float) -> float:
    """The deviation whose score is ``score`` (0 < score < 1): the inverse of :func:`score_of_z`."""
    if not 0.0 < score < 1.0:
        raise ValueError(f"score must be in (0, 1), not {score}")
    target = score / (1 - score) * threshold_surprise(threshold)
    low, high = -40.0, 1e6
    for _ in range(200):
        middle = 0.5 * (low + high)
        if surprise(middle) < target:
            low = middle
        else:
            high = middle
        if high - low < 1e-9:
            break
    return 0.5 * (low + high)

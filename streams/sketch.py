"""A mergeable percentile sketch: a logarithmic histogram with a bounded relative error.

Values fall into buckets ``[γ^(i-1), γ^i)`` with ``γ = (1 + α) / (1 - α)``, so the
value reported for a bucket is within ``α`` (relative) of every value in it
(the DDSketch idea). Partition-level sketches merge by adding bucket counts,
which is what lets windows computed on different partitions be combined.
"""

from __future__ import annotations

import math

#: Relative accuracy of reported percentiles.
RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_INV_LOG_GAMMA = 1 / math.log(_GAMMA)
#: Bucket for values ≤ 0 (setup times and latencies of 0 ms).
ZERO_BUCKET = -(2**31)


def bucket_of(value: float) -> int:
    """The bucket index of a value.

    >>> bucket_of(0.0) == ZERO_BUCKET, bucket_of(1.0), bucket_of(100.0)
    (True, 0, 231)
    """
    if value <= 0:
        return ZERO_BUCKET
    return math.ceil(math.log(value) * _INV_LOG_GAMMA)


def bucket_value(index: int) -> float:
    """The value a bucket stands for (within RELATIVE_ACCURACY of all its members)."""
    if index == ZERO_BUCKET:
        return 0.0
    return 2 * _GAMMA**index / (_GAMMA + 1)


def add(histogram: dict[int, int], value: float) -> None:
    """Count one value into a histogram (bucket index → count)."""
    bucket = bucket_of(value)
    histogram[bucket] = histogram.get(bucket, 0) + 1


def merge_into(target: dict[int, int], other: dict[int, int]) -> None:
    """Add ``other``'s counts into ``target``."""
    for bucket, count in other.items():
        target[bucket] = target.get(bucket, 0) + count


def quantile(histogram: dict[int, int], q: float) -> float:
    """The ``q``-quantile (0 < q ≤ 1) of the counted values: the lower quantile by rank.

    >>> h: dict[int, int] = {}
    >>> for v in range(1, 101):
    ...     add(h, float(v))
    >>> round(quantile(h, 0.95))
    95
    """
    total = sum(histogram.values())
    if total == 0:
        raise ValueError("quantile of an empty histogram")
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    raise AssertionError("unreachable: rank exceeds total")

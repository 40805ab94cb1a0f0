"""Series keys: one metric plus its dimension values, e.g. ``call_drop_rate|cell_id=n-c01|region=north``."""

from __future__ import annotations

from collections.abc import Mapping


def series_key(metric: str, dims: Mapping[str, str]) -> str:
    """The stable key of a series: the metric, then ``name=value`` pairs sorted by name.

    >>> series_key("call_drop_rate", {"region": "north", "cell_id": "north-c01"})
    'call_drop_rate|cell_id=north-c01|region=north'
    >>> series_key("complaint_count", {})
    'complaint_count'
    """
    return "|".join([metric, *(f"{name}={dims[name]}" for name in sorted(dims))])


def parse_series_key(key: str) -> tuple[str, dict[str, str]]:
    """Split a series key back into its metric and dimensions.

    >>> parse_series_key("call_drop_rate|cell_id=north-c01|region=north")
    ('call_drop_rate', {'cell_id': 'north-c01', 'region': 'north'})
    """
    metric, *pairs = key.split("|")
    return metric, dict(pair.split("=", 1) for pair in pairs)

"""InfluxDB line protocol: one point as one line, with the escaping the protocol requires."""

from __future__ import annotations

import math
from collections.abc import Mapping

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})


def _field_value(value: float | int | bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"line protocol has no {value!r}; leave the field out instead")
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def point_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | int | bool | str],
    ts_ns: int,
) -> str:
    """Format one point; tags are sorted (InfluxDB's preferred order), empty tag values skipped.

    Raises ValueError for a point without fields or with a NaN/infinite float (InfluxDB refuses both).

    >>> point_line("kpi", {"region": "north east", "cell": "c,1"}, {"value": 0.5, "n": 3}, 10)
    'kpi,cell=c\\\\,1,region=north\\\\ east value=0.5,n=3i 10'
    """
    if not fields:
        raise ValueError(f"point for {measurement!r} has no fields; line protocol needs at least one")
    tag_part = "".join(
        f",{k.translate(_TAG_ESCAPES)}={v.translate(_TAG_ESCAPES)}" for k, v in sorted(tags.items()) if v
    )
    field_part = ",".join(f"{k.translate(_TAG_ESCAPES)}={_field_value(v)}" for k, v in fields.items())
    return f"{measurement.translate(_MEASUREMENT_ESCAPES)}{tag_part} {field_part} {ts_ns}"

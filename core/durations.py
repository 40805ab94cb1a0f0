"""Durations on the command line: ``90``, ``90s``, ``15m``, ``2h``, ``7d``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<unit>[smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in a duration like ``15m``; ValueError names the accepted forms.

    >>> parse_duration("15m"), parse_duration("2h"), parse_duration("90")
    (900.0, 7200.0, 90.0)
    """
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"duration {text!r} must be a number with an optional unit s, m, h or d (e.g. 90s, 15m, 7d)")
    return float(match.group("number")) * _UNIT_S[match.group("unit")]

"""An anomaly's alert identity: its labels (what routes and owners match on) and its fingerprint.

One alert per series episode: every anomaly of a series updates the series' open
alert, whatever the detector's own episode id, and a correlated incident (a
metric anomaly plus a complaint surge) is an alert of its own, keyed by the
series and the complaint scenario. The fingerprint of an incident starts with
its series' fingerprint, so a series' recovery finds both.

>>> from core.contracts import Anomaly
>>> from datetime import datetime, timezone
>>> t = datetime(2026, 12, 5, 9, tzinfo=timezone.utc)
>>> a = Anomaly(fingerprint="e1", series="call_drop_rate|cell_id=n-c7|region=north", metric="call_drop_rate",
...     dims={"region": "north", "cell_id": "n-c7"}, ts=t, started_at=t, value=0.09, expected=0.01, lower=0.0,
...     upper=0.02, score=0.9, severity="critical", detector="auto")
>>> labels = alert_labels(a)
>>> labels["scope"], labels["severity"], labels["cell"]
('cell', 'critical', 'n-c7')
>>> alert_fingerprint(a) == series_fingerprint(a.series)
True
"""

from __future__ import annotations

import hashlib

from core.contracts import Anomaly

#: The detector that reports correlated incidents.
CORRELATION = "correlation"


def series_fingerprint(series: str) -> str:
    """The fingerprint of a series' alerts."""
    return hashlib.blake2b(series.encode(), digest_size=8).hexdigest()


def alert_fingerprint(anomaly: Anomaly) -> str:
    """The series' fingerprint; for a correlated incident, followed by ``+`` and the complaint scenario."""
    base = series_fingerprint(anomaly.series)
    if anomaly.detector == CORRELATION and "scenario" in anomaly.dims:
        return f"{base}+{anomaly.dims['scenario']}"
    return base


def is_incident(fingerprint: str) -> bool:
    """Whether an alert's fingerprint is a correlated incident's (a series' fingerprint is hex: no ``+``).

    >>> is_incident(series_fingerprint("call_drop_rate|region=north")), is_incident("0123abcd+dropped_calls")
    (False, True)
    """
    return "+" in fingerprint


def scope_of(dims: dict[str, str]) -> str:
    """How wide the alert is: cell, region, channel or global (inhibit rules mute cells under a region)."""
    if "cell_id" in dims or "cell" in dims:
        return "cell"
    if "region" in dims:
        return "region"
    return "channel" if "channel" in dims else "global"


def alert_labels(anomaly: Anomaly) -> dict[str, str]:
    """Metric, dimensions (``cell_id`` also as ``cell``), severity, scope, detector and series."""
    labels = {"metric": anomaly.metric, **anomaly.dims}
    if "cell_id" in anomaly.dims:
        labels["cell"] = anomaly.dims["cell_id"]
    labels |= {
        "severity": anomaly.severity,
        "scope": scope_of(anomaly.dims),
        "detector": anomaly.detector,
        "series": anomaly.series,
    }
    return labels

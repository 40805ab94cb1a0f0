"""The InfluxDB schema Grafana queries: measurements, tags and fields, and contracts → line protocol.

Every measurement is documented in ``docs/INFLUXDB.md`` with an InfluxQL example;
this module is the only place that names them. Times are nanoseconds since the epoch.

==========================  ========================================  ==========================================
measurement                 tags                                      fields
==========================  ========================================  ==========================================
``telewatch_metric``        ``metric``, ``series``, every dimension   ``value``, ``numerator``, ``denominator``,
                                                                      ``count`` (int)
``telewatch_anomaly``       ``metric``, ``series``, ``detector``,     ``value``, ``expected``, ``lower``,
                            ``severity``, every dimension             ``upper``, ``score``, ``severity_level``
                                                                      (int), ``fingerprint`` (string)
``telewatch_deadletter``    ``topic``, ``reason``                     ``count`` (int)
``telewatch_late``          ``metric``, ``series``                    ``count`` (int)
``telewatch_score``         ``metric``, ``series``, ``detector``,     ``expected``, ``lower``, ``upper``, ``score``,
                            every dimension                           ``anomalous``, ``flagged`` (bool)
``telewatch_alert``         ``metric``, ``status``, ``via``,          ``alert_id`` (int), ``by``, ``from_status``
                            ``severity``, every area label            (strings)
``telewatch_delivery``      ``channel``, ``recipient``, ``outcome``   ``attempt`` (int), ``latency_s``
==========================  ========================================  ==========================================

Float fields that are NaN or infinite are left out (line protocol cannot carry them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from core.contracts import Anomaly, MetricPoint, Severity
from core.line_protocol import point_line

METRIC = "telewatch_metric"
ANOMALY = "telewatch_anomaly"
DEADLETTER = "telewatch_deadletter"
LATE = "telewatch_late"
SCORE = "telewatch_score"
ALERT = "telewatch_alert"
DELIVERY = "telewatch_delivery"
#: Alert labels that become tags of ``telewatch_alert`` (the area and the metric; not the series).
ALERT_TAGS = ("metric", "region", "cell_id", "channel", "kind", "category", "scenario", "severity", "scope")

#: Severity → the integer field ``severity_level`` (graphable, ``max()``-able).
SEVERITY_LEVELS: dict[Severity, int] = {"info": 0, "warning": 1, "major": 2, "critical": 3}

#: Keys a dimension may not use: they are the schema's own tags and fields (and InfluxQL's ``time``).
RESERVED_KEYS = frozenset(
    {"time", "metric", "series", "detector", "severity"}
    | {"value", "numerator", "denominator", "count", "expected", "lower", "upper", "score"}
    | {"severity_level", "fingerprint", "anomalous", "flagged"}
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Fields = dict[str, float | int | bool | str]


def to_ns(ts: datetime) -> int:
    """Exact nanoseconds since the epoch of an aware datetime (no float rounding).

    >>> to_ns(datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC))
    1704164645123456000
    """
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no time zone")
    return (ts - _EPOCH) // timedelta(microseconds=1) * 1000


def _tags(base: Mapping[str, str], dims: Mapping[str, str]) -> dict[str, str]:
    clash = sorted(RESERVED_KEYS.intersection(dims))
    if clash:
        raise ValueError(f"dimension {clash[0]!r} clashes with a tag or field of the InfluxDB schema; rename it")
    return {**dims, **base}


def _floats(**values: float | None) -> Fields:
    """The finite values as float fields (ints become floats, so a field's type never changes)."""
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def metric_line(point: MetricPoint) -> str:
    """``telewatch_metric``: one window of one series, at ``window_start``.

    >>> from datetime import datetime, UTC
    >>> metric_line(MetricPoint(metric="call_drop_rate", series="call_drop_rate|region=north",
    ...     dims={"region": "north"}, window_start=datetime(2024, 1, 1, tzinfo=UTC),
    ...     window_end=datetime(2024, 1, 1, 0, 1, tzinfo=UTC), value=0.02, numerator=2, denominator=100, count=100))
    'telewatch_metric,metric=call_drop_rate,region=north,series=call_drop_rate|region\\\\=north value=0.02,numerator=2.0,denominator=100.0,count=100i 1704067200000000000'
    """
    tags = _tags({"metric": point.metric, "series": point.series}, point.dims)
    fields = _floats(value=point.value, numerator=point.numerator, denominator=point.denominator)
    fields["count"] = int(point.count)
    return point_line(METRIC, tags, fields, to_ns(point.window_start))


def anomaly_line(anomaly: Anomaly) -> str:
    """``telewatch_anomaly``: one detector verdict, at ``ts``."""
    base = {
        "metric": anomaly.metric,
        "series": anomaly.series,
        "detector": anomaly.detector,
        "severity": anomaly.severity,
    }
    fields = _floats(
        value=anomaly.value,
        expected=anomaly.expected,
        lower=anomaly.lower,
        upper=anomaly.upper,
        score=anomaly.score,
    )
    fields["severity_level"] = SEVERITY_LEVELS[anomaly.severity]
    fields["fingerprint"] = anomaly.fingerprint
    return point_line(ANOMALY, _tags(base, anomaly.dims), fields, to_ns(anomaly.ts))


def deadletter_line(topic: str, reason: str, count: int, ts: datetime) -> str:
    """``telewatch_deadletter``: how many events of ``topic`` were dead-lettered for ``reason`` in the window at ``ts``.

    >>> deadletter_line("telewatch.calls", "missing_field", 3, datetime(2024, 1, 1, tzinfo=UTC))
    'telewatch_deadletter,reason=missing_field,topic=telewatch.calls count=3i 1704067200000000000'
    """
    return point_line(DEADLETTER, {"topic": topic, "reason": reason}, {"count": int(count)}, to_ns(ts))


def late_line(series: str, count: int, ts: datetime) -> str:
    """``telewatch_late``: how many events of ``series`` arrived after their window closed (window at ``ts``).

    >>> late_line("call_drop_rate|region=north", 2, datetime(2024, 1, 1, tzinfo=UTC))
    'telewatch_late,metric=call_drop_rate,series=call_drop_rate|region\\\\=north count=2i 1704067200000000000'
    """
    metric = series.split("|", 1)[0]
    return point_line(LATE, {"metric": metric, "series": series}, {"count": int(count)}, to_ns(ts))


def score_line(
    metric: str,
    series: str,
    dims: Mapping[str, str],
    detector: str,
    expected: float,
    lower: float | None,
    upper: float | None,
    score: float,
    anomalous: bool,
    flagged: bool,
    ts: datetime,
) -> str:
    """``telewatch_score``: a detector's expectation, band and score for one point, at its window start.

    >>> score_line("call_drop_rate", "call_drop_rate|region=north", {"region": "north"}, "seasonal",
    ...     0.01, 0.0, 0.03, 0.1, False, False, datetime(2024, 1, 1, tzinfo=UTC))
    'telewatch_score,detector=seasonal,metric=call_drop_rate,region=north,series=call_drop_rate|region\\\\=north expected=0.01,lower=0.0,upper=0.03,score=0.1,anomalous=false,flagged=false 1704067200000000000'
    """
    tags = _tags({"metric": metric, "series": series, "detector": detector}, dims)
    fields = _floats(expected=expected, lower=lower, upper=upper, score=score)
    fields["anomalous"] = anomalous
    fields["flagged"] = flagged
    return point_line(SCORE, tags, fields, to_ns(ts))


def alert_line(
    labels: Mapping[str, str], alert_id: int, from_status: str | None, to_status: str, by: str, via: str, ts: datetime
) -> str:
    """``telewatch_alert``: one alert transition (a Grafana annotation), at ``ts``.

    >>> alert_line({"metric": "call_drop_rate", "region": "north", "series": "x"}, 7, "firing", "acknowledged",
    ...            "li.wei", "sms_link", datetime(2024, 1, 1, tzinfo=UTC))
    'telewatch_alert,metric=call_drop_rate,region=north,status=acknowledged,via=sms_link alert_id=7i,by="li.wei",from_status="firing" 1704067200000000000'
    """
    tags = {k: str(labels[k]) for k in ALERT_TAGS if labels.get(k)} | {"status": to_status, "via": via}
    fields: dict[str, float | int | str | bool] = {"alert_id": int(alert_id), "by": by}
    if from_status is not None:
        fields["from_status"] = from_status
    return point_line(ALERT, tags, fields, to_ns(ts))


def delivery_line(channel: str, recipient: str, outcome: str, attempt: int, latency_s: float, ts: datetime) -> str:
    """``telewatch_delivery``: one delivery attempt and how long after queueing it happened, at ``ts``.

    >>> delivery_line("sms", "li.wei", "sent", 1, 0.25, datetime(2024, 1, 1, tzinfo=UTC))
    'telewatch_delivery,channel=sms,outcome=sent,recipient=li.wei attempt=1i,latency_s=0.25 1704067200000000000'
    """
    tags = {"channel": channel, "recipient": recipient, "outcome": outcome}
    return point_line(DELIVERY, tags, {"attempt": int(attempt), "latency_s": float(latency_s)}, to_ns(ts))

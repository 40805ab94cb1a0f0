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
                            ``severity``, every area label            (strings), ``since_fired_s``
``telewatch_delivery``      ``channel``, ``vendor``, ``recipient``,   ``attempt`` (int), ``latency_s``
                            ``outcome``
``telewatch_escalation``    ``metric``, ``severity``, ``step``        ``alert_id``, ``targets`` (int)
``telewatch_alerts_open``   ``severity``, ``status``, ``age``         ``count``, ``correlated`` (int)
``telewatch_budget``        ``channel``, ``template``                 ``capacity``, ``sent_today`` (int), ``used``
``telewatch_worker``        ``stage``, ``worker``; ``topic`` on the   per topic: ``records``, ``lag`` (int),
                            per-topic points                          ``records_per_s``; per process:
                                                                      ``uptime_s``, ``started``,
                                                                      ``influx_buffered``, ``influx_written``,
                                                                      ``influx_dropped``, ``influx_retried`` (int)
==========================  ========================================  ==========================================

Float fields that are NaN or infinite are left out (line protocol cannot carry them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from core.contracts import Anomaly, MetricPoint, Severity
from core.line_protocol import point_line

METRIC = "telewatch_metric"
ANOMALY = "telewatch_anomaly"
DEADLETTER = "telewatch_deadletter"
LATE = "telewatch_late"
SCORE = "telewatch_score"
ALERT = "telewatch_alert"
DELIVERY = "telewatch_delivery"
WORKER = "telewatch_worker"
ESCALATION = "telewatch_escalation"
ALERTS_OPEN = "telewatch_alerts_open"
BUDGET = "telewatch_budget"
#: Alert labels that become tags of ``telewatch_alert`` (the area and the metric; not the series).
ALERT_TAGS = ("metric", "region", "cell_id", "channel", "kind", "category", "scenario", "severity", "scope")

#: Severity → the integer field ``severity_level`` (graphable, ``max()``-able).
SEVERITY_LEVELS: dict[Severity, int] = {"info": 0, "warning": 1, "major": 2, "critical": 3}
#: The statuses of an open alert: the ``status`` tag of ``telewatch_alerts_open``.
OPEN_STATUSES = ("firing", "acknowledged")
#: The ``age`` tag of ``telewatch_alerts_open``: each bucket's name and its upper bound in seconds (exclusive).
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("0-15m", 15 * 60.0),
    ("15m-1h", 3600.0),
    ("1h-4h", 4 * 3600.0),
    ("4h+", math.inf),
)

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
    labels: Mapping[str, str],
    alert_id: int,
    from_status: str | None,
    to_status: str,
    by: str,
    via: str,
    ts: datetime,
    *,
    since_fired_s: float,
) -> str:
    """``telewatch_alert``: one alert transition (a Grafana annotation), at ``ts``; ``since_fired_s``: seconds
    since the alert first fired (0 on that firing).

    >>> alert_line({"metric": "call_drop_rate", "region": "north", "series": "x"}, 7, "firing", "acknowledged",
    ...            "li.wei", "sms_link", datetime(2024, 1, 1, tzinfo=UTC), since_fired_s=240)
    'telewatch_alert,metric=call_drop_rate,region=north,status=acknowledged,via=sms_link alert_id=7i,by="li.wei",from_status="firing",since_fired_s=240.0 1704067200000000000'
    """
    tags = {k: str(labels[k]) for k in ALERT_TAGS if labels.get(k)} | {"status": to_status, "via": via}
    fields: dict[str, float | int | str | bool] = {"alert_id": int(alert_id), "by": by}
    if from_status is not None:
        fields["from_status"] = from_status
    fields |= _floats(since_fired_s=since_fired_s)
    return point_line(ALERT, tags, fields, to_ns(ts))


def delivery_line(
    channel: str, recipient: str, outcome: str, attempt: int, latency_s: float, ts: datetime, *, vendor: str
) -> str:
    """``telewatch_delivery``: one delivery attempt, the vendor that carried it (``kannel``, ``http``, ``wecom``,
    ``dingtalk``, ``feishu``, ``slack``; ``none`` when no notifier could take it) and how long after queueing it
    happened, at ``ts``.

    >>> delivery_line("sms", "li.wei", "sent", 1, 0.25, datetime(2024, 1, 1, tzinfo=UTC), vendor="kannel")
    'telewatch_delivery,channel=sms,outcome=sent,recipient=li.wei,vendor=kannel attempt=1i,latency_s=0.25 1704067200000000000'
    """
    tags = {"channel": channel, "vendor": vendor, "recipient": recipient, "outcome": outcome}
    return point_line(DELIVERY, tags, {"attempt": int(attempt), "latency_s": float(latency_s)}, to_ns(ts))


def escalation_line(
    metric: str, severity: str, step: int, alert_id: int, targets: int, ts: datetime, tiebreak_ns: int = 0
) -> str:
    """``telewatch_escalation``: an escalation step of an alert that notified ``targets`` people or IM groups, at
    ``ts`` plus ``tiebreak_ns`` nanoseconds (under a microsecond: two alerts of one metric escalating in the same
    tick stay two points; the ledger keeps microseconds, so the stamp stays within the step's microsecond).

    >>> escalation_line("call_drop_rate", "major", 3, 7, 2, datetime(2024, 1, 1, tzinfo=UTC), tiebreak_ns=41)
    'telewatch_escalation,metric=call_drop_rate,severity=major,step=3 alert_id=7i,targets=2i 1704067200000000041'
    """
    if not 0 <= tiebreak_ns < 1000:
        raise ValueError(f"tiebreak_ns must be in 0-999, not {tiebreak_ns}")
    tags = {"metric": metric, "severity": severity, "step": str(step)}
    fields: Fields = {"alert_id": int(alert_id), "targets": int(targets)}
    return point_line(ESCALATION, tags, fields, to_ns(ts) + tiebreak_ns)


def age_bucket(age_s: float) -> str:
    """The ``age`` tag of an open alert that first fired ``age_s`` seconds ago (a negative age, from clock skew,
    counts as new).

    >>> [age_bucket(s) for s in (-5, 0, 899.9, 900, 3599, 3600, 14399, 14400, 10**6)]
    ['0-15m', '0-15m', '0-15m', '15m-1h', '15m-1h', '1h-4h', '1h-4h', '4h+', '4h+']
    """
    return next(name for name, bound in AGE_BUCKETS if age_s < bound)


def alerts_open_line(severity: str, status: str, age: str, count: int, correlated: int, ts: datetime) -> str:
    """``telewatch_alerts_open``: how many alerts were open (and how many of them correlated incidents) in one
    cell of severity × status × age when the snapshot at ``ts`` was taken.

    >>> alerts_open_line("critical", "firing", "15m-1h", 3, 1, datetime(2024, 1, 1, tzinfo=UTC))
    'telewatch_alerts_open,age=15m-1h,severity=critical,status=firing count=3i,correlated=1i 1704067200000000000'
    """
    tags = {"severity": severity, "status": status, "age": age}
    return point_line(ALERTS_OPEN, tags, {"count": int(count), "correlated": int(correlated)}, to_ns(ts))


def budget_line(channel: str, template: str, capacity: int, sent_today: int, ts: datetime) -> str:
    """``telewatch_budget``: an SMS channel's daily budget at ``ts``: the calendar template in force, today's
    capacity, the alert SMS counted against it and the share used (left out when the capacity is 0).

    >>> budget_line("10690000", "days_2_10", 5000, 1250, datetime(2024, 1, 1, tzinfo=UTC))
    'telewatch_budget,channel=10690000,template=days_2_10 capacity=5000i,sent_today=1250i,used=0.25 1704067200000000000'
    """
    fields: Fields = {"capacity": int(capacity), "sent_today": int(sent_today)}
    if capacity > 0:
        fields |= _floats(used=sent_today / capacity)
    return point_line(BUDGET, {"channel": channel, "template": template}, fields, to_ns(ts))


class TopicVitals(NamedTuple):
    """What one worker process has consumed of one topic: a per-topic point of ``telewatch_worker``."""

    #: Records consumed since the process started.
    records: int
    #: Records per second since the previous report.
    records_per_s: float
    #: Records behind the end of the topic, over the partitions the process has assigned; None (left out): unknown.
    lag: int | None


class ProcessVitals(NamedTuple):
    """One worker process and its InfluxDB sink: the process point of ``telewatch_worker``."""

    uptime_s: float
    #: The process's first report (Grafana counts restarts as ``sum("started")``).
    started: bool
    #: Points waiting in the sink now.
    influx_buffered: int
    #: Points written since the process started.
    influx_written: int
    #: Points dropped since the process started: buffer overflow plus refused by InfluxDB.
    influx_dropped: int
    #: Failed write attempts retried since the process started.
    influx_retried: int


def worker_lines(
    stage: str, worker: str, process: ProcessVitals, topics: Mapping[str, TopicVitals], ts: datetime
) -> list[str]:
    """``telewatch_worker``: one report of a worker process at ``ts``: its process point, then one point per topic.

    >>> process = ProcessVitals(12.5, True, 3, 100, 2, 1)
    >>> topics = {"telewatch.calls": TopicVitals(40, 4.0, 5), "telewatch.sms": TopicVitals(0, 0.0, None)}
    >>> for line in worker_lines("streams", "host-7-1704067190", process, topics, datetime(2024, 1, 1, tzinfo=UTC)):
    ...     print(line)
    telewatch_worker,stage=streams,worker=host-7-1704067190 uptime_s=12.5,started=1i,influx_buffered=3i,influx_written=100i,influx_dropped=2i,influx_retried=1i 1704067200000000000
    telewatch_worker,stage=streams,topic=telewatch.calls,worker=host-7-1704067190 records=40i,records_per_s=4.0,lag=5i 1704067200000000000
    telewatch_worker,stage=streams,topic=telewatch.sms,worker=host-7-1704067190 records=0i,records_per_s=0.0 1704067200000000000
    """
    base = {"stage": stage, "worker": worker}
    fields: Fields = {
        **_floats(uptime_s=process.uptime_s),
        "started": int(process.started),
        "influx_buffered": int(process.influx_buffered),
        "influx_written": int(process.influx_written),
        "influx_dropped": int(process.influx_dropped),
        "influx_retried": int(process.influx_retried),
    }
    ns = to_ns(ts)
    lines = [point_line(WORKER, base, fields, ns)]
    for topic, vitals in sorted(topics.items()):
        per_topic: Fields = {"records": int(vitals.records), **_floats(records_per_s=vitals.records_per_s)}
        if vitals.lag is not None:
            per_topic["lag"] = int(vitals.lag)
        lines.append(point_line(WORKER, {**base, "topic": topic}, per_topic, ns))
    return lines

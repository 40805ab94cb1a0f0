"""What the pages show, as plain values for the templates: an alert's facts, its chart, its history, board rows.

Every free text a person typed (comments, unknown actors) passes through the
subscriber-number mask; people appear by name, never by phone.

>>> duration(3900), duration(42), duration(2 * 86400 + 7200)
('1h 05m', '42s', '2d 2h')
>>> c = chart(0.62, 0.55, 0.97)  # the scale starts at zero and ends 10 % past the largest number
>>> c.x0, c.value_x, [(m.kind, m.x, m.label) for m in c.markers], c.high
(10.0, 184.3, [('expected', 282.7, '0.97'), ('peak', 164.6, '0.55')], '1.067')
>>> chart(0.62, 0.62, None) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from alerting.api.page_text import VIA, Language
from alerting.ledger import Alert, HistoryEntry
from alerting.owners import OwnersRegistry
from alerting.render import METRIC_NAMES, SEVERITY, STATUS, ZONE
from core.privacy import mask_numbers_in_text

#: Labels that say what an alert is about rather than where.
_NOT_AREA = frozenset({"metric", "severity", "series", "detector"})
#: Board order: most severe first.
SEVERITY_RANK = {"critical": 0, "major": 1, "warning": 2, "info": 3}
#: Width and height of the value chart, in SVG user units.
CHART_W, CHART_H, _PAD = 320.0, 80.0, 10.0


def pick(table: Mapping[str, tuple[str, str]], key: str, language: Language) -> str:
    """The zh or en name of ``key`` in ``table`` (the key itself when unnamed)."""
    names = table.get(key)
    return key if names is None else names[0 if language == "zh" else 1]


def local_time(at: datetime) -> str:
    """A time as the operator reads it (UTC+8)."""
    return at.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")


def duration(seconds: float) -> str:
    """A short duration: ``42s``, ``12m``, ``1h 05m``, ``2d 2h``."""
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def number(value: float | None) -> str:
    """A measured value, four significant digits."""
    return "–" if value is None else f"{value:.4g}"


def person_name(registry: OwnersRegistry, who: str) -> str:
    """A person's name when ``who`` is a known person id; else ``who`` with any number in it masked."""
    person = registry.people.get(who)
    return person.name if person is not None else mask_numbers_in_text(who)


def anchor(x: float) -> str:
    """Where a label at ``x`` is anchored so that it stays inside the chart."""
    if x > CHART_W * 0.8:
        return "end"
    return "start" if x < CHART_W * 0.2 else "middle"


@dataclass(frozen=True)
class Marker:
    """A labelled mark on the chart's axis."""

    kind: str
    x: float
    label: str

    @property
    def anchor(self) -> str:
        """The label's text-anchor."""
        return anchor(self.x)


@dataclass(frozen=True)
class Chart:
    """A horizontal scale from ``low`` to ``high``: a bar up to the value, marks for expected and peak."""

    width: float
    height: float
    axis_y: float
    x0: float
    value_x: float
    low: str
    high: str
    markers: tuple[Marker, ...]
    #: The expected band's left and right x (None: no band recorded).
    band: tuple[float, float] | None = None

    @property
    def value_anchor(self) -> str:
        """The value label's text-anchor."""
        return anchor(self.value_x)


def chart(value: float, peak: float, expected: float | None, band: tuple[float, float] | None = None) -> Chart | None:
    """The value chart, or None without an expected value (nothing honest to compare with)."""
    if expected is None:
        return None
    points: list[float] = [value, peak, expected, *(band or ())]
    low, high = min(0.0, *points), max(0.0, *points)
    high += (high - low) * 0.1 or 1.0
    span = CHART_W - 2 * _PAD

    def x(v: float) -> float:
        return round(_PAD + (v - low) / (high - low) * span, 1)

    markers = [Marker("expected", x(expected), number(expected))]
    if peak != value:
        markers.append(Marker("peak", x(peak), number(peak)))
    drawn = (x(band[0]), x(band[1])) if band is not None else None
    return Chart(CHART_W, CHART_H, 34.0, x(0.0), x(value), number(low), number(high), tuple(markers), drawn)


def band_of(alert: Alert) -> tuple[float, float] | None:
    """The expected band the latest anomaly reported (lower, upper), when recorded and finite."""
    notes = alert.annotations or {}
    try:
        lower, upper = float(notes["lower"]), float(notes["upper"])
    except (KeyError, TypeError, ValueError):
        return None
    return (lower, upper) if math.isfinite(lower) and math.isfinite(upper) and lower <= upper else None


@dataclass(frozen=True)
class HistoryRow:
    """One line of an alert's history."""

    at: str
    change: str
    by: str
    via: str
    comment: str


@dataclass(frozen=True)
class AlertFacts:
    """An alert as its page shows it."""

    id: int
    metric: str
    area: tuple[tuple[str, str], ...]
    status: str
    status_key: str
    severity: str
    severity_key: str
    value: str
    expected: str
    band: str
    peak: str
    deviation: str
    since: str
    duration: str
    department: str
    lead: str
    acked_by: str
    history: tuple[HistoryRow, ...]
    chart: Chart | None


def area(labels: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """The labels that say where (region, cell, channel, …), sorted."""
    return tuple((k, str(v)) for k, v in sorted(labels.items()) if k not in _NOT_AREA)


def _deviation(value: float, expected: float | None) -> str:
    if expected is None or expected == 0:
        return "–"
    return f"{(value - expected) / abs(expected) * 100:+.0f}%"


def _change(entry: HistoryEntry, language: Language) -> str:
    if entry.to_status is None:
        return "备注" if language == "zh" else "comment"
    target = pick(STATUS, entry.to_status, language)
    return target if entry.from_status is None else f"{pick(STATUS, entry.from_status, language)} → {target}"


def acked_by(history: Sequence[HistoryEntry], registry: OwnersRegistry) -> str:
    """Who acknowledged the alert last (by name), when it is acknowledged."""
    acks = [e for e in history if e.to_status == "acknowledged"]
    return person_name(registry, acks[-1].by) if acks else ""


def facts(
    alert: Alert, history: Sequence[HistoryEntry], registry: OwnersRegistry, language: Language, now: datetime
) -> AlertFacts:
    """Everything the alert page and the board show about one alert."""
    labels = {k: str(v) for k, v in alert.labels.items()}
    owned = registry.owner_of(labels)
    department, lead = "", ""
    if owned is not None:
        department, lead = owned[1].department, person_name(registry, owned[1].people[0])
    end = alert.resolved_at or now
    rows = tuple(
        HistoryRow(
            local_time(e.at),
            _change(e, language),
            person_name(registry, e.by),
            pick(VIA, e.via, language),
            mask_numbers_in_text(e.comment or ""),
        )
        for e in history
    )
    severity = labels.get("severity", "")
    return AlertFacts(
        id=alert.id,
        metric=pick(METRIC_NAMES, labels.get("metric", ""), language),
        area=area(labels),
        status=pick(STATUS, alert.status, language),
        status_key=alert.status,
        severity=pick(SEVERITY, severity, language) if severity else "–",
        severity_key=severity,
        value=number(alert.value),
        expected=number(alert.expected),
        band=f"{number(band[0])}–{number(band[1])}" if (band := band_of(alert)) else "",
        peak=number(alert.peak),
        deviation=_deviation(alert.value, alert.expected),
        since=local_time(alert.started_at),
        duration=duration((end - alert.started_at).total_seconds()),
        department=department,
        lead=lead,
        acked_by=acked_by(history, registry) if alert.status == "acknowledged" else "",
        history=rows,
        chart=chart(alert.value, alert.peak, alert.expected, band_of(alert)),
    )


def board_order(alert: Alert) -> tuple[int, datetime]:
    """Most severe first, then the oldest."""
    return SEVERITY_RANK.get(str(alert.labels.get("severity", "")), len(SEVERITY_RANK)), alert.started_at

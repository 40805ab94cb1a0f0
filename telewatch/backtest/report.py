"""The backtest report: one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched).

It holds the summary (recall, precision, median time to detect, false alarms
per series-day, the command that made it), recall per incident kind, episodes
per metric, one row per incident, the false alarms, and a plot per series with
an incident or a flag: the value, the expected band, flagged points, the
labelled incidents and the episodes, over the whole run and zoomed on its
incidents (or its first false alarm). At most ``max_series`` series are
plotted; the report says how many were left out. Metric points carry no
subscriber data, so none can appear.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from telewatch.backtest.run import BacktestResult, Episode, IncidentOutcome, SeriesTrace

#: Series plotted at most (the rest are counted).
MAX_SERIES: Final = 60
#: Zoomed plots per series at most.
MAX_ZOOMS: Final = 2
#: Rows of the false-alarm table at most.
MAX_FALSE_ROWS: Final = 200

_Scale = Callable[[float], float]
_Pick = Callable[[np.ndarray], Any]

_WIDTH, _HEIGHT = 960, 210
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 12, 18, 34
_LABEL_COLOURS: Final = {"incident": "#2e7d32", "related": "#1565c0", "false": "#c62828"}

REPORT_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:14px;margin:18px 0 4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.missed td{background:#fdecea}tr.ok td.d{color:#2e7d32}tr.missed td.d{color:#c62828;font-weight:600}
code{background:#f5f5f5;padding:1px 4px;border-radius:3px;word-break:break-all}
.series{margin:18px 0 26px}.small{color:#666;font-size:12px}svg{display:block}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
"""


def write_report(
    result: BacktestResult, path: Path | str, command: str | None = None, max_series: int = MAX_SERIES
) -> Path:
    """Write the HTML report of ``result`` to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, command, max_series), encoding="utf-8")
    return path


def render_report(result: BacktestResult, command: str | None = None, max_series: int = MAX_SERIES) -> str:
    """The report as an HTML string."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>telewatch backtest</title>",
        f"<style>{REPORT_CSS}</style></head><body>",
        "<h1>telewatch backtest</h1>",
        _summary(result, command),
        _kinds(result),
        _metrics(result),
        _incidents(result),
        _false_alarms(result),
        _plots(result, max_series),
        "</body></html>",
    ]
    return "\n".join(parts)


# -- tables -----------------------------------------------------------------------------------------------
def esc(text: object) -> str:
    """``text`` escaped for HTML."""
    return html.escape(str(text), quote=True)


def fmt_pct(x: float | None) -> str:
    """A share as a percentage (``n/a`` for None)."""
    return "n/a" if x is None else f"{100 * x:.1f} %"


def fmt_num(x: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals (``n/a`` for None or not finite)."""
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _when(ts: float | datetime) -> str:
    stamp = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, tz=UTC)
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] | None = None) -> str:
    """An HTML table of ready-made cells."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for index, row in enumerate(rows):
        cls = f" class='{classes[index]}'" if classes and classes[index] else ""
        body.append(f"<tr{cls}>{''.join(row)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_td(text: object, cls: str = "") -> str:
    """One escaped table cell."""
    return f"<td class='{cls}'>{esc(text)}</td>" if cls else f"<td>{esc(text)}</td>"


def _summary(result: BacktestResult, command: str | None) -> str:
    s = result.summary()
    labels = s["episodes_by_label"]
    rows = [
        ("Recall (incidents detected)", f"{fmt_pct(result.recall)} ({s['detected']} of {s['incidents']})"),
        (
            "Precision (episodes explained by an incident)",
            f"{fmt_pct(result.precision)} ({labels.get('incident', 0)} on listed series or their roll-ups, "
            f"{labels.get('related', 0)} related, {labels.get('false', 0)} false, of {s['episodes']})",
        ),
        ("Median time to detect", f"{fmt_num(result.median_ttd_windows, 1)} windows"),
        (
            "False alarms per series-day",
            f"{fmt_num(result.false_alarms_per_series_day, 4)} ({result.false_alarms} over {result.series_days:.1f} "
            "series-days)",
        ),
        ("Series / points", f"{len(result.series):,} / {result.points:,}"),
        ("Time covered", f"{_when(result.start)} to {_when(result.end)}" if math.isfinite(result.start) else "n/a"),
        (
            "Window / grace / episode merge gap",
            f"{result.window_s:g} s / {result.grace_windows} windows / {result.merge_gap_windows} windows",
        ),
        ("Detector run time", f"{result.runtime_s:.1f} s"),
    ]
    if math.isfinite(result.scored_from):
        rows.insert(
            6,
            (
                "Learning period (not scored)",
                f"until {_when(result.scored_from)}: {result.unscored_incidents} incident(s) in it left out",
            ),
        )
    if not result.has_truth:
        rows.insert(0, ("Ground truth", "none given: every episode counts as a false alarm"))
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    if command:
        body += f"<tr><th>Command</th><td><code>{esc(command)}</code></td></tr>"
    return f"<h2>Summary</h2><table><tbody>{body}</tbody></table>"


def _kinds(result: BacktestResult) -> str:
    kinds = result.by_kind()
    if not kinds:
        return ""
    rows = [
        [html_td(k.kind), html_td(k.incidents, "n"), html_td(k.detected, "n"), html_td(fmt_pct(k.recall), "n"),
         html_td(fmt_num(k.median_ttd_windows, 1), "n")]
        for k in kinds
    ]  # fmt: skip
    header = ["Incident kind", "Incidents", "Detected", "Recall", "Median TTD (windows)"]
    return "<h2>By incident kind</h2>" + html_table(header, rows)


def _metrics(result: BacktestResult) -> str:
    rows = [
        [html_td(m.metric), html_td(m.series, "n"), html_td(f"{m.series_days:.1f}", "n"), html_td(m.episodes["incident"], "n"),
         html_td(m.episodes["related"], "n"), html_td(m.episodes["false"], "n"), html_td(fmt_num(m.false_per_series_day, 4), "n")]
        for m in result.by_metric()
    ]  # fmt: skip
    header = ["Metric", "Series", "Series-days", "Incident episodes", "Related", "False", "False per series-day"]
    return "<h2>Episodes by metric</h2>" + html_table(header, rows)


def _incidents(result: BacktestResult) -> str:
    if not result.incidents:
        return "<h2>Incidents</h2><p>No ground-truth incidents.</p>"
    rows, classes = [], []
    for i in result.incidents:
        minutes = (i.end - i.start).total_seconds() / 60
        rows.append(
            [
                html_td(i.id),
                html_td(i.kind),
                html_td(_when(i.start)),
                html_td(f"{minutes:.0f} min", "n"),
                html_td("detected" if i.detected else "missed", "d"),
                html_td(fmt_num(i.ttd_windows, 1), "n"),
                html_td(i.first_flag_series or ""),
                html_td(f"{i.flagged_series} / {i.series_with_points} / {len(i.series)}", "n"),
                html_td(i.note),
                html_td(i.description),
            ]
        )
        classes.append("ok" if i.detected else "missed")
    header = [
        "Incident", "Kind", "Start", "Duration", "Result", "TTD (windows)", "First flagged series",
        "Flagged / with points / listed series", "Note", "Description",
    ]  # fmt: skip
    return "<h2>Incidents</h2>" + html_table(header, rows, classes)


def _false_alarms(result: BacktestResult) -> str:
    false = [e for e in result.episodes if e.label == "false"]
    if not false:
        return "<h2>False alarms</h2><p>None.</p>"
    rows = [
        [html_td(e.series), html_td(_when(e.start)), html_td(f"{(e.end - e.start) / result.window_s:.0f}", "n"),
         html_td(e.flagged_points, "n"), html_td(fmt_num(e.peak_value, 4), "n"), html_td(fmt_num(e.peak_expected, 4), "n"),
         html_td(fmt_num(e.peak_volume, 0), "n"), html_td(fmt_num(e.max_score, 3), "n")]
        for e in false[:MAX_FALSE_ROWS]
    ]  # fmt: skip
    header = ["Series", "Start", "Windows", "Flagged points", "Peak value", "Expected", "Volume", "Max score"]
    more = f"<p class='small'>{len(false) - MAX_FALSE_ROWS} more not shown.</p>" if len(false) > MAX_FALSE_ROWS else ""
    return f"<h2>False alarms ({len(false)})</h2>" + html_table(header, rows) + more


# -- plots ------------------------------------------------------------------------------------------------
def plotted_series(result: BacktestResult, max_series: int = MAX_SERIES) -> tuple[list[str], int]:
    """The series to plot, most telling first, and how many worth plotting were left out."""
    order: list[str] = []
    for incident in result.incidents:  # one series per incident: the one that caught it, or the nearest miss
        key = incident.first_flag_series or _nearest_miss(incident)
        if key is not None and key in result.traces and key not in order:
            order.append(key)
    false = [e.series for e in result.episodes if e.label == "false"]
    counts = {key: false.count(key) for key in set(false)}
    for key in sorted(counts, key=lambda k: (-counts[k], k)):
        if key in result.traces and key not in order:
            order.append(key)
    for key in sorted(result.traces):
        if key not in order:
            order.append(key)
    return order[:max_series], max(0, len(order) - max_series)


def _nearest_miss(incident: IncidentOutcome) -> str | None:
    with_points = [e for e in incident.evidence if e.points]
    if not with_points:
        return None
    return max(with_points, key=lambda e: e.max_score).series


def _plots(result: BacktestResult, max_series: int) -> str:
    keys, left_out = plotted_series(result, max_series)
    if not keys:
        return "<h2>Series</h2><p>No series with an incident or a flag.</p>"
    legend = (
        "<p class='legend'><span><i class='sw' style='background:#37474f'></i>value</span>"
        "<span><i class='sw' style='background:#90caf9'></i>expected band</span>"
        "<span><i class='sw' style='background:#e53935'></i>flagged point</span>"
        "<span><i class='sw' style='background:#ffe0b2'></i>incident (listing the series)</span>"
        "<span><i class='sw' style='background:#eeeeee'></i>incident (other series)</span>"
        "<span><i class='sw' style='background:#2e7d32'></i>/<i class='sw' style='background:#1565c0'></i>"
        "/<i class='sw' style='background:#c62828'></i>episode: incident / related / false</span></p>"
    )
    note = f" {left_out} more series with an incident or a flag are not plotted." if left_out else ""
    parts = [
        f"<h2>Series ({len(keys)} plotted)</h2><p class='small'>Series with an incident or a flag, the ones that "
        f"detected or missed an incident first, then those with the most false alarms.{note}</p>",
        legend,
    ]
    by_id = {i.id: i for i in result.incidents}
    for key in keys:
        parts.append(_series_section(result, key, by_id))
    return "\n".join(parts)


@dataclass(frozen=True)
class Span:
    """A labelled time span drawn behind a series plot."""

    start: float
    end: float
    label: str
    listed: bool


def _series_section(result: BacktestResult, key: str, by_id: dict[str, IncidentOutcome]) -> str:
    trace = result.traces[key]
    stats = result.series[key]
    episodes = [e for e in result.episodes if e.series == key]
    spans = []
    for incident in result.incidents:
        listed = key in incident.series
        related = any(e.incident_id == incident.id for e in episodes)
        if listed or related:
            verdict = "detected" if incident.detected else "missed"
            label = f"{incident.id} {incident.kind} ({verdict})" if listed else f"{incident.id} {incident.kind}"
            spans.append(Span(incident.start.timestamp(), incident.end.timestamp(), label, listed))
    counts = {label: sum(e.label == label for e in episodes) for label in ("incident", "related", "false")}
    caption = (
        f"{stats.points:,} points, {stats.missing:,} missing slots, cadence {stats.cadence_windows} window(s); "
        f"episodes: {counts['incident']} incident, {counts['related']} related, {counts['false']} false"
    )
    parts = [f"<div class='series'><h3>{esc(key)}</h3><div class='small'>{esc(caption)}</div>"]
    t0, t1 = float(trace.ts[0]), float(trace.ts[-1]) + result.window_s
    parts.append(svg_plot(trace, spans, episodes, t0, t1, result.window_s, "whole run"))
    zooms: list[tuple[float, float, str]] = []
    for span in spans:
        if span.listed and len(zooms) < MAX_ZOOMS:
            pad = max(30 * result.window_s, (span.end - span.start) / 2)
            zooms.append((span.start - pad, span.end + pad, span.label.split(" ")[0]))
    if not zooms:
        false = [e for e in episodes if e.label == "false"]
        if false:
            e = false[0]
            pad = max(60 * result.window_s, e.end - e.start)
            zooms.append((e.start - pad, e.end + pad, "first false alarm"))
    for lo, hi, what in zooms:
        lo, hi = max(lo, t0), min(hi, t1)
        if hi > lo and (hi - lo) < 0.8 * (t1 - t0):
            parts.append(svg_plot(trace, spans, episodes, lo, hi, result.window_s, f"zoom: {what}"))
    parts.append("</div>")
    return "\n".join(parts)


def svg_plot(
    trace: SeriesTrace,
    spans: Sequence[Span],
    episodes: Sequence[Episode],
    t0: float,
    t1: float,
    window_s: float,
    title: str,
) -> str:
    """An inline SVG of one series between ``t0`` and ``t1`` (epoch seconds)."""
    w, h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    keep = (trace.ts >= t0 - window_s) & (trace.ts <= t1)
    ts = trace.ts[keep] + window_s / 2  # a point is drawn at the middle of its window
    value, expected = trace.value[keep], trace.expected[keep]
    lower, upper, flagged = trace.lower[keep], trace.upper[keep], trace.flagged[keep]
    finite = value[np.isfinite(value)]
    ref = np.concatenate([finite, expected[np.isfinite(expected)]])
    if len(ref):
        lo, hi = float(np.min(ref)), float(np.max(ref))
    else:
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * max(abs(lo), 1e-3), hi + 0.5 * max(abs(hi), 1e-3)
    pad = 0.06 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    span_t = max(t1 - t0, 1e-9)

    def x(t: float) -> float:
        return _LEFT + (t - t0) / span_t * w

    def y(v: float) -> float:
        return _TOP + (hi - min(max(v, lo), hi)) / (hi - lo) * h

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' height='{_HEIGHT}' "
        f"viewBox='0 0 {_WIDTH} {_HEIGHT}' role='img' aria-label='{esc(title)}'>",
        f"<rect x='{_LEFT}' y='{_TOP}' width='{w}' height='{h}' fill='#fff' stroke='#ccc'/>",
    ]
    for span in spans:  # incident spans
        a, b = max(span.start, t0), min(span.end, t1)
        if b <= a:
            continue
        fill = "#ffe0b2" if span.listed else "#eeeeee"
        width = max(x(b) - x(a), 2.0)
        out.append(f"<rect x='{x(a):.1f}' y='{_TOP}' width='{width:.1f}' height='{h}' fill='{fill}' opacity='0.85'>"
                   f"<title>{esc(span.label)}</title></rect>")  # fmt: skip
        out.append(f"<text x='{x(a) + 2:.1f}' y='{_TOP + 11}' font-size='10' fill='#e65100'>{esc(span.label)}</text>")
    columns = _columns(ts, t0, span_t, w)
    band = _band_path(ts, lower, upper, columns, x, y)
    if band:
        out.append(f"<path d='{band}' fill='#90caf9' opacity='0.55' stroke='none'/>")
    line = _line_path(ts, expected, columns, x, y, "mean")
    if line:
        out.append(f"<path d='{line}' fill='none' stroke='#1e88e5' stroke-width='1' stroke-dasharray='3 2'/>")
    line = _line_path(ts, value, columns, x, y, "envelope")
    if line:
        out.append(f"<path d='{line}' fill='none' stroke='#37474f' stroke-width='1.1'/>")
    marks: set[int] = set()
    for index in np.flatnonzero(flagged):
        px = x(float(ts[index]))
        column = int(px)
        if column in marks:
            continue
        marks.add(column)
        v = float(value[index])
        if math.isfinite(v):
            out.append(f"<circle cx='{px:.1f}' cy='{y(v):.1f}' r='2.6' fill='#e53935'/>")
        else:  # a flagged silence: a triangle on the axis
            base = _TOP + h
            out.append(f"<path d='M{px:.1f} {base - 7} l-3.5 6 h7 z' fill='#e53935'><title>no point</title></path>")
    for episode in episodes:
        a, b = max(episode.start, t0), min(episode.end, t1)
        if b <= a:
            continue
        colour = _LABEL_COLOURS[episode.label]
        out.append(f"<rect x='{x(a):.1f}' y='{_TOP + h - 3}' width='{max(x(b) - x(a), 2.0):.1f}' height='3' "
                   f"fill='{colour}'><title>{esc(episode.label)} episode</title></rect>")  # fmt: skip
    out += _axes(t0, t1, lo, hi, x, y)
    out.append(f"<text x='{_WIDTH - _RIGHT}' y='{_TOP - 5}' font-size='11' text-anchor='end' fill='#555'>"
               f"{esc(title)}</text>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def _columns(ts: np.ndarray, t0: float, span_t: float, w: float) -> np.ndarray:
    """The pixel column of each point (points in one column are drawn as their envelope)."""
    return np.clip(((ts - t0) / span_t * w).astype(np.int64), -1, int(w) + 1)


def _segments(ok: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True as (start, stop) index pairs."""
    out = []
    start = None
    for index, good in enumerate(ok.tolist()):
        if good and start is None:
            start = index
        elif not good and start is not None:
            out.append((start, index))
            start = None
    if start is not None:
        out.append((start, len(ok)))
    return out


def _reduce(ts: np.ndarray, values: np.ndarray, columns: np.ndarray, how: str) -> list[tuple[float, float]]:
    """(t, v) points of one segment, at most two per pixel column (``envelope``: min and max; ``mean``: mean)."""
    if len(ts) <= 2 * (int(columns.max()) - int(columns.min()) + 1):
        return list(zip(ts.tolist(), values.tolist(), strict=True))
    out: list[tuple[float, float]] = []
    bounds = np.flatnonzero(np.diff(columns)) + 1
    for part_t, part_v in zip(np.split(ts, bounds), np.split(values, bounds), strict=True):
        if how == "mean":
            out.append((float(part_t.mean()), float(part_v.mean())))
            continue
        i, j = int(np.argmin(part_v)), int(np.argmax(part_v))
        for k in sorted({i, j}):
            out.append((float(part_t[k]), float(part_v[k])))
    return out


def _line_path(ts: np.ndarray, values: np.ndarray, columns: np.ndarray, x: _Scale, y: _Scale, how: str) -> str:
    parts = []
    for a, b in _segments(np.isfinite(values)):
        pts = _reduce(ts[a:b], values[a:b], columns[a:b], how)
        if len(pts) == 1:
            t, v = pts[0]
            parts.append(f"M{x(t) - 1:.1f} {y(v):.1f}h2")
            continue
        parts.append("M" + " L".join(f"{x(t):.1f} {y(v):.1f}" for t, v in pts))
    return " ".join(parts)


def _band_path(ts: np.ndarray, lower: np.ndarray, upper: np.ndarray, columns: np.ndarray, x: _Scale, y: _Scale) -> str:
    parts = []
    for a, b in _segments(np.isfinite(lower) & np.isfinite(upper)):
        top = _reduce_extreme(ts[a:b], upper[a:b], columns[a:b], np.max)
        bottom = _reduce_extreme(ts[a:b], lower[a:b], columns[a:b], np.min)
        if len(top) < 2:
            continue
        forward = " L".join(f"{x(t):.1f} {y(v):.1f}" for t, v in top)
        back = " L".join(f"{x(t):.1f} {y(v):.1f}" for t, v in reversed(bottom))
        parts.append(f"M{forward} L{back} Z")
    return " ".join(parts)


def _reduce_extreme(ts: np.ndarray, values: np.ndarray, columns: np.ndarray, pick: _Pick) -> list[tuple[float, float]]:
    if len(ts) <= 2 * (int(columns.max()) - int(columns.min()) + 1):
        return list(zip(ts.tolist(), values.tolist(), strict=True))
    bounds = np.flatnonzero(np.diff(columns)) + 1
    return [
        (float(part_t.mean()), float(pick(part_v)))
        for part_t, part_v in zip(np.split(ts, bounds), np.split(values, bounds), strict=True)
    ]


def _axes(t0: float, t1: float, lo: float, hi: float, x: _Scale, y: _Scale) -> list[str]:
    out = []
    base = _TOP + _HEIGHT - _TOP - _BOTTOM
    for k in range(5):  # y ticks
        v = lo + (hi - lo) * k / 4
        out.append(f"<line x1='{_LEFT - 4}' x2='{_LEFT}' y1='{y(v):.1f}' y2='{y(v):.1f}' stroke='#999'/>")
        out.append(f"<text x='{_LEFT - 6}' y='{y(v) + 3:.1f}' font-size='10' text-anchor='end' fill='#555'>"
                   f"{esc(_tick(v, hi - lo))}</text>")  # fmt: skip
    span = t1 - t0
    step = next((s for s in _TIME_STEPS if span / s <= 8), _TIME_STEPS[-1])
    tick = math.ceil(t0 / step) * step
    fmt = "%m-%d %H:%M" if span > 86400 or step >= 86400 else "%H:%M"
    while tick <= t1:
        px = x(tick)
        out.append(f"<line x1='{px:.1f}' x2='{px:.1f}' y1='{base}' y2='{base + 4}' stroke='#999'/>")
        label = datetime.fromtimestamp(tick, tz=UTC).strftime(fmt)
        anchor = "end" if px > _WIDTH - _RIGHT - 30 else "middle"
        out.append(
            f"<text x='{px:.1f}' y='{base + 16}' font-size='10' text-anchor='{anchor}' fill='#555'>{label}</text>"
        )
        tick += step
    out.append(f"<text x='{_LEFT}' y='{_HEIGHT - 3}' font-size='10' fill='#888'>UTC</text>")
    return out


_TIME_STEPS: Final = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def _tick(v: float, span: float) -> str:
    if span == 0 or not math.isfinite(v):
        return f"{v:g}"
    digits = max(0, min(6, 2 - math.floor(math.log10(span))))
    return f"{v:.{digits}f}"

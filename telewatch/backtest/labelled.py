"""Labelled series (``timestamp,value,label`` CSV): run the detectors over them and score them point-adjusted.

**Input.** One CSV per series (named by the file's stem), or several series in
one file told apart by a ``series`` column. Columns, by name: ``timestamp``
(epoch seconds or RFC 3339), ``value``, ``label`` (1: inside an anomaly an
operator labelled, 0: not). A CSV is *labelled* when it has a ``label`` column.

**Point adjustment.** A *segment* is a run of consecutive label-1 points. It is
detected, all its points true positives, when a point among its first ``delay``
points is flagged; otherwise all its points are false negatives. Flagged points
outside segments are false positives. Precision, recall and F1 are over all
points of all series pooled (and per series). (The widely copied AIOps Challenge
script, ``get_range_proba``, looks at the first ``delay + 1`` points: give
``delay`` one more to compare with figures made with it.)

**Best threshold.** The F1 when the flag decision is replaced by ``score >= t``,
for the best single ``t`` over all series pooled: a segment then counts as
detected when the maximum score of its first ``delay`` points reaches ``t``.

**Alert load.** Flagged points per series-day; episodes (runs of flagged points,
a gap of at most one unflagged point merged) per series-day; flagged points on
label-0 points as a share of label-0 points.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import numpy as np
from rich import box
from rich.table import Table
from tqdm import tqdm

from detectors.api import build_detector
from telewatch.backtest.labelled_csv import LabelledFormatError, LabelledSeries
from telewatch.backtest.point_adjust import (
    DEFAULT_DELAY,
    EPISODE_GAP,
    BestThreshold,
    Figures,
    best_threshold,
    episodes,
    point_adjusted,
    ratio,
    segments,
)
from telewatch.backtest.report import REPORT_CSS, Span, esc, fmt_num, fmt_pct, html_table, html_td, svg_plot
from telewatch.backtest.run import JUDGED, DetectorLike, Episode, SeriesTrace, trace_of
from telewatch.config import Config

#: Zoomed plots of missed segments per series at most.
MAX_ZOOMS: Final = 2


# -- the run ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesOutcome:
    """One series: its labels, the detector's verdicts and its figures."""

    series: LabelledSeries
    trace: SeriesTrace
    step_s: float
    figures: Figures
    best: BestThreshold | None

    @property
    def unjudged(self) -> int:
        """Points the detector did not judge (learning, warming up)."""
        return int((self.trace.status != JUDGED).sum())


@dataclass(frozen=True)
class LabelledResult:
    """Figures per series and pooled."""

    delay: int
    outcomes: list[SeriesOutcome]
    pooled: Figures
    best: BestThreshold | None
    runtime_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "delay": self.delay,
            "episode_gap": EPISODE_GAP,
            "runtime_s": self.runtime_s,
            "pooled": {**self.pooled.to_json(), "best_threshold": _best_json(self.best)},
            "series": [
                {
                    "series": o.series.name,
                    "file": o.series.source,
                    "step_s": o.step_s,
                    "unjudged": o.unjudged,
                    **o.figures.to_json(),
                    "best_threshold": _best_json(o.best),
                }
                for o in self.outcomes
            ],
        }


def _best_json(best: BestThreshold | None) -> dict[str, Any] | None:
    return None if best is None else dict(best.__dict__)


def run_labelled(
    series: Sequence[LabelledSeries],
    config: Config | None = None,
    delay: int = DEFAULT_DELAY,
    *,
    detector_factory: Callable[[str], DetectorLike] | None = None,
    progress: bool = True,
) -> LabelledResult:
    """Feed each series, in timestamp order, to its detector (default: the one ``config`` gives) and score it."""
    if delay < 1:
        raise ValueError(f"delay must be at least 1 point, not {delay}")
    began = time.monotonic()
    cfg = config if config is not None else Config()
    factory = detector_factory or partial(build_detector, settings=cfg.detectors, metrics=cfg.streams.metrics)
    outcomes = []
    total = sum(len(s.ts) for s in series)
    with tqdm(total=total, unit="pt", desc="backtest", disable=None if progress else True) as bar:
        for item in series:
            try:
                detector = factory(item.name)
            except ValueError as exc:
                raise LabelledFormatError(f"{item.source}: series {item.name!r} has no detector: {exc}") from None
            trace = _replay(detector, item)
            bar.update(len(item.ts))
            step = float(np.median(np.diff(item.ts))) if len(item.ts) > 1 else 0.0
            days = (float(item.ts[-1] - item.ts[0]) + step) / 86400
            figures = point_adjusted(item.label, trace.flagged, delay, days)
            best = best_threshold([(item.label, trace.score)], delay)
            outcomes.append(SeriesOutcome(item, trace, step, figures, best))
    pooled = sum((o.figures for o in outcomes), Figures(0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0))
    best = best_threshold([(o.series.label, o.trace.score) for o in outcomes], delay)
    return LabelledResult(delay, outcomes, pooled, best, time.monotonic() - began)


def _replay(detector: DetectorLike, item: LabelledSeries) -> SeriesTrace:
    verdicts = [detector.feed(t, v, None) for t, v in zip(item.ts.tolist(), item.value.tolist(), strict=True)]
    return trace_of(verdicts, [None] * len(verdicts))


# -- output -----------------------------------------------------------------------------------------------
def console_table(result: LabelledResult) -> Table:
    """Per series and pooled: point-adjusted P/R/F1, best-threshold F1 and t, alert load (fits 80 columns)."""
    table = Table(
        title=f"labelled series, point-adjusted (delay {result.delay})",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )
    table.add_column("series", overflow="fold", min_width=8)
    for column in ("segments\nfound", "P", "R", "F1", "best F1\n(at t)", "flagged\n/day", "episodes\n/day",
                   "flagged\nunlab."):  # fmt: skip
        table.add_column(column, justify="right", no_wrap=True)
    rows = [(o.series.name, o.figures, o.best) for o in result.outcomes] + [("all", result.pooled, result.best)]
    for name, f, best in rows:
        table.add_row(
            name, f"{f.detected_segments}/{f.segments}", _short(f.precision), _short(f.recall), fmt_num(f.f1, 3),
            "n/a" if best is None else f"{best.f1:.3f}\n({best.threshold:.3g})", fmt_num(ratio(f.flagged, f.days), 2),
            fmt_num(ratio(f.episodes, f.days), 2), _short(f.unlabelled_flag_share, 3),
        )  # fmt: skip
    return table


def _short(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def write_json(result: LabelledResult, path: Path, command: str | None = None) -> None:
    """All figures as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"command": command, "kind": "labelled", **result.to_json()}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def write_html(result: LabelledResult, path: Path, command: str | None = None) -> None:
    """A self-contained HTML report: the figures, then a plot per series with its segments and flags."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result, command), encoding="utf-8")


def render_html(result: LabelledResult, command: str | None = None) -> str:
    """The report as an HTML string."""
    p, best = result.pooled, result.best
    summary = [
        ("Point-adjusted precision / recall / F1",
         f"{fmt_pct(p.precision)} / {fmt_pct(p.recall)} / {fmt_num(p.f1, 3)} (TP {p.tp:,}, FP {p.fp:,}, FN {p.fn:,})"),
        ("Segments detected", f"{p.detected_segments} of {p.segments} (a flag within the first {result.delay} points)"),
        ("Best-threshold F1 (score ≥ t)", "n/a" if best is None else
         f"{best.f1:.3f} at t = {best.threshold:.4g} (precision {fmt_pct(best.precision)}, recall {fmt_pct(best.recall)})"),
        ("Flagged points per series-day", f"{fmt_num(ratio(p.flagged, p.days), 2)} ({p.flagged:,} points)"),
        ("Episodes per series-day", f"{fmt_num(ratio(p.episodes, p.days), 2)} ({p.episodes:,} episodes)"),
        ("Flagged unlabelled points", f"{_short(p.unlabelled_flag_share, 3)} ({p.fp:,} of {p.points - p.labelled:,})"),
        ("Series / points / series-days", f"{len(result.outcomes)} / {p.points:,} / {p.days:.1f}"),
        ("Detector run time", f"{result.runtime_s:.1f} s"),
    ]  # fmt: skip
    if command:
        summary.append(("Command", command))
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary)
    rows = [
        [html_td(o.series.name), html_td(f"{f.detected_segments}/{f.segments}", "n"), html_td(f"{f.tp:,}", "n"),
         html_td(f"{f.fp:,}", "n"), html_td(f"{f.fn:,}", "n"), html_td(fmt_pct(f.precision), "n"), html_td(fmt_pct(f.recall), "n"),
         html_td(fmt_num(f.f1, 3), "n"), html_td("n/a" if o.best is None else f"{o.best.f1:.3f} ({o.best.threshold:.3g})", "n"),
         html_td(fmt_num(ratio(f.flagged, f.days), 2), "n"), html_td(fmt_num(ratio(f.episodes, f.days), 2), "n"),
         html_td(_short(f.unlabelled_flag_share, 3), "n"), html_td(f"{o.unjudged:,}", "n")]
        for o, f in ((o, o.figures) for o in result.outcomes)
    ]  # fmt: skip
    header = ("series", "segments found", "TP", "FP", "FN", "precision", "recall", "F1", "best F1 (own t)",
              "flagged/day", "episodes/day", "flagged unlabelled", "not judged")  # fmt: skip
    legend = (
        "<p class='legend'><span><i class='sw' style='background:#37474f'></i>value</span>"
        "<span><i class='sw' style='background:#90caf9'></i>expected band</span>"
        "<span><i class='sw' style='background:#e53935'></i>flagged point</span>"
        "<span><i class='sw' style='background:#ffe0b2'></i>labelled segment</span>"
        "<span><i class='sw' style='background:#2e7d32'></i>/<i class='sw' style='background:#c62828'></i>"
        "episode: on a segment / off</span></p>"
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>telewatch labelled backtest</title>",
        f"<style>{REPORT_CSS}</style></head><body><h1>telewatch backtest on labelled series</h1>",
        f"<h2>Pooled</h2><table><tbody>{body}</tbody></table>",
        f"<p class='small'>{esc(_definitions(result.delay))}</p>",
        f"<h2>Per series</h2>{html_table(header, rows)}",
        f"<h2>Series</h2>{legend}",
        *(_plot(o, result.delay) for o in result.outcomes),
        "</body></html>",
    ]
    return "\n".join(parts)


def _definitions(delay: int) -> str:
    return (
        f"A labelled segment is detected (all its points true positives) when one of its first {delay} points is "
        "flagged, else all its points are false negatives; flagged points outside segments are false positives. "
        f"Best-threshold F1: flag where score ≥ t, a segment's score being the maximum over its first {delay} "
        f"points. Episodes: runs of flagged points, gaps of at most {EPISODE_GAP} point merged."
    )


def _plot(outcome: SeriesOutcome, delay: int) -> str:
    trace, step, label = outcome.trace, max(outcome.step_s, 1e-9), outcome.series.label
    marks = [
        Episode(outcome.series.name, outcome.series.name, float(trace.ts[a]), float(trace.ts[b - 1]) + step, b - a,
                "incident" if label[a:b].any() else "false", None, float(trace.score[a:b].max()),
                float(trace.value[a]), None, None)
        for a, b in episodes(trace.flagged)
    ]  # fmt: skip
    spans, missed = [], []
    for a, b in zip(*(s.tolist() for s in segments(label)), strict=True):
        found = bool(trace.flagged[a : min(a + delay, b)].any())
        spans.append(Span(float(trace.ts[a]), float(trace.ts[b - 1]) + step, "", True))
        if not found:
            missed.append(Span(spans[-1].start, spans[-1].end, "missed", True))
    f = outcome.figures
    caption = (
        f"{f.points:,} points every {outcome.step_s:g} s; {f.segments} segments ({f.labelled:,} points), "
        f"{f.detected_segments} detected; {f.flagged:,} flagged points in {f.episodes:,} episodes"
    )
    t0, t1 = float(trace.ts[0]), float(trace.ts[-1]) + step
    parts = [f"<div class='series'><h3>{esc(outcome.series.name)}</h3><div class='small'>{esc(caption)}</div>"]
    parts.append(svg_plot(trace, spans, marks, t0, t1, step, "whole series"))
    for span in missed[:MAX_ZOOMS]:
        pad = max(48 * step, span.end - span.start)
        lo, hi = max(t0, span.start - pad), min(t1, span.end + pad)
        parts.append(svg_plot(trace, [*spans, span], marks, lo, hi, step, "zoom: a missed segment"))
    return "\n".join(parts) + "</div>"

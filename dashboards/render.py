"""Renderings of the dashboards' main panels from an InfluxDB's data, as PNG files (matplotlib).

These are pictures of the data each panel queries, drawn by matplotlib, so a
reader of the README sees what the NOC sees; they are not Grafana screenshots
(Grafana cannot run where they are made) and each says so in its title.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dashboards.query_check import Runner, interpolate, panels_of, resolve

#: Panel types drawn (stats, gauges and tables are summaries of the same data).
DRAWN = ("timeseries", "state-timeline")
NOTE = "matplotlib rendering of the panel queries on InfluxDB data, not a Grafana screenshot"


#: Column names InfluxQL gives an unaliased aggregate: the series' tags name it better.
_UNNAMED = {"mean", "max", "min", "sum", "last", "count", "sum_count"}
#: The state grid's colours, as the panel's thresholds give them (score 0.5: the detectors' threshold).
_STATE = [(0.8, "#e02f44"), (0.5, "#ff9830"), (float("-inf"), "#73bf69")]


def _series(result: dict[str, Any]) -> list[tuple[str, list[float], list[float]]]:
    """(label, times in s, values) of each column of each series, nulls left out."""
    drawn = []
    for s in result.get("series", []):
        tags = " · ".join(v for v in (s.get("tags") or {}).values() if v)
        for col in range(1, len(s["columns"])):
            points = [
                (row[0] / 1000, row[col])
                for row in s["values"]
                if isinstance(row[col], int | float) and not isinstance(row[col], bool)
            ]
            if points:
                name = "" if s["columns"][col] in _UNNAMED else s["columns"][col]
                label = " · ".join(x for x in (tags, name) if x) or s["name"]
                drawn.append((label, [t for t, _ in points], [float(v) for _, v in points]))
    return drawn


def _colour(score: float) -> str:
    return next(colour for bound, colour in _STATE if score >= bound)


def render_board(
    board: dict[str, Any], run: Runner, time_range: str, interval: str, out: Path, panels: int = 4
) -> Path:
    """Draw the first ``panels`` time-series/state panels of ``board`` into ``out`` (a PNG); returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    variables, scope, _ = resolve(board, run, time_range, interval)
    chosen = [p for p in panels_of(board) if p.get("type") in DRAWN][:panels]
    fig, axes = plt.subplots(len(chosen), 1, figsize=(11, 2.6 * len(chosen)), squeeze=False)
    for ax, panel in zip(axes[:, 0], chosen, strict=True):
        for target in panel["targets"]:
            result = run(interpolate(target["query"], variables, scope, time_range, interval))
            for row, (label, times, values) in enumerate(_series(result)[:14]):
                dates = [datetime.fromtimestamp(t, UTC) for t in times]
                if panel["type"] == "state-timeline":
                    ax.scatter(dates, [row] * len(dates), c=[_colour(v) for v in values], marker="s", s=30)
                    ax.text(1.01, row, label, transform=ax.get_yaxis_transform(), fontsize=7, va="center")
                    continue
                style = "o" if "anomaly" in label or "surge" in label else "-"
                ax.plot(dates, values, style, label=label, linewidth=1.2, markersize=4)
        if panel["type"] == "state-timeline":
            ax.set_yticks([])
            ax.invert_yaxis()
        ax.set_title(panel["title"], loc="left", fontsize=10)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"{board['title']}  ({NOTE})", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out

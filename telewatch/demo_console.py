"""The demo's periodic status: one :class:`Snapshot` of the pipeline's counters, shown by :class:`DemoConsole`
as a live table on a terminal, or as short plain lines elsewhere (CI, pipes, log files).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

#: Longest plain line; continuation lines are indented under the phase.
PLAIN_WIDTH = 140
_INDENT = " " * 9
#: Live tables: the traffic beside the detectors and bad events from this console width, else one below the other.
SIDE_BY_SIDE_WIDTH = 100
SECTION_WIDTH = 44


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class StreamsCounters:
    """What the demo shows of the streams worker's status file."""

    events: int | None = None
    series: int | None = None
    points: int | None = None
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    late: int | None = None
    duplicates: int | None = None
    influx_written: int | None = None
    influx_buffered: int | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> StreamsCounters:
        influx = status.get("influxdb") or {}
        return cls(
            events=_int(status.get("events")),
            series=_int(status.get("series")),
            points=_int(status.get("points")),
            dead_letters={str(k): int(v) for k, v in (status.get("dead_letters") or {}).items()},
            late=_int(status.get("late")),
            duplicates=_int(status.get("duplicates")),
            influx_written=_int(influx.get("written")),
            influx_buffered=_int(influx.get("buffered")),
        )


@dataclass(frozen=True)
class DetectorsCounters:
    """What the demo shows of the detectors worker's status file."""

    points: int | None = None
    judged: int | None = None
    anomalies: int | None = None
    silent: int | None = None
    correlated: int | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> DetectorsCounters:
        points, judged, anomalies, silent, correlated = (
            _int(status.get(name)) for name in ("points", "judged", "anomalies", "silent", "correlated")
        )
        return cls(points=points, judged=judged, anomalies=anomalies, silent=silent, correlated=correlated)


@dataclass(frozen=True)
class AlertingCounters:
    """What the demo shows of alerting: alerts opened, messages that arrived, acknowledgements by people."""

    alerts: int = 0
    #: SMS at the fake SMSC and IM messages at the local robots, this run.
    sms: int = 0
    im: int = 0
    acknowledged: int = 0


@dataclass(frozen=True)
class Replay:
    """The history replay under way: how far its simulated clock got towards the wall clock, events produced."""

    #: Simulated time reached (epoch seconds).
    sim_at: float
    #: Share of the simulated span replayed, 0 to 1.
    fraction: float
    #: Events the replay produced so far.
    produced: int

    @property
    def total(self) -> int | None:
        """Events the whole replay will have produced, estimated from the share done (None: too early to say)."""
        if self.fraction <= 0:
            return None
        return max(self.produced, round(self.produced / min(self.fraction, 1.0)))


@dataclass(frozen=True)
class Snapshot:
    """The demo's counters at one moment: simulator, both workers' status files, anomaly episodes, InfluxQL."""

    #: Wall clock (epoch seconds).
    at: float
    #: Events produced since the demo began (history and live).
    produced: int
    produced_per_s: float
    #: None: the worker has written no status yet.
    streams: StreamsCounters | None
    streams_per_s: float
    detectors: DetectorsCounters | None
    #: Anomaly episodes read from the anomalies topic.
    episodes: int = 0
    #: Incidents the simulator injected so far (ground truth).
    incidents: int = 0
    #: ``telewatch_metric`` points an InfluxQL count finds since ``since`` (str: why the query failed).
    influx_points: int | str | None = None
    since: float | None = None
    #: The history replay, while it runs.
    replay: Replay | None = None
    #: When the first metric points are due (shown until then).
    first_points_at: float | None = None
    #: The streams worker's backlog is shown once it exceeds this many events.
    behind_from: float = 0.0
    #: Alerts and messages (None: no alerting in this run).
    alerting: AlertingCounters | None = None

    @property
    def phase(self) -> str:
        return "history" if self.replay is not None else "live"

    @property
    def to_read(self) -> int | None:
        """Events produced that the streams worker has not read yet, when that is worth showing."""
        if self.streams is None or self.streams.events is None:
            return None
        behind = self.produced - self.streams.events
        return behind if behind > self.behind_from else None

    @property
    def points_due(self) -> float | None:
        return self.first_points_at if self.first_points_at is not None and self.at < self.first_points_at else None


def number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int | float) else "-"


def by_reason(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    detail = ", ".join(f"{reason} {n:,}" for reason, n in sorted(counts.items()) if n)
    return f"{total:,}{f' ({detail})' if detail else ''}"


def clock_text(ts: float) -> str:
    return f"{datetime.fromtimestamp(ts, UTC):%H:%M:%S}"


class DemoConsole:
    """Shows snapshots on ``console``: a live table if it is a terminal (:meth:`table`), else plain lines (:meth:`lines`).

    Use it as a context manager around the run; what else the demo prints meanwhile goes above the live table.
    """

    def __init__(self, console: Console, *, live: bool | None = None, width: int = PLAIN_WIDTH) -> None:
        self.console = console
        self.live = console.is_terminal and not console.is_dumb_terminal if live is None else live
        self.width = width
        self._live: Live | None = None

    def __enter__(self) -> DemoConsole:
        if self.live and self._live is None:
            self._live = Live(Text("waiting for the first counters ..."), console=self.console, refresh_per_second=4)
            self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def show(self, snapshot: Snapshot) -> None:
        if self._live is not None:
            self._live.update(self.table(snapshot), refresh=True)
        elif self.live:
            self.console.print(self.table(snapshot))
        else:
            for line in self.lines(snapshot):
                self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    # -- plain ---------------------------------------------------------------------------------------

    def lines(self, s: Snapshot) -> list[str]:
        """Plain lines, none longer than ``width``: the flow, the detectors, bad events and InfluxDB writes."""
        flow = []
        if s.replay is not None:
            total = s.replay.total
            flow.append(
                f"replay {s.replay.fraction:.0%} (sim {clock_text(s.replay.sim_at)}, "
                f"{s.replay.produced:,} of ~{number(total)} events)"
            )
        flow.append(f"produced {s.produced_per_s:,.0f}/s ({s.produced:,})")
        st, det = s.streams, s.detectors
        if st is None:
            flow.append("streams worker: no status yet")
        else:
            backlog = f", {s.to_read:,} to read" if s.to_read is not None else ""
            flow += [
                f"streams {s.streams_per_s:,.0f} ev/s ({number(st.events)}{backlog})",
                f"series {number(st.series)}",
                f"points {number(st.points)}",
            ]
        if isinstance(s.influx_points, int) and s.since is not None:
            flow.append(f"influx {s.influx_points:,} since {clock_text(s.since)}")
        elif isinstance(s.influx_points, str):
            flow.append(f"InfluxQL: {s.influx_points}")
        detected = []
        if det is None:
            detected.append("detectors worker: no status yet")
        else:
            detected += [
                f"detectors judged {number(det.judged)} of {number(det.points)} points",
                f"anomalies {number(det.anomalies)} ({s.episodes:,} episodes, {number(det.silent)} silent)",
                f"correlated incidents {number(det.correlated)}",
            ]
        detected.append(f"injected incidents {s.incidents:,}")
        if s.points_due is not None:
            detected.append(f"(first metric points due about {clock_text(s.points_due)})")
        told = []
        if s.alerting is not None:
            a = s.alerting
            told = [f"alerts {a.alerts:,}", f"SMS at the SMSC {a.sms:,}", f"IM messages {a.im:,}",
                    f"acknowledged {a.acknowledged:,}"]  # fmt: skip
        quality = []
        if st is not None:
            quality += [
                f"dead letters {by_reason(st.dead_letters)}",
                f"late {number(st.late)}",
                f"duplicates {number(st.duplicates)}",
                f"InfluxDB written {number(st.influx_written)} buffered {number(st.influx_buffered)}",
            ]
        lines = self._pack(f"{clock_text(s.at)} {s.phase:<7}", flow)
        for fields in (detected, told, quality):
            if fields:
                lines += self._pack(_INDENT, fields)
        return lines

    def _pack(self, head: str, fields: list[str]) -> list[str]:
        """``fields`` two spaces apart after ``head``, going on an indented line when one does not fit."""
        lines: list[str] = []
        line = head
        for text in fields:
            sep = "  " if line.strip() else ""
            if line.strip() and len(line) + len(sep) + len(text) > self.width:
                lines.append(line)
                line, sep = _INDENT, ""
            room = self.width - len(line) - len(sep)
            parts = (textwrap.wrap(text, room) or [""]) if len(text) > room else [text]
            line += sep + parts[0]
            for part in parts[1:]:
                lines.append(line)
                line = _INDENT + part
        return [*lines, line]

    # -- terminal ------------------------------------------------------------------------------------

    def table(self, s: Snapshot) -> RenderableType:
        """The progress bars (history replay, streams worker catching up) above tables of the counters."""
        parts: list[RenderableType] = [
            Text.assemble("telewatch demo  ", (f"{clock_text(s.at)} UTC", "bold"), f"  {s.phase}")
        ]
        bars = self._progress(s)
        if bars is not None:
            parts.append(bars)
        traffic, found, bad = self._traffic(s), self._detectors(s), self._bad_events(s)
        told = [self._alerting(s.alerting)] if s.alerting is not None else []
        if self.console.width >= SIDE_BY_SIDE_WIDTH:
            layout = Table.grid(padding=(0, 2))
            layout.add_row(Group(traffic, *told), Group(found, bad))
            parts.append(layout)
        else:
            parts += [traffic, found, *told, bad]
        if isinstance(s.influx_points, str):
            parts.append(Text(f"InfluxQL: {s.influx_points}", style="yellow"))
        return Group(*parts)

    def _progress(self, s: Snapshot) -> Table | None:
        events = s.streams.events if s.streams is not None else None
        if s.replay is None and s.to_read is None:
            return None
        grid = Table.grid(padding=(0, 1))
        if s.replay is not None:
            r, total = s.replay, s.replay.total
            grid.add_row(
                "history replay",
                ProgressBar(total=total, completed=r.produced, width=30),
                f"{r.fraction:>4.0%}",
                f"{r.produced:,} of ~{number(total)} events produced, simulated clock at {clock_text(r.sim_at)}",
            )
        if events is not None:
            read = min(events, s.produced)
            grid.add_row(
                "streams worker",
                ProgressBar(total=max(s.produced, 1), completed=read, width=30),
                f"{read / max(s.produced, 1):>4.0%}",
                f"{events:,} of {s.produced:,} events read" + (f", {s.to_read:,} to read" if s.to_read else ""),
            )
        return grid

    def _traffic(self, s: Snapshot) -> Table:
        st = s.streams
        since = f"InfluxQL: metric points since {clock_text(s.since)}" if s.since is not None else None
        table = _section("traffic", "per second", "total", caption=since)
        table.add_row("produced", f"{s.produced_per_s:,.0f}", f"{s.produced:,}")
        if st is None:
            table.add_row("streams worker", "", "no status yet")
        else:
            table.add_row("streams events", f"{s.streams_per_s:,.0f}", number(st.events))
            table.add_row("metric series", "", number(st.series))
            table.add_row("metric points", "", number(st.points))
            table.add_row("InfluxDB written", "", number(st.influx_written))
            table.add_row("InfluxDB buffered", "", number(st.influx_buffered))
        if isinstance(s.influx_points, int):
            table.add_row("InfluxQL finds", "", f"{s.influx_points:,}")
        return table

    def _detectors(self, s: Snapshot) -> Table:
        det = s.detectors
        table = _section("detectors", "", "")
        if det is None:
            table.add_row("detectors worker", "", "no status yet")
        else:
            table.add_row("judged points", f"of {number(det.points)}", number(det.judged))
            table.add_row("anomalies", f"{s.episodes:,} episodes", number(det.anomalies))
            table.add_row("  silent", "", number(det.silent))
            table.add_row("correlated incidents", "", number(det.correlated))
        table.add_row("injected incidents", "ground truth", f"{s.incidents:,}")
        if s.points_due is not None:
            table.add_row("first points due", "about", clock_text(s.points_due))
        return table

    def _alerting(self, a: AlertingCounters) -> Table:
        table = _section("people told", "")
        table.add_row("alerts opened", f"{a.alerts:,}")
        table.add_row("SMS at the fake SMSC", f"{a.sms:,}")
        table.add_row("IM robot messages", f"{a.im:,}")
        table.add_row("acknowledged", f"{a.acknowledged:,}")
        return table

    def _bad_events(self, s: Snapshot) -> Table:
        st = s.streams
        table = _section("bad events", "")
        if st is None:
            table.add_row("streams worker", "no status yet")
            return table
        table.add_row("dead letters", f"{sum(st.dead_letters.values()):,}")
        for reason, n in sorted(st.dead_letters.items()):
            table.add_row(f"  {reason}", f"{n:,}")
        table.add_row("late events", number(st.late))
        table.add_row("duplicates", number(st.duplicates))
        return table


def _section(title: str, *headers: str, caption: str | None = None) -> Table:
    """A boxed table: a label column, then right-aligned value columns (headers shown if any is not empty)."""
    table = Table(
        title=title, caption=caption, box=box.ROUNDED, show_header=any(headers), title_justify="left",
        title_style="bold", caption_justify="left", min_width=SECTION_WIDTH,
    )  # fmt: skip
    table.add_column(no_wrap=True)
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    return table

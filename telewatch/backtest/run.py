"""Backtests: replay recorded metric points through a detector configuration and score it on labelled incidents.

:func:`run_backtest` feeds each series' points, in time order, to the detector
:func:`detectors.api.build_detector` gives it (the same one the detectors
worker runs), and compares what it flags with the ground truth.

**Windows.** The window is the points' ``window_end - window_start`` (the most
common one). A series' *cadence* is the gap between consecutive points, in
windows, that 95 % of its gaps do not exceed (1 for busy call and SMS series; 5
for a KPI reported every 5 minutes in 1-minute windows; 3 for a region KPI whose
3 cells report at minutes 0, 1 and 2 of each 5): its usual rhythm, not a
silence. Where a series skips more than its cadence, each cadence slot it missed
is given to the detector with ``feed_missing`` (silence where traffic was
expected is itself anomalous).

**Episodes.** Flagged points of a series that are at most ``merge_gap_windows``
(default 2) cadence slots apart form one *episode* (one alert, for an operator).

**Incidents.** An incident (``incidents.jsonl`` of the simulator: id, kind,
start, end, series) is *detected* when one of the series it lists has a
flagged point whose window overlaps ``[start, end + grace]``, the grace being
``grace_windows`` windows (default 2: the duration rule needs a window or two
to see that it ended). *Time to detect* is the end of the first such flagged
window minus the start, in windows: the flag cannot be raised before the data
of that window is complete, so with the default 2-of-3 rule an outage that
starts on a window boundary is detected after 2 windows at best (the live
pipeline adds its allowed lateness on top). It is never negative.

Each episode overlapping ``[start, end + grace]`` of an incident is labelled:

- ``incident``: its series is listed by the incident, or is a *roll-up* of a
  listed series: the same metric with a subset of its dimensions (the region
  of a listed cell; the channel of a listed channel and kind; the region KPI of
  a listed element KPI);
- ``related``: the incident affects its metric (a metric of a listed series, or
  one the incident kind is known to move, :data:`KIND_METRICS`) and its
  dimensions agree with the incident's target (``scope``: region, cell,
  channel, category, scenario; a KPI's ``element`` is its cell): a real effect
  the ground truth did not call material, e.g. the region's setup success
  during a core congestion, or a small {channel, kind} series of a channel in
  outage;
- ``false`` otherwise: a false alarm.

**Figures.** Recall = detected incidents / incidents. Precision = episodes
explained by an incident (``incident`` + ``related``) / all episodes. False
alarms per series-day = ``false`` episodes / series-days, a series covering
the time from its first window start to its last window end.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import msgspec
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from core.contracts import MetricPoint
from core.series import parse_series_key
from detectors.api import build_detector
from detectors.series_detector import Verdict
from telewatch.config import Config

EpisodeLabel = Literal["incident", "related", "false"]
FloatArray = npt.NDArray[np.float64]

#: Metrics each simulator incident kind moves, beyond the series it lists (for ``related`` episodes).
KIND_METRICS: Final[Mapping[str, frozenset[str]]] = {
    "sms_channel_outage": frozenset({"sms_delivery_success_rate", "sms_delivery_latency_p95"}),
    "cell_outage": frozenset(
        {"call_setup_success_rate", "call_drop_rate", "call_setup_time_p95", "network_kpi", "complaint_count"}
    ),
    "core_congestion": frozenset({"call_setup_time_p95", "call_setup_success_rate"}),
    "slow_degradation": frozenset({"call_drop_rate", "network_kpi", "sms_delivery_success_rate"}),
    "complaint_surge": frozenset({"complaint_count"}),
}
#: Share of a series' gaps its cadence covers: the longest gap of its usual pattern is not a silence.
CADENCE_SHARE: Final = 0.95
#: Dimensions that say *where* (compared with an incident's scope); a KPI's element is its cell.
_AREA_ALIASES: Final = {"element": "cell_id"}

# Trace status codes (why a point was or was not judged).
JUDGED: Final = 0
LEARNING: Final = 1
LOW_VOLUME: Final = 2
MISSING: Final = 3
OTHER: Final = 4
STATUS_NAMES: Final = {
    JUDGED: "judged",
    LEARNING: "learning",
    LOW_VOLUME: "too few events",
    MISSING: "no point",
    OTHER: "not judged",
}


class IncidentLike(Protocol):
    """What a ground-truth incident must have (``simulator.IncidentRecord`` and :class:`GroundTruth` do)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def series(self) -> Sequence[str]: ...


class DetectorLike(Protocol):
    """What the backtest needs of a detector (:class:`detectors.series_detector.SeriesDetector` has it)."""

    @property
    def kind(self) -> str: ...
    def feed(self, ts: float, value: float, volume: float | None = None) -> Verdict: ...
    def feed_missing(self, ts: float) -> Verdict: ...


class GroundTruth(msgspec.Struct, frozen=True, kw_only=True):
    """One labelled incident, as a line of ``incidents.jsonl`` (the simulator's lines carry more, ignored here)."""

    id: str
    kind: str
    start: datetime
    end: datetime
    #: Series keys on which the effect is material.
    series: list[str] = []
    #: The target: some of region, cell_id, channel, category, scenario.
    scope: dict[str, str] = {}
    description: str = ""


def read_incidents(path: Path | str) -> list[GroundTruth]:
    """The incidents of a JSONL ground-truth file (one incident per line), by start time."""
    decode = msgspec.json.Decoder(GroundTruth).decode
    incidents = []
    with Path(path).open("rb") as stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                try:
                    incidents.append(decode(line))
                except msgspec.DecodeError as exc:
                    raise ValueError(f"{path}:{number}: not an incident: {exc}") from None
    return sorted(incidents, key=lambda i: (i.start, i.id))


# -- results ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesTrace:
    """Every verdict of one series (arrays of equal length, by time): what the report plots."""

    ts: FloatArray
    value: FloatArray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    score: FloatArray
    volume: FloatArray
    anomalous: npt.NDArray[np.bool_]
    flagged: npt.NDArray[np.bool_]
    #: JUDGED, LEARNING, LOW_VOLUME, MISSING or OTHER per verdict.
    status: npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Evidence:
    """What the detector of one listed series saw during an incident."""

    series: str
    points: int
    judged: int
    anomalous: int
    flagged: int
    max_score: float
    #: Medians over the judged points of the incident (None when none was judged).
    value: float | None
    expected: float | None
    volume: float | None
    #: The most common reason a point was not judged ("" when all were).
    not_judged: str


@dataclass(frozen=True)
class IncidentOutcome:
    """One incident: detected or missed, and how fast."""

    id: str
    kind: str
    start: datetime
    end: datetime
    description: str
    series: list[str]
    detected: bool
    #: Windows from the start to the end of the first flagged window (None: missed).
    ttd_windows: float | None
    first_flag_series: str | None
    first_flag_at: datetime | None
    #: Listed series that were flagged during the incident, and listed series that had points.
    flagged_series: int
    series_with_points: int
    #: Why a miss may be excusable: no points on its series, or its series were still warming up.
    note: str
    evidence: list[Evidence]


@dataclass(frozen=True)
class Episode:
    """A run of flagged points of one series."""

    series: str
    metric: str
    start: float
    end: float
    flagged_points: int
    label: EpisodeLabel
    #: The incident that explains it (``incident`` and ``related`` episodes).
    incident_id: str | None
    #: The most anomalous point: score, value, expected value and volume.
    max_score: float
    peak_value: float
    peak_expected: float | None
    peak_volume: float | None


@dataclass
class SeriesStats:
    """One series over the backtest."""

    series: str
    metric: str
    points: int
    missing: int
    flagged: int
    first: float
    last: float
    cadence_windows: int
    episodes: dict[str, int] = field(default_factory=lambda: {"incident": 0, "related": 0, "false": 0})
    incidents: list[str] = field(default_factory=list)
    #: Scoring starts here (after the learning period).
    scored_from: float = -math.inf

    @property
    def days(self) -> float:
        """Series-days this series covers (after the learning period)."""
        return max(0.0, self.last - max(self.first, self.scored_from)) / 86400


@dataclass(frozen=True)
class KindStats:
    """Recall and time to detect of one incident kind."""

    kind: str
    incidents: int
    detected: int
    median_ttd_windows: float | None

    @property
    def recall(self) -> float | None:
        return self.detected / self.incidents if self.incidents else None


@dataclass(frozen=True)
class MetricStats:
    """Episodes of one metric's series."""

    metric: str
    series: int
    series_days: float
    episodes: dict[str, int]

    @property
    def false_per_series_day(self) -> float | None:
        return self.episodes["false"] / self.series_days if self.series_days > 0 else None


@dataclass
class BacktestResult:
    """What a backtest found: per incident, per episode, per series, and the overall figures."""

    window_s: float
    grace_windows: int
    merge_gap_windows: int
    incidents: list[IncidentOutcome]
    episodes: list[Episode]
    series: dict[str, SeriesStats]
    #: Verdicts of the series worth plotting (with an incident or a flag), unless traces were not kept.
    traces: dict[str, SeriesTrace]
    points: int
    start: float
    end: float
    runtime_s: float
    has_truth: bool
    #: Episodes and incidents starting before this were learned from, not scored (``learn_s``).
    scored_from: float = -math.inf
    #: Incidents left out because they started in the learning period.
    unscored_incidents: int = 0
    #: Incidents left out because their ground truth lists no series with a material effect.
    unobservable_incidents: int = 0

    @property
    def recall(self) -> float | None:
        """Detected incidents / incidents (None without incidents)."""
        return sum(i.detected for i in self.incidents) / len(self.incidents) if self.incidents else None

    @property
    def precision(self) -> float | None:
        """Episodes an incident explains / episodes (None without episodes)."""
        if not self.episodes:
            return None
        return sum(e.label != "false" for e in self.episodes) / len(self.episodes)

    @property
    def median_ttd_windows(self) -> float | None:
        times = [i.ttd_windows for i in self.incidents if i.ttd_windows is not None]
        return statistics.median(times) if times else None

    @property
    def series_days(self) -> float:
        return sum(s.days for s in self.series.values())

    @property
    def false_alarms(self) -> int:
        return sum(e.label == "false" for e in self.episodes)

    @property
    def false_alarms_per_series_day(self) -> float | None:
        days = self.series_days
        return self.false_alarms / days if days > 0 else None

    def by_kind(self) -> list[KindStats]:
        """Recall and median time to detect per incident kind."""
        kinds: dict[str, list[IncidentOutcome]] = defaultdict(list)
        for incident in self.incidents:
            kinds[incident.kind].append(incident)
        out = []
        for kind, items in sorted(kinds.items()):
            times = [i.ttd_windows for i in items if i.ttd_windows is not None]
            median = statistics.median(times) if times else None
            out.append(KindStats(kind, len(items), sum(i.detected for i in items), median))
        return out

    def by_metric(self) -> list[MetricStats]:
        """Series, series-days and episodes per metric."""
        groups: dict[str, list[SeriesStats]] = defaultdict(list)
        for stats in self.series.values():
            groups[stats.metric].append(stats)
        out = []
        for metric, items in sorted(groups.items()):
            episodes = {"incident": 0, "related": 0, "false": 0}
            for stats in items:
                for label, n in stats.episodes.items():
                    episodes[label] += n
            out.append(MetricStats(metric, len(items), sum(s.days for s in items), episodes))
        return out

    def summary(self) -> dict[str, Any]:
        """The headline figures."""
        return {
            "incidents": len(self.incidents),
            "unobservable_incidents": self.unobservable_incidents,
            "detected": sum(i.detected for i in self.incidents),
            "recall": self.recall,
            "precision": self.precision,
            "median_ttd_windows": self.median_ttd_windows,
            "episodes": len(self.episodes),
            "episodes_by_label": dict(Counter(e.label for e in self.episodes)),
            "false_alarms": self.false_alarms,
            "false_alarms_per_series_day": self.false_alarms_per_series_day,
            "series": len(self.series),
            "series_days": self.series_days,
            "points": self.points,
            "window_s": self.window_s,
            "grace_windows": self.grace_windows,
            "merge_gap_windows": self.merge_gap_windows,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "runtime_s": self.runtime_s,
            "scored_from": _iso(self.scored_from),
            "unscored_incidents": self.unscored_incidents,
        }

    def to_json(self) -> dict[str, Any]:
        """Everything but the traces, as JSON-ready values."""
        return {
            "summary": self.summary(),
            "by_kind": [
                {
                    "kind": k.kind,
                    "incidents": k.incidents,
                    "detected": k.detected,
                    "recall": k.recall,
                    "median_ttd_windows": k.median_ttd_windows,
                }
                for k in self.by_kind()
            ],
            "by_metric": [
                {
                    "metric": m.metric,
                    "series": m.series,
                    "series_days": m.series_days,
                    "episodes": m.episodes,
                    "false_per_series_day": m.false_per_series_day,
                }
                for m in self.by_metric()
            ],
            "incidents": [_incident_json(i) for i in self.incidents],
            "episodes": [_episode_json(e) for e in self.episodes],
        }


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat() if math.isfinite(ts) else None


def _incident_json(i: IncidentOutcome) -> dict[str, Any]:
    return {
        "id": i.id,
        "kind": i.kind,
        "start": i.start.isoformat(),
        "end": i.end.isoformat(),
        "description": i.description,
        "detected": i.detected,
        "ttd_windows": i.ttd_windows,
        "first_flag_series": i.first_flag_series,
        "first_flag_at": i.first_flag_at.isoformat() if i.first_flag_at else None,
        "flagged_series": i.flagged_series,
        "series_with_points": i.series_with_points,
        "series": i.series,
        "note": i.note,
        "evidence": [e.__dict__ for e in i.evidence],
    }


def _episode_json(e: Episode) -> dict[str, Any]:
    return {**e.__dict__, "start": _iso(e.start), "end": _iso(e.end)}


# -- the run ----------------------------------------------------------------------------------------------
def run_backtest(
    points: Iterable[MetricPoint],
    config: Config | None = None,
    incidents: Sequence[IncidentLike] | None = None,
    progress: bool = True,
    *,
    grace_windows: int = 2,
    merge_gap_windows: int = 2,
    keep_traces: bool = True,
    detector_factory: Callable[[str], DetectorLike] | None = None,
    learn_s: float = 0.0,
) -> BacktestResult:
    """Feed ``points`` through the detectors ``config`` gives (default: the shipped ones) and score them.

    ``incidents``: the ground truth (None: no incidents known; every episode is
    then a false alarm, which is only meaningful on a quiet period).
    ``progress``: a progress bar over the points on a terminal (hidden otherwise).
    ``keep_traces``: keep the verdicts of series with an incident or a flag (for the report).
    ``detector_factory``: series key → its detector (default: :func:`detectors.api.build_detector` with ``config``).
    ``learn_s``: a learning period: the detectors learn the first ``learn_s`` seconds (from the time most series
    start) but episodes and incidents starting in it are not scored, nor are its series-days (a seasonal baseline
    has not seen a whole day before the first day is over).
    """
    began = time.monotonic()
    cfg = config if config is not None else Config()
    factory = (
        detector_factory
        if detector_factory is not None
        else partial(build_detector, settings=cfg.detectors, metrics=cfg.streams.metrics)
    )
    truth = sorted(incidents or [], key=lambda i: (i.start, i.id))
    by_series: dict[str, list[MetricPoint]] = defaultdict(list)
    widths: Counter[float] = Counter()
    for point in points:
        by_series[point.series].append(point)
        widths[(point.window_end - point.window_start).total_seconds()] += 1
    total = sum(len(v) for v in by_series.values())
    window_s = min(widths.items(), key=lambda item: (-item[1], item[0]))[0] if widths else 60.0
    if window_s <= 0:
        raise ValueError("points must have window_end after window_start")

    traces: dict[str, SeriesTrace] = {}
    stats: dict[str, SeriesStats] = {}
    with tqdm(total=total, unit="pt", desc="backtest", disable=None if progress else True) as bar:
        for series in sorted(by_series):
            items = sorted(by_series[series], key=lambda p: p.window_start)
            trace, cadence, missing = _replay(factory(series), items, window_s)
            bar.update(len(items))
            metric = items[0].metric
            stats[series] = SeriesStats(
                series=series,
                metric=metric,
                points=len(items),
                missing=missing,
                flagged=int(trace.flagged.sum()),
                first=items[0].window_start.timestamp(),
                last=items[-1].window_end.timestamp(),
                cadence_windows=cadence,
            )
            traces[series] = trace

    scored_from = -math.inf
    if learn_s > 0 and stats:
        starts = Counter(s.first for s in stats.values())
        scored_from = min(starts.items(), key=lambda item: (-item[1], item[0]))[0] + learn_s
        for series_stats in stats.values():
            series_stats.scored_from = scored_from
    # An incident whose ground truth lists no series had no observable effect (e.g. a complaint surge at
    # night adding two complaints): it cannot be detected, so it is reported, not scored.
    scored = [i for i in truth if i.start.timestamp() >= scored_from and i.series]
    unobservable = sum(1 for i in truth if i.start.timestamp() >= scored_from and not i.series)
    episodes = [e for e in _episodes(traces, stats, window_s, merge_gap_windows) if e.start >= scored_from]
    grace_s = grace_windows * window_s
    labelled = [_label(e, truth, grace_s) for e in episodes]
    for episode in labelled:
        stats[episode.series].episodes[episode.label] += 1
    outcomes = [_outcome(incident, traces, window_s, grace_s) for incident in scored]
    for incident in scored:
        for key in incident.series:
            if key in stats:
                stats[key].incidents.append(incident.id)
    listed = {key for incident in scored for key in incident.series}
    flagged_series = {e.series for e in labelled}
    kept = {k: v for k, v in traces.items() if k in listed or k in flagged_series} if keep_traces else {}
    first = min((s.first for s in stats.values()), default=math.nan)
    last = max((s.last for s in stats.values()), default=math.nan)
    return BacktestResult(
        window_s=window_s,
        grace_windows=grace_windows,
        merge_gap_windows=merge_gap_windows,
        incidents=outcomes,
        episodes=labelled,
        series=stats,
        traces=kept,
        points=total,
        start=first,
        end=last,
        runtime_s=time.monotonic() - began,
        has_truth=incidents is not None,
        scored_from=scored_from,
        unscored_incidents=len(truth) - len(scored) - unobservable,
        unobservable_incidents=unobservable,
    )


def _cadence(items: Sequence[MetricPoint], window_s: float) -> int:
    """The gap, in windows, that :data:`CADENCE_SHARE` of a series' gaps do not exceed (1 for a single point)."""
    gaps = sorted(
        max(1, round((b.window_start - a.window_start).total_seconds() / window_s))
        for a, b in itertools.pairwise(items)
    )
    if not gaps:
        return 1
    return gaps[min(len(gaps) - 1, math.ceil(CADENCE_SHARE * len(gaps)) - 1)]


def volume_of(point: MetricPoint, kind: str) -> float | None:
    """What the detector weighs a point by: a ratio's denominator, else the events counted (None: unknown)."""
    if kind == "ratio" and point.denominator is not None:
        return point.denominator
    if kind == "count":
        return float(point.count) if point.count else point.value
    return float(point.count) if point.count else None


def _replay(detector: DetectorLike, items: Sequence[MetricPoint], window_s: float) -> tuple[SeriesTrace, int, int]:
    """Feed one series' points (and its missing slots) to its detector; the verdicts, cadence and missing slots."""
    cadence = _cadence(items, window_s)
    step = cadence * window_s
    verdicts: list[Verdict] = []
    volumes: list[float | None] = []
    statuses: list[int] = []
    missing = 0

    def record(verdict: Verdict, volume: float | None, code: int) -> None:
        verdicts.append(verdict)
        volumes.append(volume)
        statuses.append(code)

    previous: float | None = None
    for point in items:
        ts = point.window_start.timestamp()
        if previous is not None:
            slot = previous + step
            while slot < ts - window_s / 2:
                record(detector.feed_missing(slot), None, MISSING)
                missing += 1
                slot += step
        volume = volume_of(point, detector.kind)
        verdict = detector.feed(ts, point.value, volume)
        record(verdict, volume, _status(verdict))
        previous = ts
    trace = trace_of(verdicts, volumes, statuses)
    return trace, cadence, missing


def trace_of(
    verdicts: Sequence[Verdict], volumes: Sequence[float | None], statuses: Sequence[int] | None = None
) -> SeriesTrace:
    """The trace of a series' verdicts in order (``volumes``: None where a point has none; ``statuses``: each
    verdict's JUDGED, LEARNING, ... code, by default told from the verdict)."""

    def column(values: Iterable[float | None]) -> FloatArray:
        return np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)

    codes = statuses if statuses is not None else [_status(v) for v in verdicts]
    return SeriesTrace(
        ts=column(v.ts for v in verdicts),
        value=column(v.value for v in verdicts),
        expected=column(v.expected for v in verdicts),
        lower=column(v.lower for v in verdicts),
        upper=column(v.upper for v in verdicts),
        score=column(v.score for v in verdicts),
        volume=column(volumes),
        anomalous=np.asarray([v.anomalous for v in verdicts], dtype=np.bool_),
        flagged=np.asarray([v.flagged for v in verdicts], dtype=np.bool_),
        status=np.asarray(codes, dtype=np.uint8),
    )


def _status(verdict: Verdict) -> int:
    if verdict.expected is None and verdict.reason in ("learning", "warming up"):
        return LEARNING
    if verdict.reason == "warming up":
        return LEARNING
    if verdict.reason == "too few events to judge":
        return LOW_VOLUME
    return JUDGED if not verdict.reason else OTHER


# -- episodes and their labels ----------------------------------------------------------------------------
def _episodes(
    traces: Mapping[str, SeriesTrace], stats: Mapping[str, SeriesStats], window_s: float, merge_gap_windows: int
) -> list[Episode]:
    out: list[Episode] = []
    for series, trace in traces.items():
        indexes = np.flatnonzero(trace.flagged)
        if not len(indexes):
            continue
        metric = stats[series].metric
        reach = (merge_gap_windows + 1) * stats[series].cadence_windows * window_s + window_s / 2
        group = [int(indexes[0])]
        for index in (int(i) for i in indexes[1:]):
            if trace.ts[index] - trace.ts[group[-1]] <= reach:
                group.append(index)
            else:
                out.append(_episode(series, metric, trace, group, window_s))
                group = [index]
        out.append(_episode(series, metric, trace, group, window_s))
    return sorted(out, key=lambda e: (e.start, e.series))


def _episode(series: str, metric: str, trace: SeriesTrace, group: list[int], window_s: float) -> Episode:
    span = slice(group[0], group[-1] + 1)
    scores = trace.score[span]
    peak = group[0] + int(np.argmax(scores))
    return Episode(
        series=series,
        metric=metric,
        start=float(trace.ts[group[0]]),
        end=float(trace.ts[group[-1]] + window_s),
        flagged_points=len(group),
        label="false",
        incident_id=None,
        max_score=float(scores.max()),
        peak_value=float(trace.value[peak]),
        peak_expected=_finite(trace.expected[peak]),
        peak_volume=_finite(trace.volume[peak]),
    )


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _area(dims: Mapping[str, str]) -> dict[str, str]:
    return {_AREA_ALIASES.get(k, k): v for k, v in dims.items()}


def is_rollup(series: str, of: str) -> bool:
    """``series`` is ``of`` itself or the same metric over a subset of its dimensions.

    >>> is_rollup("call_drop_rate|region=north", "call_drop_rate|cell_id=north-c01|region=north")
    True
    >>> is_rollup("call_drop_rate|region=south", "call_drop_rate|cell_id=north-c01|region=north")
    False
    """
    metric, dims = parse_series_key(series)
    other_metric, other_dims = parse_series_key(of)
    return metric == other_metric and all(other_dims.get(k) == v for k, v in dims.items())


def incident_scope(incident: IncidentLike) -> dict[str, str]:
    """Where an incident acts: its ``scope`` when it has one, else what all its listed series share."""
    scope = getattr(incident, "scope", None)
    if scope:
        return _area(scope)
    common: dict[str, str] | None = None
    for key in incident.series:
        dims = _area(parse_series_key(key)[1])
        common = dims if common is None else {k: v for k, v in common.items() if dims.get(k) == v}
    return common or {}


def is_related(series: str, incident: IncidentLike) -> bool:
    """The incident moves this series' metric and the series' dimensions agree with its target."""
    metric, dims = parse_series_key(series)
    metrics = {parse_series_key(key)[0] for key in incident.series} | KIND_METRICS.get(incident.kind, frozenset())
    if metric not in metrics:
        return False
    area, scope = _area(dims), incident_scope(incident)
    shared = [k for k in scope if k in area]
    return bool(shared) and all(area[k] == scope[k] for k in shared)


def _label(episode: Episode, truth: Sequence[IncidentLike], grace_s: float) -> Episode:
    related: str | None = None
    for incident in truth:
        start, end = incident.start.timestamp(), incident.end.timestamp() + grace_s
        if not (episode.start < end and episode.end > start):
            continue
        if any(is_rollup(episode.series, key) for key in incident.series):
            return _relabel(episode, "incident", incident.id)
        if related is None and is_related(episode.series, incident):
            related = incident.id
    if related is not None:
        return _relabel(episode, "related", related)
    return episode


def _relabel(episode: Episode, label: EpisodeLabel, incident_id: str) -> Episode:
    return Episode(**{**episode.__dict__, "label": label, "incident_id": incident_id})


# -- incidents --------------------------------------------------------------------------------------------
def _outcome(
    incident: IncidentLike, traces: Mapping[str, SeriesTrace], window_s: float, grace_s: float
) -> IncidentOutcome:
    start, end = incident.start.timestamp(), incident.end.timestamp()
    first: tuple[float, str] | None = None
    flagged_series = 0
    with_points = 0
    learning = 0
    evidence = []
    for key in incident.series:
        trace = traces.get(key)
        if trace is None:
            continue
        inside = (trace.ts + window_s > start) & (trace.ts <= end + grace_s)
        if not inside.any():
            continue
        with_points += 1
        hits = np.flatnonzero(inside & trace.flagged)
        if len(hits):
            flagged_series += 1
            at = float(trace.ts[hits[0]])
            if first is None or at < first[0]:
                first = (at, key)
        status = trace.status[inside]
        if (status == LEARNING).all():
            learning += 1
        evidence.append(_evidence(key, trace, inside))
    note = ""
    if not with_points:
        note = "no points on its series" if incident.series else "lists no series"
    elif learning == with_points:
        note = "its series were still learning"
    ttd = None if first is None else max(0.0, (first[0] + window_s - start) / window_s)
    return IncidentOutcome(
        id=incident.id,
        kind=incident.kind,
        start=incident.start,
        end=incident.end,
        description=str(getattr(incident, "description", "") or ""),
        series=list(incident.series),
        detected=first is not None,
        ttd_windows=ttd,
        first_flag_series=None if first is None else first[1],
        first_flag_at=None if first is None else datetime.fromtimestamp(first[0], tz=UTC),
        flagged_series=flagged_series,
        series_with_points=with_points,
        note=note,
        evidence=evidence,
    )


def _evidence(key: str, trace: SeriesTrace, inside: npt.NDArray[np.bool_]) -> Evidence:
    status = trace.status[inside]
    judged = inside & (trace.status == JUDGED)
    reasons = Counter(STATUS_NAMES[int(s)] for s in status if s != JUDGED)

    def median(values: FloatArray) -> float | None:
        finite = values[np.isfinite(values)]
        return float(np.median(finite)) if len(finite) else None

    return Evidence(
        series=key,
        points=int(inside.sum()),
        judged=int(judged.sum()),
        anomalous=int((inside & trace.anomalous).sum()),
        flagged=int((inside & trace.flagged).sum()),
        max_score=float(trace.score[inside].max()),
        value=median(trace.value[judged]),
        expected=median(trace.expected[judged]),
        volume=median(trace.volume[inside]),
        not_judged=reasons.most_common(1)[0][0] if reasons else "",
    )


# -- several runs -----------------------------------------------------------------------------------------
def pooled_summary(results: Sequence[BacktestResult]) -> dict[str, Any]:
    """The figures of several runs (e.g. simulator seeds) taken together: incidents, episodes and series-days
    are added up, so each incident and each episode weighs the same whatever run it is from."""
    incidents = [i for r in results for i in r.incidents]
    episodes = [e for r in results for e in r.episodes]
    times = [i.ttd_windows for i in incidents if i.ttd_windows is not None]
    days = sum(r.series_days for r in results)
    false = sum(e.label == "false" for e in episodes)
    kinds: dict[str, list[IncidentOutcome]] = defaultdict(list)
    for incident in incidents:
        kinds[incident.kind].append(incident)
    by_kind = {}
    for kind, items in sorted(kinds.items()):
        kind_times = [i.ttd_windows for i in items if i.ttd_windows is not None]
        by_kind[kind] = {
            "incidents": len(items),
            "detected": sum(i.detected for i in items),
            "recall": sum(i.detected for i in items) / len(items),
            "median_ttd_windows": statistics.median(kind_times) if kind_times else None,
        }
    by_metric: dict[str, dict[str, float]] = {}
    for result in results:
        for m in result.by_metric():
            row = by_metric.setdefault(m.metric, {"series_days": 0.0, "incident": 0, "related": 0, "false": 0})
            row["series_days"] += m.series_days
            for label, n in m.episodes.items():
                row[label] += n
    for row in by_metric.values():
        row["false_per_series_day"] = row["false"] / row["series_days"] if row["series_days"] else 0.0
    return {
        "runs": len(results),
        "incidents": len(incidents),
        "detected": sum(i.detected for i in incidents),
        "recall": sum(i.detected for i in incidents) / len(incidents) if incidents else None,
        "precision": sum(e.label != "false" for e in episodes) / len(episodes) if episodes else None,
        "median_ttd_windows": statistics.median(times) if times else None,
        "episodes": len(episodes),
        "episodes_by_label": dict(Counter(e.label for e in episodes)),
        "false_alarms": false,
        "false_alarms_per_series_day": false / days if days > 0 else None,
        "series_days": days,
        "by_kind": by_kind,
        "by_metric": by_metric,
    }

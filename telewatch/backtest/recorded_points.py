"""Recorded metric points: read them (JSONL, CSV, InfluxDB exports), write them, or make them from a simulator run.

A backtest (:mod:`telewatch.backtest.run`) replays recorded points through the
detectors. Points come from three places:

**JSONL** (``.jsonl``, ``.ndjson``, ``.json``; optionally ``.gz``): one
:class:`~core.contracts.MetricPoint` per line, exactly as on the metrics
topic (what :func:`write_points` writes)::

    {"metric":"call_drop_rate","series":"call_drop_rate|region=north","dims":{"region":"north"},
     "window_start":"2026-11-02T10:00:00Z","window_end":"2026-11-02T10:01:00Z","value":0.007,
     "numerator":3.0,"denominator":430.0,"count":430}

**CSV** (``.csv``, optionally ``.gz``) with a header row. Columns, by name
(case-insensitive, any order, others ignored):

- ``window_start`` or ``time`` (or ``_time``): the window's start, RFC 3339
  (``2026-11-02T10:00:00Z``) or an epoch number; its unit is told by its size
  (seconds, milliseconds, microseconds or nanoseconds: InfluxDB's default);
- ``series``: the series key (``call_drop_rate|region=north``); the metric and
  dimensions are taken from it (:func:`core.series.parse_series_key`);
- ``value``; optionally ``numerator``, ``denominator``, ``count`` (empty: unknown)
  and ``window_end``. Without ``window_end`` every window is ``window_s`` long
  (default: the most common spacing of consecutive points of a series).

InfluxDB exports of the ``telewatch_metric`` measurement (``docs/INFLUXDB.md``)
are such CSV files; select ``series`` (a tag) next to the fields:

- InfluxDB 1.x HTTP API (``name,tags,time,...`` columns, ``epoch=s`` optional)::

    curl -G 'http://127.0.0.1:18086/query' -H 'Accept: application/csv' --data-urlencode 'db=telewatch' \\
      --data-urlencode 'epoch=s' --data-urlencode "q=SELECT value, numerator, denominator, count, series \\
      FROM telewatch_metric WHERE time >= now() - 7d" > points.csv

- InfluxDB 1.x CLI: ``influx -database telewatch -format csv -precision rfc3339
  -execute 'SELECT value, numerator, denominator, count, series FROM telewatch_metric'``;
- InfluxDB 2.x/3.x Flux, annotated CSV (``influx query --raw``): ``#`` annotation
  lines are skipped, and rows with ``_time``, ``_field`` and ``_value`` columns
  (one field per row, as ``from(bucket) |> filter(r._measurement ==
  "telewatch_metric")`` returns them) are put back together per series and time.

Points are returned sorted by (series, window start); a point given twice for
the same series and window keeps the last one (as InfluxDB and consumers of the
metrics topic do).

>>> import io
>>> text = "time,series,value,denominator\\n2026-11-02T10:00:00Z,call_drop_rate|region=north,0.01,400\\n"
>>> [p] = parse_csv(io.StringIO(text), window_s=60)
>>> p.metric, p.dims, p.window_end.isoformat(), p.denominator
('call_drop_rate', {'region': 'north'}, '2026-11-02T10:01:00+00:00', 400.0)
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import itertools
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

import msgspec
from tqdm import tqdm

from core.contracts import MetricPoint
from core.series import parse_series_key
from runtime.outbox import Outgoing, mark_sent, unsent
from simulator import FileSink, SimulatorSettings, Stats, run_simulation
from simulator.sinks import FAULTS_FILE, role_file
from streams.ingest_stage import IngestStage, IngestState
from streams.settings import StreamsSettings
from streams.window_merge import MergeStage, MergeState

#: The input partitions of each input topic, as the streams worker's topics have them by default.
PARTITIONS: Final = 4
#: Input records per simulated poll (all partitions of a topic together).
BATCH: Final = 2000
_TIME_COLUMNS: Final = ("window_start", "time", "_time")
_NUMBER_COLUMNS: Final = ("value", "numerator", "denominator", "count")


class PointsFormatError(ValueError):
    """A points file that cannot be read; the message names the file, line and problem."""


# -- reading ----------------------------------------------------------------------------------------------
def read_points(path: Path | str, window_s: int | None = None) -> list[MetricPoint]:
    """The points of a JSONL or CSV file (see the module docstring), sorted by series and window start."""
    path = Path(path)
    with _open_text(path) as stream:
        head = stream.read(4096)
        stream.seek(0)
        name = path.name.lower().removesuffix(".gz")
        if name.endswith(".csv") or (not name.endswith((".jsonl", ".ndjson", ".json")) and head.lstrip()[:1] != "{"):
            try:
                return parse_csv(stream, window_s, source=str(path))
            except csv.Error as exc:
                raise PointsFormatError(f"{path}: not a CSV file: {exc}") from None
        return parse_jsonl(stream, source=str(path))


def parse_jsonl(stream: Iterable[str], source: str = "<points>") -> list[MetricPoint]:
    """MetricPoint JSON lines (blank lines skipped)."""
    decode = msgspec.json.Decoder(MetricPoint).decode
    points = []
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            points.append(decode(line))
        except msgspec.DecodeError as exc:
            raise PointsFormatError(f"{source}:{number}: not a metric point: {exc}") from None
    return _latest(points)


def parse_csv(stream: Iterable[str], window_s: int | None = None, source: str = "<points>") -> list[MetricPoint]:
    """Points of a CSV table, an InfluxDB 1.x CSV export or a Flux annotated CSV (see the module docstring)."""
    rows: list[_Row] = []
    pivot: dict[tuple[str, float], dict[str, str]] = {}
    header: list[str] | None = None
    for number, cells in enumerate(csv.reader(stream), 1):
        if not cells or all(not c.strip() for c in cells):
            header = None  # a blank line ends a table of an annotated CSV: the next line is a header
            continue
        if cells[0].startswith("#"):
            continue
        if header is None:
            header = [c.strip().lower() for c in cells]
            _check_header(header, source, number)
            continue
        if len(cells) != len(header):
            raise PointsFormatError(f"{source}:{number}: {len(cells)} cells where the header has {len(header)}")
        record = dict(zip(header, cells, strict=True))
        if [c.strip().lower() for c in cells] == header:
            continue  # a repeated header
        where = f"{source}:{number}"
        start = parse_time(_time_cell(record), where)
        series = record.get("series", "").strip()
        if not series:
            raise PointsFormatError(f"{where}: empty series")
        if "_field" in record:
            if record["_field"] in _NUMBER_COLUMNS or record["_field"] == "window_end":
                pivot.setdefault((series, start), {})[record["_field"]] = record.get("_value", "")
            continue
        rows.append(_Row(series, start, _end_cell(record, where), record, where))
    for (series, start), fields in pivot.items():
        end = parse_time(fields["window_end"], source) if fields.get("window_end") else None
        rows.append(_Row(series, start, end, fields, source))
    if not rows:
        return []
    width = window_s if window_s is not None else _typical_spacing(rows)
    return _latest([row.point(width) for row in rows])


@dataclass(frozen=True, slots=True)
class _Row:
    series: str
    start: float
    end: float | None
    cells: dict[str, str]
    where: str

    def point(self, window_s: float) -> MetricPoint:
        if "value" not in self.cells:
            raise PointsFormatError(f"{self.where}: no value for {self.series}")
        value = _number(self.cells["value"], "value", self.where)
        if value is None:
            raise PointsFormatError(f"{self.where}: empty value for {self.series}")
        numerator = _number(self.cells.get("numerator", ""), "numerator", self.where)
        denominator = _number(self.cells.get("denominator", ""), "denominator", self.where)
        count = _number(self.cells.get("count", ""), "count", self.where)
        if count is not None and count < 0:
            raise PointsFormatError(f"{self.where}: negative count {count:g}")
        try:
            metric, dims = parse_series_key(self.series)
        except ValueError:
            raise PointsFormatError(
                f"{self.where}: {self.series!r} is not a series key (metric|name=value|...)"
            ) from None
        end = self.end if self.end is not None else self.start + window_s
        return MetricPoint(
            metric=metric,
            series=self.series,
            dims=dims,
            window_start=_utc(self.start),
            window_end=_utc(end),
            value=value,
            numerator=numerator,
            denominator=denominator,
            count=0 if count is None else round(count),
        )


def _check_header(header: list[str], source: str, number: int) -> None:
    missing = []
    if not any(c in header for c in _TIME_COLUMNS):
        missing.append("window_start (or time)")
    if "series" not in header:
        missing.append("series")
    if "value" not in header and not {"_field", "_value"} <= set(header):
        missing.append("value")
    if missing:
        raise PointsFormatError(
            f"{source}:{number}: the header has no {', '.join(missing)} column; it has: {', '.join(header)}"
        )


def _time_cell(record: dict[str, str]) -> str:
    for name in _TIME_COLUMNS:
        if record.get(name, "").strip():
            return record[name]
    return ""


def _end_cell(record: dict[str, str], where: str) -> float | None:
    text = record.get("window_end", "").strip()
    return parse_time(text, where) if text else None


def parse_time(text: str, where: str = "<time>") -> float:
    """Epoch seconds of an RFC 3339 time or an epoch number (s, ms, µs or ns, told by its size).

    >>> parse_time("2026-11-02T10:00:00Z"), parse_time("1793613600"), parse_time("1793613600000000000")
    (1793613600.0, 1793613600.0, 1793613600.0)
    """
    text = text.strip()
    if not text:
        raise PointsFormatError(f"{where}: empty time")
    try:
        number = float(text)
    except ValueError:
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise PointsFormatError(f"{where}: time {text!r} is neither RFC 3339 nor an epoch number") from None
        if stamp.tzinfo is None:
            raise PointsFormatError(f"{where}: time {text!r} has no time zone (add Z or +00:00)") from None
        return stamp.timestamp()
    if not math.isfinite(number):
        raise PointsFormatError(f"{where}: time {text!r} is not a number of seconds")
    for scale in (1.0, 1e3, 1e6, 1e9):  # seconds until about the year 5000, then ms, µs, ns
        if abs(number) < 1e11 * scale:
            return number / scale
    raise PointsFormatError(f"{where}: epoch time {text!r} is too large")


def _number(text: str, name: str, where: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text.removesuffix("i"))  # line-protocol style integers (12i)
    except ValueError:
        raise PointsFormatError(f"{where}: {name} {text!r} is not a number") from None


def _typical_spacing(rows: Sequence[_Row]) -> float:
    """The most common gap between consecutive times of a series (ties: the shorter); 60 s without any."""
    times: dict[str, list[float]] = {}
    for row in rows:
        times.setdefault(row.series, []).append(row.start)
    gaps: Counter[float] = Counter()
    for values in times.values():
        values.sort()
        gaps.update(round(b - a, 3) for a, b in itertools.pairwise(values) if b > a)
    if not gaps:
        return 60.0
    return min(gaps.items(), key=lambda item: (-item[1], item[0]))[0]


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _latest(points: Iterable[MetricPoint]) -> list[MetricPoint]:
    """One point per series and window (the last given), sorted by series and window start."""
    by_key = {(p.series, p.window_start): p for p in points}
    return [by_key[key] for key in sorted(by_key)]


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


# -- writing ----------------------------------------------------------------------------------------------
def write_points(path: Path | str, points: Iterable[MetricPoint]) -> int:
    """Write points as MetricPoint JSON lines (``.gz``: compressed); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encode = msgspec.json.Encoder().encode
    written = 0
    with gzip.open(path, "wb") if path.suffix == ".gz" else path.open("wb") as stream:
        for point in points:
            stream.write(encode(point) + b"\n")
            written += 1
    return written


# -- from a simulator run ---------------------------------------------------------------------------------
class _Stamp(msgspec.Struct):
    ts: datetime


_stamp = msgspec.json.Decoder(_Stamp).decode


@dataclass(frozen=True, slots=True)
class _Record:
    offset: int
    value: bytes


@dataclass
class StageCounts:
    """What replaying a simulator run through the streams stages gave."""

    events: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    points: int = 0


def points_from_simulation(
    directory: Path | str,
    streams: StreamsSettings | None = None,
    *,
    partitions: int = PARTITIONS,
    max_future_skew_s: float = 300.0,
    progress: bool = False,
    counts: StageCounts | None = None,
) -> list[MetricPoint]:
    """The metric points the streams worker would make of a simulator output directory (``<role>.jsonl``).

    Runs the worker's two stages in-process. Each input topic's records go, in
    send order, to ``partitions`` partitions by region (as keyed producers send
    them), in batches of at most :data:`BATCH` records or :data:`BATCH_S`
    simulated seconds. A batch is received at the send time of its last record:
    the event's own time, or for a labelled bad event (``faults.jsonl``) the time
    the simulator sent it, so late and clock-skewed events are dead-lettered as
    they are live. At the end of input every partition idles past it all,
    closing its last windows; windows starting after the last record was sent
    are left out (the zeros count series would get there are not data). Duplicates and malformed events are treated as the
    worker treats them.
    """
    directory = Path(directory)
    settings = streams if streams is not None else StreamsSettings()
    roles = [role for role in ("calls", "sms", "kpi", "complaints") if (directory / role_file(role)).exists()]
    if not roles:
        raise FileNotFoundError(
            f"{directory}: no simulator output (calls.jsonl, sms.jsonl, kpi.jsonl, complaints.jsonl)"
        )
    sent_at = _fault_send_times(directory / FAULTS_FILE)
    merge = MergeStage(settings, roles)
    merged = merge.new_state()
    points: list[MetricPoint] = []
    total = sum((directory / role_file(role)).stat().st_size for role in roles)
    counts = counts if counts is not None else StageCounts()
    last_sent = -math.inf
    with tqdm(total=total, unit="B", unit_scale=True, desc="streams stages", disable=None if progress else True) as bar:
        for role in roles:
            stage = IngestStage(role, f"telewatch.{role}", partitions, settings, max_future_skew_s)
            states = [stage.new_state() for _ in range(partitions)]
            offsets = [0] * partitions
            now = -math.inf
            for batch, now in _batches(directory / role_file(role), sent_at.get(role, {})):
                bar.update(sum(len(line) + 1 for line in batch))
                by_partition: list[list[_Record]] = [[] for _ in range(partitions)]
                for line in batch:
                    part = _partition_of(line, partitions)
                    by_partition[part].append(_Record(offsets[part], line))
                    offsets[part] += 1
                partials: list[bytes] = []
                for number, records in enumerate(by_partition):
                    if records:
                        stage.update(states[number], number, records, now)
                        partials += _take(states[number], counts)
                _merge(merge, merged, partials, points)
            last_sent = max(last_sent, now)
            end = (now if math.isfinite(now) else 0.0) + 10 * 86400
            for number, state in enumerate(states):
                stage.tick(state, number, end)
                _merge(merge, merged, _take(state, counts), points)
            counts.events += stage.counters.events
    # The end-of-input tick closes windows up to 10 days on: count series would get 0 points there.
    kept = [p for p in points if p.window_start.timestamp() < last_sent]
    counts.points = len(kept)
    return _latest(kept)


#: Longest simulated time one batch of input records covers.
BATCH_S: Final = 5.0


class _FaultStamp(msgspec.Struct):
    role: str
    seq: int
    produced_at: datetime


def _fault_send_times(path: Path) -> dict[str, dict[int, float]]:
    """Role → line number → send time, of the labelled bad events."""
    out: dict[str, dict[int, float]] = {}
    if not path.exists():
        return out
    decode = msgspec.json.Decoder(_FaultStamp).decode
    with path.open("rb") as stream:
        for line in stream:
            if line.strip():
                fault = decode(line)
                out.setdefault(fault.role, {})[fault.seq] = fault.produced_at.timestamp()
    return out


def _batches(path: Path, faults: dict[int, float]) -> Iterator[tuple[list[bytes], float]]:
    """Batches of a role file's payloads with the time they are received (the last one's send time)."""
    batch: list[bytes] = []
    first = now = -math.inf
    with path.open("rb") as stream:
        for seq, raw in enumerate(stream):
            line = raw.rstrip(b"\n")
            sent = faults.get(seq)
            if sent is None:
                try:
                    sent = _stamp(line).ts.timestamp()
                except (msgspec.DecodeError, msgspec.ValidationError):
                    sent = now
            if batch and (len(batch) >= BATCH or sent - first > BATCH_S):
                yield batch, now
                batch = []
            if not batch:
                first = max(sent, now)
            batch.append(line)
            now = max(now, sent)
    if batch:
        yield batch, now


def _partition_of(payload: bytes, partitions: int) -> int:
    """By region, like a producer keyed by region (a payload without one: by its bytes)."""
    at = payload.find(b'"region":"')
    if at < 0:
        return zlib.crc32(payload) % partitions
    begin = at + len(b'"region":"')
    end = payload.find(b'"', begin)
    return zlib.crc32(payload[begin:end]) % partitions


def _take(state: IngestState, counts: StageCounts) -> list[bytes]:
    """The partials of a partition's outbox, which is then sent."""
    out = []
    for item in unsent(state):
        if item.target == "partials":
            out.append(item.value)
        elif item.target == "deadletter":
            reason = msgspec.json.decode(item.value).get("reason", "?")
            counts.dead_letters[reason] = counts.dead_letters.get(reason, 0) + 1
    mark_sent(state)
    return out


def _merge(merge: MergeStage, state: MergeState, partials: list[bytes], points: list[MetricPoint]) -> None:
    if not partials:
        return
    merge.update(state, partials)
    points.extend(_points(unsent(state)))
    mark_sent(state)


_decode_point = msgspec.json.Decoder(MetricPoint).decode


def _points(outbox: Sequence[Outgoing]) -> Iterator[MetricPoint]:
    return (_decode_point(o.value) for o in outbox if o.target == "metrics")


def simulate_to(
    directory: Path | str,
    settings: SimulatorSettings,
    start: datetime,
    duration_s: float,
    progress: bool = False,
) -> Stats:
    """Run the simulator as fast as it goes into ``directory`` (``<role>.jsonl``, ``incidents.jsonl``, ...)."""
    settings = settings.override(speed="max") if settings.speed != "max" else settings
    if not progress:
        return asyncio.run(run_simulation(settings, FileSink(directory), start, duration_s))
    with tqdm(total=int(duration_s), unit="sim-s", desc="simulating", disable=None) as bar:

        def report(stats: Stats) -> None:
            bar.n = int((stats.sim_end - stats.sim_start).total_seconds())
            bar.refresh()

        stats = asyncio.run(run_simulation(settings, FileSink(directory), start, duration_s, report))
        bar.n = int(duration_s)
        bar.refresh()
        return stats


#: The default start of simulated backtests: a Monday, 00:00 UTC (fixed, so a seed gives the same run).
SIMULATION_START: Final = datetime(2026, 11, 2, tzinfo=UTC)


def simulation_settings(
    base: SimulatorSettings, seed: int | None = None, rate: float | None = None, incidents_per_day: float | None = None
) -> SimulatorSettings:
    """``base`` (the config's ``simulator:``) for a backtest: as fast as possible, with the given changes."""
    data = base.model_dump()
    data["speed"] = "max"
    if seed is not None:
        data["seed"] = seed
    if rate is not None:
        data["rate"] = rate
    if incidents_per_day is not None:
        data["incidents"]["random"]["per_day"] = incidents_per_day
    return SimulatorSettings.model_validate(data)

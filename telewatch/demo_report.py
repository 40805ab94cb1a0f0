"""What the demo reports: InfluxQL proof, ground truth matched with anomaly episodes, the counters it shows."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer
from rich.console import Console

from core.contracts import Anomaly
from core.influx_schema import ANOMALY, METRIC
from simulator.records import IncidentRecord
from simulator.stats import Stats
from telewatch.config import Config
from telewatch.demo_console import AlertingCounters, DetectorsCounters, Replay, Snapshot, StreamsCounters, clock_text

# Queries go straight to InfluxDB, never through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class InfluxQL:
    """Runs InfluxQL on the configured InfluxDB (``GET /query``) and writes the same query as a ``curl`` line."""

    def __init__(self, config: Config) -> None:
        settings = config.influxdb
        self.url = f"{config.influxdb_url().rstrip('/')}/query"
        self.db = settings.database if settings.api == "v1" else str(settings.bucket)
        self._headers: dict[str, str] = {}
        self._curl_auth = ""
        if settings.api == "v2" and settings.token is not None:
            self._headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
            self._curl_auth = ' -H "Authorization: Token $INFLUX_TOKEN"'
        elif settings.username is not None:
            password = settings.password.get_secret_value() if settings.password is not None else ""
            basic = base64.b64encode(f"{settings.username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
            self._curl_auth = f" -u {_shell_quote(settings.username)}"

    async def query(self, q: str) -> list[dict[str, Any]]:
        """The series of the answer to one statement; raise RuntimeError with InfluxDB's error."""
        return await asyncio.to_thread(self._query, q)

    def _query(self, q: str) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({"db": self.db, "q": q})
        request = urllib.request.Request(f"{self.url}?{params}", headers=self._headers)
        try:
            with _OPENER.open(request, timeout=10.0) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace").strip()
            raise RuntimeError(f"InfluxDB answered HTTP {err.code} to {q!r}: {body}") from None
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"InfluxDB query {q!r} failed: {exc}") from exc
        result = answer.get("results", [{}])[0]
        if "error" in answer or "error" in result:
            raise RuntimeError(f"InfluxDB: {answer.get('error') or result['error']} (query {q!r})")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def curl(self, q: str) -> str:
        """A shell command line that runs ``q`` the same way."""
        return f"curl -sG{self._curl_auth} {self.url} --data-urlencode db={_shell_quote(self.db)} --data-urlencode {_shell_quote('q=' + q)}"


def _shell_quote(text: str) -> str:
    """``text`` as one shell word, in double quotes (readable with InfluxQL's single-quoted strings)."""
    if text and all(c.isalnum() or c in "-_.,:/=@%+" for c in text):
        return text
    return '"' + "".join(f"\\{c}" if c in '"\\$`' else c for c in text) + '"'


@dataclass(frozen=True)
class MetricQueries:
    """The InfluxQL that shows this run's metric points, and a sample series."""

    since: datetime

    @property
    def time_filter(self) -> str:
        return f"time >= '{self.since:%Y-%m-%dT%H:%M:%SZ}'"

    @property
    def count_points(self) -> str:
        return f"SELECT count(value) FROM {METRIC} WHERE {self.time_filter}"

    @property
    def last_by_series(self) -> str:
        return f'SELECT last(value) FROM {METRIC} WHERE {self.time_filter} GROUP BY "series"'

    def sample(self, series: str) -> str:
        value = series.replace("\\", "\\\\").replace("'", "\\'")
        return f"SELECT value, count FROM {METRIC} WHERE \"series\" = '{value}' AND {self.time_filter}"

    @property
    def count_anomalies(self) -> str:
        return f"SELECT count(score) FROM {ANOMALY} WHERE {self.time_filter}"

    @property
    def last_anomalies(self) -> str:
        return (
            f'SELECT "series", severity, value, expected, lower, upper, fingerprint FROM {ANOMALY} '
            f"WHERE {self.time_filter} ORDER BY time DESC LIMIT 3"
        )


async def count_points(influx: InfluxQL, queries: MetricQueries) -> int:
    """``telewatch_metric`` points written since the run began, counted by InfluxDB."""
    return await count_query(influx, queries.count_points)


async def count_query(influx: InfluxQL, query: str) -> int:
    series = await influx.query(query)
    return int(series[0]["values"][0][1]) if series else 0


# -- ground truth and anomalies ------------------------------------------------------------------


class GroundTruth:
    """The incidents the simulator started in the live part (from its ground truth), and which anomaly is whose."""

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self.incidents: list[IncidentRecord] = []

    def match(self, anomaly: Anomaly) -> IncidentRecord | None:
        """The incident an anomaly episode is about: it lists the series, and the episode began while it ran."""
        series = {anomaly.series, *(e.series for e in anomaly.evidence)}
        began = anomaly.started_at.timestamp()
        for incident in self.incidents:
            if series.isdisjoint(incident.series):
                continue
            if began < incident.end.timestamp() and began + self.window_s > incident.start.timestamp():
                return incident
        return None

    def near(self, anomaly: Anomaly) -> IncidentRecord | None:
        """An incident that does not list the series, but ran on its target (every scope item is a dimension of it)."""
        began = anomaly.started_at.timestamp()
        for incident in self.incidents:
            on_target = incident.scope.items() <= anomaly.dims.items()
            if on_target and began < incident.end.timestamp() and began + self.window_s > incident.start.timestamp():
                return incident
        return None

    def windows_to_detect(self, incident: IncidentRecord, anomaly: Anomaly) -> int:
        """Windows from the one the incident started in to the one that was flagged, both counted."""
        first = math.floor(incident.start.timestamp() / self.window_s) * self.window_s
        return int((anomaly.ts.timestamp() - first) // self.window_s) + 1


@dataclass
class Episode:
    """One anomaly episode (a fingerprint): its first anomaly, the incident it matches, windows flagged so far."""

    first: Anomaly
    incident: IncidentRecord | None
    #: Wall time the demo read its first anomaly.
    seen_at: float
    windows: int = 1


class AnomalyWatcher:
    """Reads the anomalies topic and prints each new episode once, with the injected incident it matches."""

    def __init__(self, config: Config, console: Console, truth: GroundTruth, since: float, live_from: float) -> None:
        self.bootstrap = config.bootstrap_servers()
        self.topic = config.kafka.topics.anomalies.name
        self.console = console
        self.truth = truth
        #: Anomalies of windows before this are an earlier run's (on a broker that kept them): not shown.
        self.since = since
        #: When the live part began (anomalies of windows before it are the history's).
        self.live_from = live_from
        self.episodes: dict[str, Episode] = {}
        self._decode = msgspec.json.Decoder(Anomaly).decode

    async def run(self, done: asyncio.Event) -> None:
        """Follow the topic from its start until ``done`` is set."""
        consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False, client_id="telewatch-demo",
        )  # fmt: skip
        await consumer.start()
        try:
            while not done.is_set():
                batches = await consumer.getmany(timeout_ms=300)
                for records in batches.values():
                    for record in records:
                        self.take(record.value)
        finally:
            await consumer.stop()

    def take(self, payload: bytes) -> Episode | None:
        """Count one anomaly; print it when it opens an episode. Returns the episode (None: not this run's)."""
        try:
            anomaly = self._decode(payload)
        except msgspec.DecodeError:
            return None
        if anomaly.ts.timestamp() < self.since:
            return None
        episode = self.episodes.get(anomaly.fingerprint)
        if episode is not None:
            episode.windows += 1
            return episode
        episode = self.episodes[anomaly.fingerprint] = Episode(anomaly, self.truth.match(anomaly), time.time())
        self.console.print(self.describe(episode), markup=False, highlight=False)
        return episode

    def describe(self, episode: Episode) -> str:
        """One console line: when, how bad, which series, value against the band, detector, fingerprint, match."""
        a = episode.first
        if a.detector == "silence":
            what = "no points (silent)"
        else:
            what = f"value {a.value:.4g} vs expected {a.expected:.4g} (band {a.lower:.4g} to {a.upper:.4g})"
        if a.detector == "correlation":
            surges = [e.series for e in a.evidence if e.series != a.series]
            what += f" + complaint surge {', '.join(surges)}"
        line = (
            f"{clock_text(episode.seen_at)} ANOMALY {a.severity} {a.series} window {clock_text(a.ts.timestamp())} {what} "
            f"detector {a.detector} fingerprint {a.fingerprint}"
        )
        incident = episode.incident
        if incident is not None:
            windows = self.truth.windows_to_detect(incident, a)
            return (
                f"{line} -> {incident.id} {incident.kind} (started {clock_text(incident.start.timestamp())}), "
                f"flagged in its window {windows}"
            )
        if a.ts.timestamp() < self.live_from:
            return f"{line} -> no injected incident (history)"
        near = self.truth.near(a)
        if near is not None:
            scope = ",".join(f"{k}={v}" for k, v in near.scope.items())
            return f"{line} -> no injected incident lists this series ({near.id} {near.kind} on {scope} was running)"
        return f"{line} -> no injected incident"


def seconds_text(s: float) -> str:
    """``200`` → ``3m 20s``; ``7200`` → ``2h``."""
    hours, rest = divmod(round(s), 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{seconds}s" if seconds else ""]
    return " ".join(p for p in parts if p) or "0s"


class Counters:
    """Gathers the demo's counters into a :class:`Snapshot` (shown by ``DemoConsole``).

    Events produced come from the simulator's progress; rates are over the last ``rate_window_s`` seconds.
    """

    def __init__(self, first_points_at: float | None, since: float, rate: float, rate_window_s: float = 5.0) -> None:
        #: The streams worker counts as behind once more than 10 s of traffic waits for it.
        self.behind_from = 10 * rate
        self.first_points_at = first_points_at
        self.since = since
        self.rate_window_s = rate_window_s
        self.sim_stats: Stats | None = None
        #: Events of the simulation runs that finished (the history, before the live part).
        self._finished_runs = 0
        self._history: tuple[float, float] | None = None
        self._events = 0
        #: (monotonic time, produced, streams events) of recent snapshots, oldest first.
        self._samples: deque[tuple[float, int, int]] = deque([(time.monotonic(), 0, 0)])

    def on_progress(self, stats: Stats) -> None:
        if self.sim_stats is not None and stats is not self.sim_stats:
            self._finished_runs += self.sim_stats.total_events
        self.sim_stats = stats

    def replaying(self, start: float, until: float) -> None:
        """The history replay runs from simulated time ``start`` towards ``until``."""
        self._history = (start, until)

    def replayed(self) -> None:
        """The history replay is over."""
        self._history = None

    def snapshot(
        self,
        status: dict[str, Any] | None,
        detectors: dict[str, Any] | None,
        episodes: int,
        queryable: int | str | None,
        alerting: AlertingCounters | None = None,
    ) -> Snapshot:
        """The counters now: the workers' status files, anomaly episodes, the InfluxQL count (str: its error),
        alerts and messages."""
        now = time.monotonic()
        stats = self.sim_stats
        produced = self._finished_runs + (stats.total_events if stats else 0)
        streams = StreamsCounters.from_status(status) if status is not None else None
        if streams is not None and streams.events is not None:
            self._events = streams.events
        samples = self._samples
        samples.append((now, produced, self._events))
        while len(samples) > 1 and now - samples[1][0] >= self.rate_window_s:
            samples.popleft()
        then, produced_then, events_then = samples[0]
        elapsed = max(now - then, 1e-9)
        replay = None
        if self._history is not None:
            start, until = self._history
            if stats is not None:
                start = stats.sim_start.timestamp()
            done = stats.sim_end.timestamp() - start if stats is not None else 0.0
            replay = Replay(
                sim_at=start + done,
                fraction=min(max(done / max(until - start, 1.0), 0.0), 1.0),
                produced=stats.total_events if stats is not None else 0,
            )
        return Snapshot(
            at=time.time(),
            produced=produced,
            produced_per_s=(produced - produced_then) / elapsed,
            streams=streams,
            streams_per_s=(self._events - events_then) / elapsed,
            detectors=DetectorsCounters.from_status(detectors) if detectors is not None else None,
            episodes=episodes,
            incidents=stats.incidents_started if stats else 0,
            influx_points=queryable,
            since=self.since,
            replay=replay,
            first_points_at=self.first_points_at,
            behind_from=self.behind_from,
            alerting=alerting,
        )

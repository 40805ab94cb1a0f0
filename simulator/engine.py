"""The simulation loop as a plain generator: one ``Tick`` of labelled payloads per step."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime

import msgspec
import numpy as np

from simulator.calls import CallSource
from simulator.clock import epoch, utc
from simulator.complaints import ComplaintSource
from simulator.faults import FaultInjector
from simulator.kpi import KpiSource
from simulator.planner import IncidentPlanner
from simulator.profile import TrafficProfile
from simulator.settings import SimulatorSettings
from simulator.sms import SmsSource
from simulator.source import IdSequence, Source
from simulator.tick import Tick
from simulator.topology import Topology


def run_tag(seed: int, start: float) -> str:
    """Six hex digits from seed and start, in every event id, so different runs do not share ids."""
    return hashlib.blake2b(f"{seed}:{round(start * 1000)}".encode(), digest_size=3).hexdigest()


class Simulator:
    """Deterministic labelled traffic: same settings and start give the same bytes.

    >>> from datetime import UTC, datetime
    >>> from simulator.settings import SimulatorSettings
    >>> sim = Simulator(SimulatorSettings(rate=50), datetime(2026, 11, 2, 10, tzinfo=UTC))
    >>> ticks = list(sim.ticks(until=datetime(2026, 11, 2, 10, 0, 5, tzinfo=UTC)))
    >>> [len(t.batches) for t in ticks], ticks[-1].end.isoformat()
    ([4, 4, 4, 4, 4], '2026-11-02T10:00:05+00:00')
    """

    def __init__(self, settings: SimulatorSettings, start: datetime) -> None:
        self.settings = settings
        self.start = epoch(start)
        rng = [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(settings.seed).spawn(7)]
        self.topology = Topology.build(settings.topology, rng[0])
        profile = TrafficProfile(settings.utc_offset_h)
        tag = run_tag(settings.seed, self.start)
        flow = settings.rate - settings.fixed_rate()
        calls = flow * settings.call_share
        complaints = ComplaintSource(
            self.topology, profile, rng[5], settings.complaints_per_hour, IdSequence(f"t-{tag}-", 8)
        )
        self.planner = IncidentPlanner(settings.incidents, self.topology, self.start, rng[1], complaints.expected_count)
        self.sources: tuple[Source, ...] = (
            CallSource(self.topology, profile, rng[2], calls, IdSequence(f"c-{tag}-")),
            SmsSource(self.topology, profile, rng[3], flow - calls, IdSequence(f"m-{tag}-")),
            KpiSource(self.topology, profile, rng[4], settings.topology.kpi_interval_s),
            complaints,
        )
        self.faults = FaultInjector(settings.faults, rng[6])
        self._encode = msgspec.json.Encoder().encode
        self._steps = 0
        self._now = self.start

    @property
    def now(self) -> datetime:
        """Simulated time reached: the end of the last tick."""
        return utc(self._now)

    def ticks(self, until: datetime | None = None) -> Iterator[Tick]:
        """Ticks of ``tick_s`` simulated seconds from where the last one ended, up to ``until`` (or forever)."""
        end = None if until is None else epoch(until)
        while end is None or self._now < end:
            t0 = self._now
            t1 = self.start + (self._steps + 1) * self.settings.tick_s
            if end is not None and end < t1:
                t1 = end
            else:
                self._steps += 1
            self._now = t1
            yield self._step(t0, t1)

    def _step(self, t0: float, t1: float) -> Tick:
        started = self.planner.begin(t1)
        effects = self.planner.effects((t0 + t1) / 2)
        batches = []
        encode = self._encode
        for source in self.sources:
            events, keys = source.produce(t0, t1, effects)
            payloads = [encode(event) for event in events]
            batches.append(self.faults.process(source.role, events, keys, payloads, t1))
        return Tick(utc(t0), utc(t1), tuple(batches), tuple(started))

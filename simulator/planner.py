"""When and where incidents happen: the schedule, plus random ones planned one simulated day at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.contracts import ComplaintCategory
from simulator.catalog import CATEGORIES, SCENARIOS, category_of
from simulator.clock import epoch
from simulator.effects import Effects
from simulator.incidents import Incident, draw_params
from simulator.records import IncidentRecord
from simulator.settings import IncidentKind, IncidentSettings, ScheduledIncident
from simulator.topology import Topology

DAY_S = 86400.0
#: Duration range (seconds) of random incidents per kind.
DURATION_S: dict[IncidentKind, tuple[float, float]] = {
    "sms_channel_outage": (600.0, 3600.0),
    "cell_outage": (900.0, 5400.0),
    "core_congestion": (600.0, 2700.0),
    "slow_degradation": (7200.0, 21600.0),
    "complaint_surge": (1800.0, 7200.0),
}
#: Tries to find a free target for a random incident before it is left out.
TARGET_TRIES = 20


@dataclass(frozen=True)
class Target:
    """Target fields given for an incident; the ones left None are drawn."""

    region: str | None = None
    cell_id: str | None = None
    channel: str | None = None
    category: ComplaintCategory | None = None
    scenario: str | None = None


class IncidentPlanner:
    """Knows every incident in advance of its start; hands them out tick by tick with ids."""

    def __init__(
        self,
        settings: IncidentSettings,
        topology: Topology,
        start: float,
        rng: np.random.Generator,
        usual_complaints: Callable[[int, int, int, float, float], float],
    ) -> None:
        self.settings = settings
        self.usual_complaints = usual_complaints
        self.topology = topology
        self.start = start
        self.rng = rng
        self._pending: list[Incident] = []
        self._planned: list[Incident] = []
        self._active: list[Incident] = []
        self._days = 0
        self._started = 0
        for index, scheduled in enumerate(settings.schedule):
            self._add(self._from_schedule(index, scheduled))

    def begin(self, until: float) -> list[IncidentRecord]:
        """Start every incident due before ``until``; their ground truth, with ids, in start order."""
        while self.start + self._days * DAY_S < until:
            self._plan_day(self.start + self._days * DAY_S)
            self._days += 1
        records = []
        while self._pending and self._pending[0].start < until:
            incident = self._pending.pop(0)
            self._started += 1
            records.append(incident.record(f"inc-{self._started:04d}", self.topology, self.usual_complaints))
            self._active.append(incident)
        return records

    def effects(self, t: float) -> Effects:
        """The network's condition at ``t``."""
        self._active = [i for i in self._active if i.end > t]
        effects = Effects.neutral(self.topology)
        for incident in self._active:
            if incident.start <= t:
                incident.apply(effects, t, self.topology)
        return effects

    def _add(self, incident: Incident) -> None:
        self._planned.append(incident)
        self._pending.append(incident)
        self._pending.sort(key=lambda i: i.start)

    def _plan_day(self, day_start: float) -> None:
        random = self.settings.random
        for _ in range(int(self.rng.poisson(random.per_day))):
            kind = random.kinds[int(self.rng.integers(len(random.kinds)))]
            start = day_start + float(self.rng.uniform(0.0, DAY_S))
            low, high = DURATION_S[kind]
            end = start + float(self.rng.uniform(low, high))
            for _ in range(TARGET_TRIES):
                incident = self._draw(kind, start, end, Target(), "random")
                if not any(incident.overlaps(other) for other in self._planned):
                    self._add(incident)
                    break

    def _from_schedule(self, index: int, scheduled: ScheduledIncident) -> Incident:
        if scheduled.start_at is not None:
            start = epoch(scheduled.start_at)
        else:
            start = self.start + (scheduled.start_offset_s or 0.0)
        if start < self.start:
            raise ValueError(f"incidents.schedule[{index}] starts before the simulation start")
        given = Target(scheduled.region, scheduled.cell_id, scheduled.channel, scheduled.category, scheduled.scenario)
        return self._draw(scheduled.kind, start, start + scheduled.duration_s, given, "schedule")

    def _draw(self, kind: IncidentKind, start: float, end: float, given: Target, source: str) -> Incident:
        """An incident with the given target fields, the others (and the magnitudes) drawn."""
        topo, rng = self.topology, self.rng
        region = None if given.region is None else topo.regions.index(given.region)
        cell = channel = category = scenario = None
        if kind == "slow_degradation":
            on_channel = given.channel is not None or (
                given.cell_id is None and given.region is None and bool(rng.random() < 0.5)
            )
        else:
            on_channel = kind == "sms_channel_outage"
        if on_channel:
            channel = self._channel(given.channel)
        elif kind in ("cell_outage", "slow_degradation"):
            cell = self._cell(given.cell_id, region)
            region = int(topo.cell_region[cell])
        elif kind == "core_congestion":
            region = self._region(region)
        else:
            region = self._region(region)
            category, scenario = self._scenario(given)
        params = draw_params(kind, on_channel, rng)
        return Incident(kind, start, end, params, source, region, cell, channel, category, scenario)

    def _region(self, region: int | None) -> int:
        if region is not None:
            return region
        return int(self.rng.choice(len(self.topology.regions), p=self.topology.region_share))

    def _cell(self, cell_id: str | None, region: int | None) -> int:
        topo = self.topology
        if cell_id is not None:
            return topo.cell_ids.index(cell_id)
        cells = np.arange(len(topo.cell_ids)) if region is None else topo.cells_of(region)
        weights = topo.cell_share[cells] / topo.cell_share[cells].sum()
        return int(cells[self.rng.choice(len(cells), p=weights)])

    def _channel(self, name: str | None) -> int:
        if name is not None:
            return self.topology.channels.index(name)
        return int(self.rng.integers(len(self.topology.channels)))

    def _scenario(self, given: Target) -> tuple[int, int]:
        rng = self.rng
        category = category_of(given.scenario) if given.scenario is not None else None
        if category is not None:
            codes = [code for code, _ in SCENARIOS[category]]
            return CATEGORIES.index(category), codes.index(str(given.scenario))
        given_category = given.category
        index = CATEGORIES.index(given_category) if given_category else int(rng.integers(len(CATEGORIES)))
        category = CATEGORIES[index]
        weights = np.array([w for _, w in SCENARIOS[category]])
        return index, int(rng.choice(len(weights), p=weights / weights.sum()))

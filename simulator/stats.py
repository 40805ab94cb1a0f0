"""Counts of what a run produced, and the deterministic summary written next to the output."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.catalog import ROLES
from simulator.settings import FAULT_KINDS, INCIDENT_KINDS, SimulatorSettings
from simulator.tick import Tick


@dataclass
class Stats:
    """Running totals of a simulation, updated after every tick."""

    seed: int
    sim_start: datetime
    #: Simulated time reached (end of the last tick written).
    sim_end: datetime
    #: Messages sent per role, bad ones included.
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ROLES, 0))
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    #: Incidents started, per kind.
    incidents: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INCIDENT_KINDS, 0))
    #: Wall-clock seconds since the run began.
    wall_s: float = 0.0

    def add(self, tick: Tick) -> None:
        """Count one tick."""
        for batch in tick.batches:
            self.events[batch.role] += len(batch)
            for fault in batch.faults.values():
                self.faults[fault.kind] += 1
        for incident in tick.incidents:
            self.incidents[incident.kind] += 1
        self.sim_end = tick.end

    @property
    def total_events(self) -> int:
        """Messages sent, all roles."""
        return sum(self.events.values())

    @property
    def faults_total(self) -> int:
        """Bad events sent, all kinds."""
        return sum(self.faults.values())

    @property
    def incidents_started(self) -> int:
        """Incidents started, all kinds."""
        return sum(self.incidents.values())

    @property
    def events_per_s(self) -> float:
        """Messages per wall-clock second."""
        return self.total_events / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self, settings: SimulatorSettings) -> dict[str, Any]:
        """What ``summary.json`` holds: no wall-clock figures, so equal runs give equal files."""
        return {
            "seed": self.seed,
            "sim_start": self.sim_start.isoformat().replace("+00:00", "Z"),
            "sim_end": self.sim_end.isoformat().replace("+00:00", "Z"),
            "events": dict(self.events),
            "faults": dict(self.faults),
            "incidents": dict(self.incidents),
            "settings": settings.model_dump(mode="json"),
        }

"""Simulator settings: frozen, validated pydantic models (the ``simulator`` config section)."""

from __future__ import annotations

import re
from typing import Any, Final, Literal, get_args

from pydantic import AwareDatetime, Field, field_validator, model_validator

from core.contracts import ComplaintCategory, SmsKind
from core.settings import Section
from simulator.catalog import CATEGORIES, KPIS, category_of

IncidentKind = Literal["sms_channel_outage", "cell_outage", "core_congestion", "slow_degradation", "complaint_surge"]
INCIDENT_KINDS: Final[tuple[IncidentKind, ...]] = get_args(IncidentKind)
FaultKind = Literal[
    "malformed_json", "missing_field", "invalid_field", "duplicate", "late", "out_of_order", "clock_skew"
]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)

#: Names that become series dimension values: no separators of series keys, no spaces.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TARGETS: Final[dict[IncidentKind, frozenset[str]]] = {
    "sms_channel_outage": frozenset({"channel"}),
    "cell_outage": frozenset({"region", "cell_id"}),
    "core_congestion": frozenset({"region"}),
    "slow_degradation": frozenset({"region", "cell_id", "channel"}),
    "complaint_surge": frozenset({"region", "category", "scenario"}),
}
_TARGET_FIELDS: Final = ("region", "cell_id", "channel", "category", "scenario")


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{what} {value!r} must be 1-64 letters, digits, '_', '.' or '-' (no spaces or '|', '=')")
    return value


class SmsChannel(Section):
    """One SMS channel (service port or template) of the SMS gateway."""

    name: str = Field(description="Channel name as it appears in delivery reports, e.g. 106900001")
    main_kind: SmsKind = Field(description="The kind of SMS this channel mostly carries")
    weight: float = Field(default=1.0, gt=0, le=1000, description="Share of its main kind's volume, relative to peers")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "channel name")


def _default_channels() -> list[SmsChannel]:
    counts: tuple[tuple[SmsKind, int], ...] = (
        ("verification_code", 3),
        ("billing_reminder", 2),
        ("notification", 3),
        ("marketing", 2),
    )
    kinds = [kind for kind, count in counts for _ in range(count)]
    return [SmsChannel(name=f"1069{i + 1:05d}", main_kind=k) for i, k in enumerate(kinds)]


class TopologySettings(Section):
    """The simulated network: regions, their cells, SMS channels and KPI reporting."""

    regions: list[str] = Field(
        default_factory=lambda: ["north", "south", "east", "west", "central", "coast", "highland", "metro"],
        min_length=1,
        max_length=100,
        description="Region names",
    )
    cells_per_region: int = Field(default=25, ge=1, le=999, description="Cells in each region (ids like north-c07)")
    sms_channels: list[SmsChannel] = Field(
        default_factory=_default_channels, min_length=1, max_length=200, description="SMS channels of the gateway"
    )
    kpi_interval_s: int = Field(
        default=300, ge=10, le=3600, description="Each cell reports each of its KPIs once per this many seconds"
    )

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for name in value:
            _check_name(name, "region name")
        if len(set(value)) != len(value):
            raise ValueError("region names must be unique")
        return value

    @field_validator("sms_channels")
    @classmethod
    def _channels(cls, value: list[SmsChannel]) -> list[SmsChannel]:
        names = [c.name for c in value]
        if len(set(names)) != len(names):
            raise ValueError("SMS channel names must be unique")
        return value

    def cell_ids(self, region: str) -> list[str]:
        """The ids of a region's cells: ``<region>-c01`` ... (wider numbers past 99 cells)."""
        width = max(2, len(str(self.cells_per_region)))
        return [f"{region}-c{i:0{width}d}" for i in range(1, self.cells_per_region + 1)]

    def kpi_rate(self) -> float:
        """KPI samples per second the topology produces (fixed by cells and interval)."""
        return len(self.regions) * self.cells_per_region * len(KPIS) / self.kpi_interval_s


class RandomIncidents(Section):
    """Incidents placed at random (seeded) times and targets."""

    per_day: float = Field(default=6.0, ge=0, le=1000, description="Average number per simulated day (Poisson)")
    kinds: list[IncidentKind] = Field(
        default_factory=lambda: list(INCIDENT_KINDS), min_length=1, description="Kinds to choose from (uniformly)"
    )


class ScheduledIncident(Section):
    """One incident at a given time; target fields left out are chosen by the seed."""

    kind: IncidentKind = Field(description="What goes wrong")
    start_offset_s: float | None = Field(
        default=None, ge=0, description="Start, in simulated seconds after the simulation start"
    )
    start_at: AwareDatetime | None = Field(default=None, description="Absolute start (instead of start_offset_s)")
    duration_s: float = Field(gt=0, le=7 * 86400, description="How long it lasts, in simulated seconds")
    region: str | None = Field(
        default=None, description="Target region (core_congestion, complaint_surge; or where to pick the cell)"
    )
    cell_id: str | None = Field(default=None, description="Target cell (cell_outage, slow_degradation)")
    channel: str | None = Field(default=None, description="Target SMS channel (sms_channel_outage, slow_degradation)")
    category: ComplaintCategory | None = Field(default=None, description="Complaint category (complaint_surge)")
    scenario: str | None = Field(default=None, description="Complaint scenario code (complaint_surge)")

    @model_validator(mode="after")
    def _check(self) -> ScheduledIncident:
        if (self.start_offset_s is None) == (self.start_at is None):
            raise ValueError("give exactly one of start_offset_s and start_at")
        allowed = _TARGETS[self.kind]
        extra = [name for name in _TARGET_FIELDS if getattr(self, name) is not None and name not in allowed]
        if extra:
            raise ValueError(f"{self.kind} takes no {', '.join(extra)} (targets: {', '.join(sorted(allowed))})")
        if self.kind == "slow_degradation" and self.cell_id is not None and self.channel is not None:
            raise ValueError("slow_degradation targets a cell or a channel, not both")
        if self.kind == "slow_degradation" and self.region is not None and self.channel is not None:
            raise ValueError("slow_degradation of a channel takes no region")
        if self.scenario is not None:
            category = category_of(self.scenario)
            if category is None:
                raise ValueError(f"unknown scenario {self.scenario!r}")
            if self.category is not None and self.category != category:
                raise ValueError(f"scenario {self.scenario!r} belongs to category {category!r}, not {self.category!r}")
        return self


class IncidentSettings(Section):
    """Injected incidents: at random and/or on a schedule; each is written to the ground truth."""

    random: RandomIncidents = Field(default=RandomIncidents(), description="Random incidents")
    schedule: list[ScheduledIncident] = Field(default_factory=list, description="Incidents at given times")


class FaultSettings(Section):
    """Probability, per event, of each kind of bad event (each one is labelled in faults.jsonl)."""

    malformed_json: float = Field(default=0.001, ge=0, le=0.1, description="Truncated JSON or garbage bytes")
    missing_field: float = Field(default=0.001, ge=0, le=0.1, description="A required field left out")
    invalid_field: float = Field(
        default=0.001, ge=0, le=0.1, description="Wrong type, value outside its set, negative latency, empty name"
    )
    duplicate: float = Field(default=0.002, ge=0, le=0.1, description="The same payload sent again 1-30 s later")
    late: float = Field(default=0.001, ge=0, le=0.1, description="Timestamp 10-60 min in the past, sent now")
    out_of_order: float = Field(default=0.002, ge=0, le=0.1, description="Held back 2-15 s and sent after later events")
    clock_skew: float = Field(default=0.0005, ge=0, le=0.1, description="Timestamp 10 min to 2 h in the future")

    def probabilities(self) -> dict[FaultKind, float]:
        """Probability per fault kind, in ``FAULT_KINDS`` order."""
        return {kind: float(getattr(self, kind)) for kind in FAULT_KINDS}


class SimulatorSettings(Section):
    """The labelled traffic simulator: volumes, topology, incidents and bad events.

    Output is deterministic for a given seed, start time and these settings.
    """

    seed: int = Field(default=42, ge=0, le=2**63 - 1, description="Seed of every random choice")
    rate: float = Field(
        default=1000.0,
        gt=0,
        le=10_000_000,
        description="Average events per simulated second over a weekday, all streams together",
    )
    speed: float | Literal["max"] = Field(
        default=1.0, description='Simulated seconds per wall second when paced (Kafka); "max": as fast as possible'
    )
    tick_s: float = Field(default=1.0, ge=0.01, le=60, description="Simulated seconds per generation step")
    utc_offset_h: float = Field(
        default=0.0, ge=-14, le=14, description="Local time of the network minus UTC; the daily cycle follows it"
    )
    call_share: float = Field(default=0.6, gt=0, lt=1, description="Share of call attempts in call + SMS volume")
    complaints_per_hour: float = Field(
        default=3.0, ge=0, le=10_000, description="Complaints per hour per region and category, on average"
    )
    topology: TopologySettings = Field(default=TopologySettings(), description="Simulated network")
    incidents: IncidentSettings = Field(default=IncidentSettings(), description="Injected incidents")
    faults: FaultSettings = Field(default=FaultSettings(), description="Injected bad events")

    @field_validator("speed")
    @classmethod
    def _speed(cls, value: float | str) -> float | str:
        if value != "max" and float(value) < 0.001:
            raise ValueError('speed must be at least 0.001 (or "max")')
        return value

    @model_validator(mode="after")
    def _check(self) -> SimulatorSettings:
        fixed = self.fixed_rate()
        if self.rate <= fixed:
            raise ValueError(
                f"rate {self.rate:g}/s leaves nothing for calls and SMS: KPI samples and complaints alone "
                f"make {fixed:.3g}/s with this topology; raise rate or kpi_interval_s"
            )
        if sum(self.faults.probabilities().values()) > 0.5:
            raise ValueError("fault probabilities add up to more than 0.5")
        for index, incident in enumerate(self.incidents.schedule):
            self._check_target(index, incident)
        return self

    def _check_target(self, index: int, incident: ScheduledIncident) -> None:
        where = f"incidents.schedule[{index}]"
        topo = self.topology
        if incident.region is not None and incident.region not in topo.regions:
            raise ValueError(f"{where}: unknown region {incident.region!r}")
        if incident.cell_id is not None:
            region = incident.cell_id.rpartition("-c")[0]
            if region not in topo.regions or incident.cell_id not in topo.cell_ids(region):
                raise ValueError(f"{where}: unknown cell {incident.cell_id!r}")
            if incident.region is not None and incident.region != region:
                raise ValueError(f"{where}: cell {incident.cell_id!r} is not in region {incident.region!r}")
        if incident.channel is not None and incident.channel not in {c.name for c in topo.sms_channels}:
            raise ValueError(f"{where}: unknown SMS channel {incident.channel!r}")

    def fixed_rate(self) -> float:
        """Events per second that do not scale with ``rate``: KPI samples and complaints."""
        complaints = len(self.topology.regions) * len(CATEGORIES) * self.complaints_per_hour / 3600
        return self.topology.kpi_rate() + complaints

    def override(self, **changes: Any) -> SimulatorSettings:
        """A copy with some top-level fields changed, validated again (e.g. from CLI flags)."""
        return SimulatorSettings.model_validate({**self.model_dump(), **changes})

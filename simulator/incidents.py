"""Incident kinds: what each does to the network while active, and which series it moves.

Series keys follow the metrics the streams stage derives (``core.series.series_key``):
``call_setup_success_rate``, ``call_drop_rate``, ``call_setup_time_p95`` per {region} and
{region, cell_id}; ``sms_delivery_success_rate``, ``sms_delivery_latency_p95`` per {channel} and
{channel, kind}; ``network_kpi`` per {region, element, kpi}; ``complaint_count`` per
{region, category} and {region, category, scenario}. An incident lists only the series
where its effect is material.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.series import series_key
from simulator.catalog import CATEGORIES, DROP_RATE, OUTAGE_SCENARIOS, SCENARIOS, SETUP_FAILURE, SMS_KINDS, SMS_SUCCESS
from simulator.clock import utc
from simulator.effects import Effects
from simulator.records import IncidentRecord
from simulator.settings import IncidentKind
from simulator.topology import Topology

#: A region-level call metric is listed when the cell moves the region's bad-event rate by this much (relative).
MATERIAL_REGION_RISE = 0.5
#: A complaint surge is listed only when it adds this many complaints, and 4 standard deviations of the usual count.
MATERIAL_EXTRA_COMPLAINTS = 10.0
#: A {channel, kind} series is listed when the kind is at least this share of the channel's traffic.
MATERIAL_KIND_SHARE = 0.1
NETWORK = CATEGORIES.index("network")
_OUTAGE_SCENARIO_INDEXES = tuple(i for i, (code, _) in enumerate(SCENARIOS["network"]) if code in OUTAGE_SCENARIOS)


def draw_params(kind: IncidentKind, on_channel: bool, rng: np.random.Generator) -> dict[str, float]:
    """The magnitudes of one incident of ``kind``, drawn from ``rng``."""

    def u(low: float, high: float) -> float:
        return round(float(rng.uniform(low, high)), 4)

    match kind:
        case "sms_channel_outage":
            return {"success_rate": u(0.2, 0.5), "latency_factor": u(5, 20)}
        case "cell_outage":
            return {
                "setup_failure_rate": u(0.4, 0.8),
                "drop_rate": u(0.1, 0.3),
                "rrc_loss_pp": u(20, 45),
                "erab_add_pp": u(5, 15),
                "mos_loss": u(0.6, 1.2),
                "complaint_delay_s": round(u(180, 600)),
                "complaint_factor": u(4, 10),
            }
        case "core_congestion":
            return {"setup_time_factor": u(2, 4), "setup_failure_rate": round(SETUP_FAILURE + u(0.01, 0.03), 4)}
        case "slow_degradation" if on_channel:
            return {"final_success_rate": u(0.6, 0.85)}
        case "slow_degradation":
            return {"final_drop_rate": u(0.04, 0.1), "final_erab_add_pp": u(3, 8)}
        case "complaint_surge":
            return {"complaint_factor": u(8, 20)}
    raise AssertionError(kind)


@dataclass(frozen=True, eq=False)
class Incident:
    """One incident: kind, when, target (indexes into the topology) and magnitudes."""

    kind: IncidentKind
    start: float
    end: float
    params: dict[str, float]
    source: str
    region: int | None = None
    cell: int | None = None
    channel: int | None = None
    category: int | None = None
    #: Index of the scenario within its category.
    scenario: int | None = None

    def target(self) -> tuple[str, int]:
        """What it acts on: two incidents on the same target must not overlap (when random)."""
        if self.cell is not None:
            return ("cell", self.cell)
        if self.channel is not None:
            return ("channel", self.channel)
        if self.category is not None and self.region is not None:
            return ("complaints", self.region * len(CATEGORIES) + self.category)
        assert self.region is not None
        return ("region", self.region)

    def overlaps(self, other: Incident) -> bool:
        """Same target and intersecting time spans."""
        return self.target() == other.target() and self.start < other.end and other.start < self.end

    def progress(self, t: float) -> float:
        """Fraction of the incident elapsed at ``t`` (for ramps)."""
        return min(1.0, max(0.0, (t - self.start) / (self.end - self.start)))

    def apply(self, effects: Effects, t: float, topology: Topology) -> None:
        """Change ``effects`` as this incident does at time ``t`` (when active)."""
        p = self.params
        match self.kind:
            case "sms_channel_outage":
                ch = self._channel()
                base = SMS_SUCCESS[int(topology.channel_kind[ch])]
                effects.sms_success_mult[ch] *= p["success_rate"] / base
                effects.sms_latency_mult[ch] *= p["latency_factor"]
            case "cell_outage":
                cell = self._cell()
                effects.call_fail[cell] = max(effects.call_fail[cell], p["setup_failure_rate"])
                effects.call_drop[cell] = max(effects.call_drop[cell], p["drop_rate"])
                effects.rrc_loss[cell] += p["rrc_loss_pp"]
                effects.erab_add[cell] += p["erab_add_pp"]
                effects.mos_loss[cell] += p["mos_loss"]
                if t >= self.start + p["complaint_delay_s"]:
                    region = int(topology.cell_region[cell])
                    effects.complaint_mult[region, NETWORK, list(_OUTAGE_SCENARIO_INDEXES)] *= p["complaint_factor"]
            case "core_congestion":
                cells = topology.cells_of(self._region())
                effects.setup_mult[cells] *= p["setup_time_factor"]
                effects.call_fail[cells] = np.maximum(effects.call_fail[cells], p["setup_failure_rate"])
            case "slow_degradation" if self.channel is not None:
                base = SMS_SUCCESS[int(topology.channel_kind[self.channel])]
                worst = p["final_success_rate"] / base
                effects.sms_success_mult[self.channel] *= 1.0 - self.progress(t) * (1.0 - worst)
            case "slow_degradation":
                cell, ramp = self._cell(), self.progress(t)
                effects.call_drop[cell] = max(
                    effects.call_drop[cell], DROP_RATE + ramp * (p["final_drop_rate"] - DROP_RATE)
                )
                effects.erab_add[cell] += ramp * p["final_erab_add_pp"]
            case "complaint_surge":
                assert self.category is not None and self.scenario is not None
                effects.complaint_mult[self._region(), self.category, self.scenario] *= p["complaint_factor"]

    def scope(self, topology: Topology) -> dict[str, str]:
        """The target as dimension names and values."""
        dims: dict[str, str] = {}
        if self.region is not None:
            dims["region"] = topology.regions[self.region]
        if self.cell is not None:
            dims["cell_id"] = topology.cell_ids[self.cell]
        if self.channel is not None:
            dims["channel"] = topology.channels[self.channel]
        if self.category is not None:
            category = CATEGORIES[self.category]
            dims["category"] = category
            if self.scenario is not None:
                dims["scenario"] = SCENARIOS[category][self.scenario][0]
        return dims

    def series(self, topology: Topology) -> list[str]:
        """Keys of the series on which the effect is material."""
        p = self.params
        match self.kind:
            case "sms_channel_outage":
                return self._channel_series(topology, ("sms_delivery_success_rate", "sms_delivery_latency_p95"))
            case "cell_outage":
                keys = self._cell_series(topology, "call_setup_success_rate", SETUP_FAILURE, p["setup_failure_rate"])
                keys += self._cell_series(topology, "call_drop_rate", DROP_RATE, p["drop_rate"])
                keys += self._kpi_series(topology, ("rrc_setup_success_rate", "erab_drop_rate", "volte_mos"))
                if self.end - self.start > p["complaint_delay_s"]:
                    keys += self._network_complaint_series(topology)
                return keys
            case "core_congestion":
                region = topology.regions[self._region()]
                keys = [series_key("call_setup_time_p95", {"region": region})]
                for cell in topology.cells_of(self._region()):
                    cell_dims = {"region": region, "cell_id": topology.cell_ids[cell]}
                    keys.append(series_key("call_setup_time_p95", cell_dims))
                return keys
            case "slow_degradation" if self.channel is not None:
                return self._channel_series(topology, ("sms_delivery_success_rate",))
            case "slow_degradation":
                keys = self._cell_series(topology, "call_drop_rate", DROP_RATE, p["final_drop_rate"])
                return keys + self._kpi_series(topology, ("erab_drop_rate",))
            case "complaint_surge":
                dims = self.scope(topology)
                category_dims = {"region": dims["region"], "category": dims["category"]}
                return [series_key("complaint_count", category_dims), series_key("complaint_count", dims)]
        raise AssertionError(self.kind)

    def describe(self, topology: Topology) -> str:
        """One human-readable line."""
        p, dims = self.params, self.scope(topology)
        match self.kind:
            case "sms_channel_outage":
                return (
                    f"SMS channel {dims['channel']} outage: delivery success {p['success_rate']:.0%}, "
                    f"latency x{p['latency_factor']:.1f}"
                )
            case "cell_outage":
                return (
                    f"cell {dims['cell_id']} outage: setup failures {p['setup_failure_rate']:.0%}, "
                    f"{p['drop_rate']:.0%} of answered calls dropped; network complaints in {dims['region']} "
                    f"x{p['complaint_factor']:.1f} from {p['complaint_delay_s']:.0f} s after the start"
                )
            case "core_congestion":
                return (
                    f"core congestion in {dims['region']}: setup time x{p['setup_time_factor']:.1f}, "
                    f"setup failures {p['setup_failure_rate']:.1%}"
                )
            case "slow_degradation" if self.channel is not None:
                return f"SMS channel {dims['channel']} success falls linearly to {p['final_success_rate']:.0%}"
            case "slow_degradation":
                return f"cell {dims['cell_id']} drop rate rises linearly to {p['final_drop_rate']:.1%}"
            case "complaint_surge":
                return (
                    f"complaint surge in {dims['region']}: {dims['scenario']} x{p['complaint_factor']:.1f} "
                    "with no network cause"
                )
        raise AssertionError(self.kind)

    def record(
        self, incident_id: str, topology: Topology, usual_complaints: Callable[[int, int, int, float, float], float]
    ) -> IncidentRecord:
        """The ground-truth line; ``usual_complaints(region, category, scenario, t0, t1)`` is the count expected
        without incidents, which decides whether a complaint surge is material."""
        series = self.series(topology)
        description = self.describe(topology)
        if self.kind == "complaint_surge":
            assert self.category is not None and self.scenario is not None
            usual = usual_complaints(self._region(), self.category, self.scenario, self.start, self.end)
            extra = (self.params["complaint_factor"] - 1) * usual
            if extra < max(MATERIAL_EXTRA_COMPLAINTS, 4 * math.sqrt(usual)):
                series = []
                description += f" (about {extra:.1f} extra complaints over {usual:.1f} usual: too few to observe)"
        return IncidentRecord(
            id=incident_id,
            kind=self.kind,
            start=utc(self.start),
            end=utc(self.end),
            scope=self.scope(topology),
            series=series,
            params=self.params,
            source=self.source,
            description=description,
        )

    def _cell(self) -> int:
        assert self.cell is not None
        return self.cell

    def _channel(self) -> int:
        assert self.channel is not None
        return self.channel

    def _region(self) -> int:
        assert self.region is not None
        return self.region

    def _cell_series(self, topology: Topology, metric: str, base: float, worst: float) -> list[str]:
        cell = self._cell()
        region = topology.regions[int(topology.cell_region[cell])]
        keys = [series_key(metric, {"region": region, "cell_id": topology.cell_ids[cell]})]
        if topology.share_in_region(cell) * (worst - base) >= MATERIAL_REGION_RISE * base:
            keys.append(series_key(metric, {"region": region}))
        return keys

    def _kpi_series(self, topology: Topology, kpis: tuple[str, ...]) -> list[str]:
        cell = self._cell()
        region = topology.regions[int(topology.cell_region[cell])]
        element = topology.cell_ids[cell]
        return [series_key("network_kpi", {"region": region, "element": element, "kpi": kpi}) for kpi in kpis]

    def _channel_series(self, topology: Topology, metrics: tuple[str, ...]) -> list[str]:
        ch = self._channel()
        mix = topology.channel_kind_mix(ch)
        kinds = [kind for kind, share in zip(SMS_KINDS, mix, strict=True) if share >= MATERIAL_KIND_SHARE]
        keys = []
        for metric in metrics:
            keys.append(series_key(metric, {"channel": topology.channels[ch]}))
            keys += [series_key(metric, {"channel": topology.channels[ch], "kind": kind}) for kind in kinds]
        return keys

    def _network_complaint_series(self, topology: Topology) -> list[str]:
        region = topology.regions[int(topology.cell_region[self._cell()])]
        keys = [series_key("complaint_count", {"region": region, "category": "network"})]
        for scenario in OUTAGE_SCENARIOS:
            keys.append(series_key("complaint_count", {"region": region, "category": "network", "scenario": scenario}))
        return keys

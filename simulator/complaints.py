"""Complaint tickets (CRM): a few per hour per region and category, with masked subscriber numbers."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from core.contracts import Complaint, Event
from core.privacy import mask_msisdn
from simulator.catalog import CATEGORIES, MOBILE_PREFIXES, SCENARIOS, Role
from simulator.effects import MAX_SCENARIOS, Effects
from simulator.profile import TrafficProfile
from simulator.source import IdSequence, Produced, objects, stamps
from simulator.topology import Topology

NETWORK = CATEGORIES.index("network")


def _cumulative(weights: NDArray[np.float64]) -> NDArray[np.float64]:
    cumulative: NDArray[np.float64] = np.cumsum(weights) / weights.sum()
    cumulative[-1] = 1.0
    return cumulative


class ComplaintSource:
    """Complaints, keyed by region; network complaints name a cell of the region.

    Subscriber numbers are 11-digit mobile numbers, masked before they leave the
    source (``138****1234``): no full number is ever written.
    """

    role: Role = "complaints"

    def __init__(
        self, topology: Topology, profile: TrafficProfile, rng: np.random.Generator, per_hour: float, ids: IdSequence
    ) -> None:
        self.topology = topology
        self.profile = profile
        self.rng = rng
        self.ids = ids
        weights = np.zeros((len(CATEGORIES), MAX_SCENARIOS))
        codes = np.full((len(CATEGORIES), MAX_SCENARIOS), "", dtype=object)
        for row, category in enumerate(CATEGORIES):
            for col, (code, weight) in enumerate(SCENARIOS[category]):
                weights[row, col], codes[row, col] = weight, code
        region_factor = topology.region_share * len(topology.regions)
        #: ``[region, category, scenario]``: complaints per second on average.
        self._base = per_hour / 3600 * region_factor[:, None, None] * weights[None, :, :]
        self._codes = codes
        self._categories = objects(CATEGORIES)
        self._regions = objects(topology.regions)
        self._keys = objects([name.encode() for name in topology.regions])
        self._region_cells = [topology.cells_of(r) for r in range(len(topology.regions))]
        self._cell_cumulative = [_cumulative(topology.cell_share[cells]) for cells in self._region_cells]

    def expected_count(self, region: int, category: int, scenario: int, t0: float, t1: float) -> float:
        """Complaints of one scenario in one region expected in ``[t0, t1)`` without any incident."""
        step = 300.0
        total, t = 0.0, t0
        while t < t1:
            width = min(step, t1 - t)
            total += self._base[region, category, scenario] * self.profile.complaints(t + width / 2) * width
            t += width
        return float(total)

    def produce(self, t0: float, t1: float, effects: Effects) -> Produced:
        """Complaints filed in ``[t0, t1)``."""
        rng = self.rng
        expected = self._base * effects.complaint_mult * self.profile.complaints((t0 + t1) / 2) * (t1 - t0)
        counts = rng.poisson(expected).ravel()
        n = int(counts.sum())
        if n == 0:
            return Produced([], [])
        order, ts = stamps(rng, t0, t1, n)
        flat = np.repeat(np.arange(len(counts)), counts)[order]
        region, category, scenario = np.unravel_index(flat, expected.shape)
        prefixes = rng.integers(len(MOBILE_PREFIXES), size=n).tolist()
        numbers = rng.integers(10**8, size=n).tolist()
        subscribers = [mask_msisdn(f"{MOBILE_PREFIXES[p]}{x:08d}") for p, x in zip(prefixes, numbers, strict=True)]
        cell_draw = rng.random(n).tolist()
        cells: list[str | None] = []
        for r, c, u in zip(region.tolist(), category.tolist(), cell_draw, strict=True):
            if c == NETWORK:
                cell = self._region_cells[r][int(np.searchsorted(self._cell_cumulative[r], u, side="right"))]
                cells.append(self.topology.cell_ids[int(cell)])
            else:
                cells.append(None)
        events: list[Event] = [
            Complaint(ts=at, region=reg, ticket_id=tid, category=cat, scenario=scen, subscriber=sub, cell_id=cell)
            for at, reg, tid, cat, scen, sub, cell in zip(
                ts,
                self._regions[region].tolist(),
                self.ids.take(n),
                self._categories[category].tolist(),
                self._codes[category, scenario].tolist(),
                subscribers,
                cells,
                strict=True,
            )
        ]
        return Produced(events, self._keys[region].tolist())

"""Network KPI samples (OSS / NMS): each cell reports each KPI once per interval, with noise.

Values are percentages (``rrc_setup_success_rate``, ``erab_drop_rate``,
``prb_utilisation``) and a 1-5 score (``volte_mos``). Cells report at their own phase
within the interval, so samples spread evenly over time.
"""

from __future__ import annotations

import math

import numpy as np

from core.contracts import Event, KpiSample
from simulator.catalog import KPIS, Role
from simulator.clock import datetimes, to_ms
from simulator.effects import Effects
from simulator.profile import TrafficProfile
from simulator.source import Produced, objects
from simulator.topology import Topology


class KpiSource:
    """KPI samples, keyed by element (the cell id)."""

    role: Role = "kpi"

    def __init__(self, topology: Topology, profile: TrafficProfile, rng: np.random.Generator, interval_s: int) -> None:
        cells = len(topology.cell_ids)
        self.topology = topology
        self.profile = profile
        self.rng = rng
        self.interval_s = float(interval_s)
        self._phase = rng.uniform(0.0, self.interval_s, cells)
        self._rrc_base = rng.uniform(98.8, 99.8, cells)
        self._erab_base = rng.uniform(0.25, 0.9, cells)
        self._prb_peak = rng.uniform(45.0, 85.0, cells)
        self._mos_base = rng.uniform(3.9, 4.3, cells)
        self._cells = objects(topology.cell_ids)
        self._regions = objects([topology.regions[r] for r in topology.cell_region])
        self._keys = objects([cell.encode() for cell in topology.cell_ids])

    def produce(self, t0: float, t1: float, effects: Effects) -> Produced:
        """Samples of the cells whose report time falls in ``[t0, t1)``."""
        cell, when = self._due(t0, t1)
        n = len(cell)
        if n == 0:
            return Produced([], [])
        rng = self.rng
        load = self.profile.load((t0 + t1) / 2)
        rrc = self._rrc_base[cell] - effects.rrc_loss[cell] - 0.3 * load**2 + rng.normal(0.0, 0.12, n)
        erab = self._erab_base[cell] * rng.lognormal(0.0, 0.15, n) * (0.8 + 0.4 * load) + effects.erab_add[cell]
        prb = np.clip(self._prb_peak[cell] * load * rng.lognormal(0.0, 0.08, n), 0.0, 100.0)
        mos = self._mos_base[cell] - 0.25 * (prb / 100) ** 3 - effects.mos_loss[cell] + rng.normal(0.0, 0.04, n)
        values = np.stack(
            [
                np.round(np.clip(rrc, 0.0, 100.0), 2),
                np.round(np.clip(erab, 0.0, 100.0), 3),
                np.round(prb, 1),
                np.round(np.clip(mos, 1.0, 5.0), 2),
            ],
            axis=1,
        ).tolist()
        events: list[Event] = []
        keys: list[bytes] = []
        for at, region, element, key, row in zip(
            datetimes(to_ms(when)),
            self._regions[cell].tolist(),
            self._cells[cell].tolist(),
            self._keys[cell].tolist(),
            values,
            strict=True,
        ):
            for kpi, value in zip(KPIS, row, strict=True):
                events.append(KpiSample(ts=at, region=region, element=element, kpi=kpi, value=value))
                keys.append(key)
        return Produced(events, keys)

    def _due(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Cells reporting in ``[t0, t1)`` and when, in time order (report times are phase + k * interval)."""
        interval = self.interval_s
        first = self._phase + np.ceil((t0 - self._phase) / interval) * interval
        cells, times = [], []
        for k in range(max(1, math.ceil((t1 - t0) / interval))):
            at = first + k * interval
            due = np.flatnonzero(at < t1)
            cells.append(due)
            times.append(at[due])
        cell, when = np.concatenate(cells), np.concatenate(times)
        order = np.argsort(when, kind="stable")
        return cell[order], when[order]

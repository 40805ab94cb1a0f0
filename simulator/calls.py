"""Call attempts (switch / IMS CDRs): Poisson volume per cell, result, setup time, duration, cause."""

from __future__ import annotations

import numpy as np

from core.contracts import CallAttempt, Event
from simulator.catalog import (
    AFTER_SETUP,
    CALL_DURATION_MEAN_S,
    CALL_RESULTS,
    CAUSES,
    DROPPED_DURATION_MEAN_S,
    NETWORK_MIX,
    NETWORKS,
    SETUP_MEDIAN_MS,
    SETUP_SIGMA,
    Role,
)
from simulator.effects import Effects
from simulator.profile import TrafficProfile
from simulator.source import IdSequence, Produced, objects, pick, pick_rows, stamps
from simulator.topology import Topology

FAILED = CALL_RESULTS.index("failed")
_MEAN_DURATION = np.array([CALL_DURATION_MEAN_S, 0.0, 0.0, 0.0, DROPPED_DURATION_MEAN_S])


def _cause_tables() -> tuple[np.ndarray, np.ndarray]:
    width = max(len(c) for c in CAUSES)
    codes = np.zeros((len(CAUSES), width), dtype=np.int64)
    cumulative = np.ones((len(CAUSES), width))
    for row, causes in enumerate(CAUSES):
        codes[row, : len(causes)] = [code for code, _ in causes]
        cumulative[row, : len(causes)] = np.cumsum([p for _, p in causes])
        codes[row, len(causes) :] = causes[-1][0]
    cumulative[:, -1] = 1.0
    return codes, cumulative


class CallSource:
    """Call attempts, keyed by cell id."""

    role: Role = "calls"

    def __init__(
        self, topology: Topology, profile: TrafficProfile, rng: np.random.Generator, rate: float, ids: IdSequence
    ) -> None:
        self.topology = topology
        self.profile = profile
        self.rng = rng
        #: Mean call attempts per second over a weekday.
        self.rate = rate
        self.ids = ids
        self._cells = objects(topology.cell_ids)
        self._regions = objects([topology.regions[r] for r in topology.cell_region])
        self._keys = objects([cell.encode() for cell in topology.cell_ids])
        self._networks = objects(NETWORKS)
        self._results = objects(CALL_RESULTS)
        self._log_setup = np.log(SETUP_MEDIAN_MS)
        self._cause_codes, self._cause_cumulative = _cause_tables()

    def produce(self, t0: float, t1: float, effects: Effects) -> Produced:
        """Call attempts in ``[t0, t1)``."""
        rng = self.rng
        expected = self.rate * self.profile.calls((t0 + t1) / 2) * (t1 - t0) * self.topology.cell_share
        counts = rng.poisson(expected)
        n = int(counts.sum())
        if n == 0:
            return Produced([], [])
        order, ts = stamps(rng, t0, t1, n)
        cell = np.repeat(np.arange(len(counts)), counts)[order]
        network = pick(rng, NETWORK_MIX, n)
        result = pick_rows(rng, self._result_cumulative(effects), cell)
        setup = rng.lognormal(self._log_setup[network], SETUP_SIGMA) * effects.setup_mult[cell]
        duration = np.round(rng.exponential(1.0, n) * _MEAN_DURATION[result], 1)
        cause = self._cause_codes[result, pick_rows(rng, self._cause_cumulative, result)]
        setup_ms: list[int | None] = np.rint(setup).astype(np.int64).tolist()
        for i in np.flatnonzero(result == FAILED).tolist():
            setup_ms[i] = None
        events: list[Event] = [
            CallAttempt(
                ts=at,
                region=region,
                call_id=call_id,
                cell_id=cell_id,
                network=net,
                result=res,
                setup_ms=setup_time,
                duration_s=dur,
                cause_code=code,
            )
            for at, region, call_id, cell_id, net, res, setup_time, dur, code in zip(
                ts,
                self._regions[cell].tolist(),
                self.ids.take(n),
                self._cells[cell].tolist(),
                self._networks[network].tolist(),
                self._results[result].tolist(),
                setup_ms,
                duration.tolist(),
                cause.tolist(),
                strict=True,
            )
        ]
        return Produced(events, self._keys[cell].tolist())

    @staticmethod
    def _result_cumulative(effects: Effects) -> np.ndarray:
        """Per cell: cumulative probabilities of the results, in ``CALL_RESULTS`` order."""
        fail, drop = effects.call_fail, effects.call_drop
        answered, no_answer, busy = AFTER_SETUP
        ok = 1.0 - fail
        probabilities = np.stack(
            [ok * answered * (1 - drop), ok * no_answer, ok * busy, fail, ok * answered * drop], axis=1
        )
        cumulative = np.cumsum(probabilities, axis=1)
        cumulative[:, -1] = 1.0
        return cumulative

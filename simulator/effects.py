"""The network's condition during one tick: what incidents change, read by the event sources."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.catalog import CATEGORIES, DROP_RATE, SCENARIOS, SETUP_FAILURE
from simulator.topology import Topology

#: Most scenarios any category has (the last axis of ``complaint_mult``).
MAX_SCENARIOS = max(len(s) for s in SCENARIOS.values())


@dataclass(eq=False)
class Effects:
    """Per-cell, per-channel and per-complaint-scenario state; ``neutral`` is the healthy network."""

    #: Probability that call setup fails, per cell.
    call_fail: NDArray[np.float64]
    #: Probability that an answered call drops, per cell.
    call_drop: NDArray[np.float64]
    #: Factor on call setup time, per cell.
    setup_mult: NDArray[np.float64]
    #: Percentage points taken off RRC setup success, per cell.
    rrc_loss: NDArray[np.float64]
    #: Percentage points added to the E-RAB drop rate, per cell.
    erab_add: NDArray[np.float64]
    #: Points taken off VoLTE MOS, per cell.
    mos_loss: NDArray[np.float64]
    #: Factor on delivery success, per SMS channel.
    sms_success_mult: NDArray[np.float64]
    #: Factor on delivery latency, per SMS channel.
    sms_latency_mult: NDArray[np.float64]
    #: ``[region, category, scenario]``: factor on complaint volume.
    complaint_mult: NDArray[np.float64]

    @classmethod
    def neutral(cls, topology: Topology) -> Effects:
        """No incident anywhere."""
        cells, channels = len(topology.cell_ids), len(topology.channels)
        return cls(
            call_fail=np.full(cells, SETUP_FAILURE),
            call_drop=np.full(cells, DROP_RATE),
            setup_mult=np.ones(cells),
            rrc_loss=np.zeros(cells),
            erab_add=np.zeros(cells),
            mos_loss=np.zeros(cells),
            sms_success_mult=np.ones(channels),
            sms_latency_mult=np.ones(channels),
            complaint_mult=np.ones((len(topology.regions), len(CATEGORIES), MAX_SCENARIOS)),
        )

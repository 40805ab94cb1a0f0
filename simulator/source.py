"""What the four event sources share: their interface, timestamps, ids and categorical draws."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

from core.contracts import Event
from simulator.catalog import Role
from simulator.clock import datetimes, to_ms
from simulator.effects import Effects


class Produced(NamedTuple):
    """A source's events of one tick, in timestamp order, with the Kafka key of each."""

    events: list[Event]
    keys: list[bytes]


class Source(Protocol):
    """Produces one role's events for a span of simulated time."""

    role: Role

    def produce(self, t0: float, t1: float, effects: Effects) -> Produced:
        """Events with ``t0 <= ts < t1`` (epoch seconds), under the network condition ``effects``."""
        ...


class IdSequence:
    """Deterministic event ids: a prefix (stream and run tag) and a counter."""

    def __init__(self, prefix: str, width: int = 10) -> None:
        self.prefix = prefix
        self.width = width
        self.count = 0

    def take(self, n: int) -> list[str]:
        """The next ``n`` ids."""
        prefix, width, first = self.prefix, self.width, self.count
        self.count += n
        return [f"{prefix}{i:0{width}d}" for i in range(first + 1, first + n + 1)]


def stamps(rng: np.random.Generator, t0: float, t1: float, n: int) -> tuple[NDArray[np.intp], list[datetime]]:
    """``n`` sorted uniform timestamps in ``[t0, t1)``: the sorting permutation and the datetimes.

    Apply the permutation to the per-event arrays drawn before, so all follow time order.
    """
    offsets = rng.random(n)
    order = np.argsort(offsets, kind="stable")
    ms = to_ms(t0 + offsets[order] * (t1 - t0))
    return order, datetimes(ms)


def pick(rng: np.random.Generator, probabilities: Sequence[float] | NDArray[np.float64], n: int) -> NDArray[np.intp]:
    """``n`` indexes drawn with the given probabilities (cumulative search, vectorised)."""
    cumulative = np.cumsum(probabilities)
    drawn = np.searchsorted(cumulative / cumulative[-1], rng.random(n), side="right")
    return np.minimum(drawn, len(cumulative) - 1)


def pick_rows(rng: np.random.Generator, cumulative: NDArray[np.float64], rows: NDArray[np.intp]) -> NDArray[np.intp]:
    """One index per event from its own row of cumulative probabilities (``cumulative[rows]``)."""
    u = rng.random(len(rows))
    drawn: NDArray[np.intp] = np.minimum((u[:, None] >= cumulative[rows]).sum(axis=1), cumulative.shape[1] - 1)
    return drawn


def objects(values: Sequence[object]) -> NDArray[np.object_]:
    """A numpy object array, for fast ``array[indexes].tolist()`` lookups of names."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array

"""Simulated time: epoch seconds inside the simulator, UTC datetimes on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray


def epoch(moment: datetime) -> float:
    """Epoch seconds of an aware datetime (naive ones are refused: their zone is unknown)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; give one (e.g. 2026-11-01T00:00:00Z)")
    return moment.timestamp()


def utc(seconds: float) -> datetime:
    """The UTC datetime of epoch seconds, to the millisecond (as events carry it)."""
    return datetime.fromtimestamp(round(seconds * 1000) / 1000, UTC)


def datetimes(ms: NDArray[np.int64]) -> list[datetime]:
    """UTC datetimes of epoch milliseconds (exact: every millisecond is representable)."""
    stamp = datetime.fromtimestamp
    return [stamp(value, UTC) for value in (ms / 1000).tolist()]


def to_ms(seconds: NDArray[np.float64]) -> NDArray[np.int64]:
    """Epoch seconds floored to whole milliseconds."""
    return np.floor(seconds * 1000).astype(np.int64)

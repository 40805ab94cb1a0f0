"""The asynchronous run loop: ticks into a sink, paced to wall time when the sink asks for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from simulator.clock import epoch
from simulator.engine import Simulator
from simulator.settings import SimulatorSettings
from simulator.sinks import Sink
from simulator.stats import Stats

#: Least wall time between two progress calls.
PROGRESS_INTERVAL_S = 0.5


async def run_simulation(
    settings: SimulatorSettings,
    sink: Sink,
    start: datetime,
    duration_s: float | None,
    progress: Callable[[Stats], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Stats:
    """Simulate from ``start`` for ``duration_s`` simulated seconds (None: until ``stop`` is set).

    A paced sink (Kafka) keeps simulated time at most ``start + speed * wall time``;
    with ``speed="max"``, or an unpaced sink (files), it runs as fast as it can.
    ``progress`` gets the running totals about twice a second and once at the end.
    The sink is closed (its summary written) however the run ends.
    """
    simulator = Simulator(settings, start)
    stats = Stats(seed=settings.seed, sim_start=simulator.now, sim_end=simulator.now)
    until = None if duration_s is None else start + timedelta(seconds=duration_s)
    speed = None if settings.speed == "max" or not sink.paced else float(settings.speed)
    origin = epoch(start)
    began = last_progress = time.monotonic()
    await sink.open()
    try:
        for tick in simulator.ticks(until):
            await sink.write(tick)
            stats.add(tick)
            now = time.monotonic()
            stats.wall_s = now - began
            if progress is not None and now - last_progress >= PROGRESS_INTERVAL_S:
                progress(stats)
                last_progress = now
            if stop is not None and stop.is_set():
                break
            wait = 0.0 if speed is None else (epoch(tick.end) - origin) / speed - stats.wall_s
            if wait > 0:
                await sink.flush()
                if await _sleep(wait, stop):
                    break
            else:
                await asyncio.sleep(0)  # let the producer and signal handlers run
    finally:
        stats.wall_s = time.monotonic() - began
        await sink.close(stats.summary(settings))
    if progress is not None:
        progress(stats)
    return stats


async def _sleep(seconds: float, stop: asyncio.Event | None) -> bool:
    """Wait ``seconds``; True when ``stop`` was set meanwhile."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True

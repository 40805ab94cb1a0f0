"""Simulator generation throughput against a bare-serialisation baseline, measured in the same run.

    ./dev bench simulator_throughput [--rate 100000] [--minutes 2] [--sink null|file]

(a) baseline: msgspec-encode ready-made call-attempt dicts, one per event (the least any JSON producer does);
(b) the simulator in "max" mode (topology, daily cycle, incidents, bad events, JSON) into the chosen sink.
Prints events/s for both, their ratio, and the peak resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from simulator.run import run_simulation
from simulator.settings import SimulatorSettings
from simulator.sinks import FileSink, NullSink, Sink


def baseline_encode(count: int) -> float:
    """Events/s of encoding ``count`` call-attempt dicts (ids vary) with msgspec."""
    encode = msgspec.json.Encoder().encode
    template = {
        "ts": "2026-11-18T10:00:00.125Z", "region": "north", "call_id": "", "cell_id": "north-c07",
        "network": "4G", "result": "answered", "setup_ms": 1430, "duration_s": 95.2, "cause_code": 16,
    }  # fmt: skip
    began = time.perf_counter()
    for n in range(count):
        template["call_id"] = f"c-{n:010d}"
        encode(template)
    return count / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run both measurements, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100_000.0, help="events per simulated second (weekday mean)")
    parser.add_argument("--minutes", type=float, default=2.0, help="simulated minutes")
    parser.add_argument("--sink", choices=("null", "file"), default="null")
    parser.add_argument("--out", type=Path, default=None, help="directory for --sink file (default: a temporary one)")
    parser.add_argument("--start", default="2026-11-18T10:00:00Z", help="simulated start (RFC 3339)")
    args = parser.parse_args(argv)
    settings = SimulatorSettings(rate=args.rate, speed="max")
    start = datetime.fromisoformat(args.start).astimezone(UTC)
    with tempfile.TemporaryDirectory(prefix="simbench-") as scratch:
        sink: Sink = NullSink() if args.sink == "null" else FileSink(args.out or Path(scratch))
        stats = asyncio.run(run_simulation(settings, sink, start, args.minutes * 60))
    baseline = baseline_encode(min(stats.total_events, 2_000_000))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"simulator: {stats.total_events:,} events ({stats.faults_total:,} bad) in {stats.wall_s:.1f} s")
    print(f"  (a) baseline msgspec encode : {baseline:12,.0f} events/s")
    print(f"  (b) simulator -> {args.sink:<10}: {stats.events_per_s:12,.0f} events/s")
    print(f"  ratio b/a: {stats.events_per_s / baseline:.2f}    peak RSS: {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()

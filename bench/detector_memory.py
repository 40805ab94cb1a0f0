"""Memory and speed of the default detector per series.

Builds the configured detector (``detectors.api.build_detector``, shipped
defaults) for N distinct series, feeds each ``--points`` points, and reports
the resident memory the detectors add per series (RSS before and after, in
this process), the pickled size per series (what a changelog snapshot holds),
and points judged per second, against a baseline loop that only builds the
points' inputs. The issue asks for at least 100,000 active series per worker
in 2 GB, and (issue 10) at least 150,000 points/s per core and at most 5 KB
per series.

    ./dev bench detector_memory --series 100000 --points 60                 # a success rate (seasonal)
    ./dev bench detector_memory --series 100000 --points 60 --kind value    # a plain KPI value (auto)
"""

from __future__ import annotations

import argparse
import gc
import pickle
import random
import time
from pathlib import Path

from detectors.api import build_detector
from detectors.series_detector import SeriesDetector


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=60, help="points fed to each series")
    parser.add_argument(
        "--kind",
        choices=("ratio", "value"),
        default="ratio",
        help="ratio: call_setup_success_rate with a volume; value: a plain series without one (e.g. a KPI)",
    )
    args = parser.parse_args()
    rng = random.Random(1)
    metric = "call_setup_success_rate" if args.kind == "ratio" else "kpi"
    volume = 800 if args.kind == "ratio" else None
    keys = [f"{metric}|cell_id=c{i:06d}|region=r{i % 50:02d}" for i in range(args.series)]

    start = time.perf_counter()
    for _minute in range(args.points):
        for _ in keys:
            rng.gauss(0.98, 0.004)
    baseline_s = time.perf_counter() - start

    gc.collect()
    before = rss_bytes()
    detectors: list[SeriesDetector] = [build_detector(key) for key in keys]
    start = time.perf_counter()
    for minute in range(args.points):
        ts = 1_790_000_000.0 + 60 * minute
        for detector in detectors:
            detector.feed(ts, rng.gauss(0.98, 0.004), volume)
    feed_s = time.perf_counter() - start
    gc.collect()
    after = rss_bytes()
    sample = detectors[: min(1000, len(detectors))]
    pickled = sum(len(pickle.dumps(d)) for d in sample) / len(sample)
    per_series = (after - before) / args.series
    points = args.series * args.points
    family = type(detectors[0].baseline).__name__
    print(f"series: {args.series:,} ({args.kind}), points per series: {args.points}, baseline: {family}")
    print(f"baseline (draw the values only): {points / baseline_s:,.0f} points/s")
    print(f"detectors (judge + learn):        {points / feed_s:,.0f} points/s ({feed_s / points * 1e6:.1f} µs/point)")
    print(f"memory per series: {per_series:,.0f} B resident, {pickled:,.0f} B pickled")
    print(f"series in 2 GB at that rate: {2 * 1024**3 / per_series:,.0f}")


if __name__ == "__main__":
    main()

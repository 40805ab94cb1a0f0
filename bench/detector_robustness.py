"""The default detector on the robustness suite's synthetic families: alert episodes on their anomaly-free part.

For each family of :mod:`telewatch.backtest.synthetic_families` and each seed:
alert episodes per day and flagged points on the anomaly-free part, how many
points after its start the injected anomaly was flagged, and verdicts with a
NaN, infinite or out-of-range number. The issue's bound: at most 0.2 episodes
per series-day for every family. ``tests/test_detector_robustness.py`` asserts
it on one seed; this runs as many as you like.

    ./dev bench detector_robustness --seeds 5
"""

from __future__ import annotations

import argparse

from telewatch.backtest.synthetic_families import families, run_family


def main() -> None:
    """Run the suite and print one line per family with the worst figures over the seeds."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1")
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    outcomes = [run_family(f) for seed in range(args.seeds) for f in families(days=args.days, seed=seed)]
    print(f"{'family':20} {'what':52} {'episodes/day (max)':>18} {'flagged (max)':>13} {'found after':>11} {'bad':>4}")
    for name in dict.fromkeys(o.name for o in outcomes):
        mine = [o for o in outcomes if o.name == name]
        found = [o.detected_after for o in mine]
        after = "missed" if None in found else f"{max(f for f in found if f is not None)} pts"
        worst = max(o.episodes_per_day for o in mine)
        print(
            f"{name:20} {mine[0].what:52} {worst:18.3f} {max(o.flagged_clean for o in mine):13d} {after:>11} "
            f"{sum(o.bad_scores for o in mine):4d}"
        )


if __name__ == "__main__":
    main()

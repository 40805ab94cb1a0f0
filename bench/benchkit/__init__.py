"""What the alerting benchmarks (``bench/alert_storm.py``, ``bench/alert_latency.py``) share; not a benchmark."""

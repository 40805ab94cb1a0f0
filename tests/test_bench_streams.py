"""The pure parts of ``bench/streams_worker.py`` (the benchmark itself starts a whole stack: run it with
``./dev bench streams_worker``): its config is valid, and its rates and memory figures are computed as documented."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from telewatch.config import load_config

BENCH = Path(__file__).resolve().parents[1] / "bench" / "streams_worker.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_streams_worker", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def sample(bench: ModuleType, uptime_s: float, events: int, cpu_s: float) -> Any:
    status = {"events": events, "uptime_s": uptime_s, "points": 0, "partials": 0}
    return bench.Sample(uptime_s + 1.0, cpu_s, status, broker_cpu_s=cpu_s / 2, machine_cpu_s=cpu_s * 2)


def test_steady_rate_between_mid_stream_statuses(bench: ModuleType) -> None:
    samples = [
        sample(bench, 2.0, 50_000, 1.0),
        sample(bench, 3.0, 110_000, 1.8),
        sample(bench, 4.0, 170_000, 2.6),
        sample(bench, 5.0, 200_000, 3.0),  # all read: its status may come up to a second late, so it is left out
    ]
    steady, per_cpu = bench.steady_rates(samples, 200_000)
    assert steady == pytest.approx(60_000)
    assert per_cpu == pytest.approx(75_000)
    assert bench.cpu_shares(samples, 200_000) == (pytest.approx(0.8), pytest.approx(0.4), pytest.approx(0.4))


def test_steady_rate_falls_back_to_first_and_done(bench: ModuleType) -> None:
    samples = [sample(bench, 2.0, 50_000, 1.0), sample(bench, 3.0, 100_000, 1.5)]
    assert bench.steady_rates(samples, 100_000) == (pytest.approx(50_000), pytest.approx(100_000))
    assert bench.steady_rates(samples[1:], 100_000) == (None, None)


def test_memory_per_10k_series(bench: ModuleType) -> None:
    state = (10.0, 12.0)
    assert bench.MemoryResult((200, 3200), (1_000, 21_000), (100.0, 160.0), state).per_10k_series_mib == pytest.approx(
        30.0
    )
    assert bench.MemoryResult((200, 200), (1_000, 1_000), (100.0, 101.0), state).per_10k_series_mib is None


@pytest.mark.parametrize("broker", ["tansu", "kafka"])
def test_config_points_at_the_started_servers(bench: ModuleType, tmp_path: Path, broker: str) -> None:
    ports = dict(zip(bench.PORT_NAMES, range(20001, 20001 + len(bench.PORT_NAMES)), strict=True))
    stack = bench.Stack(broker, tmp_path / "home", ports)
    config = load_config(bench.write_config(stack, tmp_path, "benchx", 2))
    assert config.bootstrap_servers() == [stack.bootstrap]
    assert config.kafka.mode == ("embedded" if broker == "tansu" else "external")
    assert config.influxdb_url() == f"http://127.0.0.1:{ports['influxdb_http_port']}"
    assert config.stack.home_path() == tmp_path / "home"
    assert config.streams.idle_timeout_s == 2
    assert all(name.startswith("benchx.") for name in config.kafka.topics.input_names().values())

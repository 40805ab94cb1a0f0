"""The streams worker applies a large fetched batch in parts whose changelog delta stays small."""

from __future__ import annotations

from typing import Any, cast

from streams.worker import DELTA_TARGET_BYTES, _Input


def source() -> _Input:
    return _Input("kpi", "t.kpi", cast(Any, None), cast(Any, None))


def test_parts_follow_the_bytes_per_record_of_recent_deltas() -> None:
    kpi = source()
    for _ in range(40):  # KPI samples: about 140 bytes of delta each
        kpi.measured(1000, b"x" * 140_000)
    assert abs(kpi.part_size() * 140 - DELTA_TARGET_BYTES) < 0.01 * DELTA_TARGET_BYTES
    for _ in range(40):  # calls: about 30
        kpi.measured(1000, b"x" * 30_000)
    assert abs(kpi.part_size() * 30 - DELTA_TARGET_BYTES) < 0.01 * DELTA_TARGET_BYTES


def test_parts_have_a_floor_and_empty_changes_are_ignored() -> None:
    huge = source()
    for _ in range(40):
        huge.measured(10, b"x" * 1_000_000)
    assert huge.part_size() == 256
    before = huge.delta_per_record
    huge.measured(0, b"x" * 100)
    assert huge.delta_per_record == before

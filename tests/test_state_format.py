"""Stage snapshots carry a format version; a snapshot of another version is refused, not half-read."""

from __future__ import annotations

import pytest

from core.metrics import default_metrics
from detectors.detect_stage import DetectStage
from detectors.settings import DetectorSettings
from fixtures.metric_points import traffic
from runtime.state_format import StateFormatError, seal, unseal


def test_a_snapshot_round_trips_through_its_version() -> None:
    assert unseal("t", 3, seal(3, b"body")) == b"body"


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        (seal(2, b"x"), "table detectors: state format 2 is newer than the format 1 this telewatch reads"),
        (seal(0, b"x"), "table detectors: state format 0 is older than the format 1 this telewatch reads"),
        (b"\x80\x05legacy-pickle", "table detectors: the snapshot has no format version"),
    ],
)
def test_another_format_is_refused_with_its_version_and_the_fix(snapshot: bytes, message: str) -> None:
    with pytest.raises(StateFormatError, match=message) as info:
        unseal("detectors", 1, snapshot)
    assert "--app-id" in str(info.value), "the message says how to start from empty state"


def test_a_stage_table_seals_and_refuses(tmp_path: object) -> None:
    import faust

    from runtime.outputs import stage_table

    stage = DetectStage(DetectorSettings(), default_metrics())
    app = faust.App("state-format-test", broker="memory://", datadir=str(tmp_path), store="memory://")
    table = stage_table(app, "detectors", 1, stage)
    state = stage.new_state()
    stage.update(state, traffic(range(0, 40), outage=range(0)))
    snapshot = table._dump(state)
    assert snapshot.startswith(b"TWS\x01"), "snapshots start with the versioned header"
    restored = table._load(snapshot)
    assert sorted(restored.detectors) == sorted(state.detectors)
    newer = seal(stage.state_format + 1, stage.dump(state))
    with pytest.raises(StateFormatError, match=f"state format {stage.state_format + 1} is newer"):
        table._load(newer)

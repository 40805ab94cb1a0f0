"""Escalation chains over time: notify, wait, on-call of a rotation, repeat at most N times; resumable cursor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from alerting.owners import Notify, OwnersRegistry, Rotation, Step
from alerting.pipeline.escalate import Cursor, Target, advance, resume

ROTATIONS = {"duty": Rotation(people=["a", "b"], shift="1h", start=datetime(2026, 12, 5, 0, tzinfo=UTC))}
T0 = datetime(2026, 12, 5, 0, 10, tzinfo=UTC).timestamp()
CHAIN = [
    Step(notify=Notify(people=["lead"], groups=["noc"])),
    Step(wait="15m"),
    Step(notify_oncall="duty"),
    Step(wait="60m"),
    Step(repeat=2),
]


def walk(until_s: float, every_s: float = 60.0) -> list[tuple[float, list[Target]]]:
    cursor: Cursor | None = Cursor(due_at=T0)
    sent = []
    now = T0
    while cursor is not None and now <= T0 + until_s:
        targets, cursor = advance(CHAIN, cursor, now, ROTATIONS)
        if targets:
            sent.append((now - T0, targets))
        now += every_s
    return sent


def test_the_chain_notifies_waits_escalates_to_the_on_call_and_repeats_at_most_twice() -> None:
    sent = walk(10 * 3600)
    assert [(t, [x.who for x in ts]) for t, ts in sent] == [
        (0.0, ["lead", "noc"]),
        (900.0, ["a"]),  # 00:25: a's shift
        (4500.0, ["lead", "noc"]),  # first repeat, after the 60 min wait
        (5400.0, ["b"]),  # 01:40: b's shift
        (9000.0, ["lead", "noc"]),  # second repeat
        (9900.0, ["a"]),
    ]


def test_a_late_call_runs_every_step_due_and_no_more() -> None:
    targets, cursor = advance(CHAIN, Cursor(due_at=T0), T0 + 1000, ROTATIONS)
    assert [t.who for t in targets] == ["lead", "noc", "a"]
    assert cursor == Cursor(step=4, repeats=0, due_at=T0 + 900 + 3600)


def test_an_acknowledged_alert_stops_and_resumes_from_its_cursor() -> None:
    _, cursor = advance(CHAIN, Cursor(due_at=T0), T0, ROTATIONS)
    assert cursor is not None
    # acknowledged now; the caller keeps the cursor; the ack times out 2 h later and the walk resumes
    targets, after = advance(CHAIN, resume(cursor, T0 + 7200), T0 + 7200, ROTATIONS)
    assert [(t.step, t.who) for t in targets] == [(2, "a")]  # the on-call step that was next; 02:10 is a's third shift
    assert after == Cursor(step=4, repeats=0, due_at=T0 + 7200 + 3600)  # the wait counts from the resumption


def test_a_repeating_chain_without_a_wait_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs a wait step"):
        OwnersRegistry.model_validate(
            {
                "people": {"p": {"name": "P", "phone": "8613800000001"}},
                "escalations": {"e": [{"notify": {"people": ["p"]}}, {"repeat": 3}]},
            }
        )

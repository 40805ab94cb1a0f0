"""Escalation: walk an owner's chain of steps over time until someone acknowledges.

A :class:`Cursor` says where an alert is in its chain and when the next step
is due. :func:`advance` runs every step due by ``now``: ``notify`` and
``notify_oncall`` produce :class:`Target` s at once, ``wait`` moves the due time
on, ``repeat`` goes back to the first step (at most N times), after which the
chain is done. An acknowledgement stops the walk (the caller stops calling);
an acknowledgement that times out resumes it from the cursor. The cursor is
plain data, kept in the ledger with the alert, so a restart resumes the chain
where it was.

>>> from alerting.owners import Step, Notify
>>> chain = [Step(notify=Notify(people=["li.wei"])), Step(wait="15m"), Step(repeat=1)]
>>> targets, cursor = advance(chain, Cursor(due_at=0.0), now=0.0, rotations={})
>>> [t.who for t in targets], cursor
(['li.wei'], Cursor(step=2, repeats=0, due_at=900.0))
>>> targets, cursor = advance(chain, cursor, now=900.0, rotations={})
>>> [t.who for t in targets], cursor.step, cursor.repeats
(['li.wei'], 2, 1)
>>> advance(chain, cursor, now=1800.0, rotations={})
([], None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from alerting.owners import Rotation, Step
from core.durations import parse_duration


@dataclass(frozen=True)
class Cursor:
    """The next step of the chain, how many times it was repeated, and when the step is due (epoch seconds)."""

    step: int = 0
    repeats: int = 0
    due_at: float = 0.0


@dataclass(frozen=True)
class Target:
    """Who a step tells: a person (by SMS and their IM groups) or an IM group."""

    kind: Literal["person", "group"]
    who: str
    #: The step that named them (for the ledger and the message: "escalation step 3").
    step: int
    #: The pass through the chain that reached them: 0 the first, 1 after the first ``repeat``…
    repeat: int = 0


def resume(cursor: Cursor, now: float) -> Cursor:
    """The cursor of an alert whose acknowledgement timed out: its next step is due now (time acknowledged
    does not count as waiting)."""
    return replace(cursor, due_at=now)


def advance(
    chain: Sequence[Step], cursor: Cursor, now: float, rotations: Mapping[str, Rotation]
) -> tuple[list[Target], Cursor | None]:
    """Run the steps due by ``now``; the targets to notify and the new cursor (None: the chain is done)."""
    targets: list[Target] = []
    position: Cursor | None = cursor
    for _ in range(10 * max(len(chain), 1) * 11):  # bounded: a chain without waits cannot spin
        if position is None or position.due_at > now:
            break
        if position.step >= len(chain):
            position = None
            break
        step = chain[position.step]
        following: Cursor | None = replace(position, step=position.step + 1)
        if step.notify is not None:
            targets += [Target("person", p, position.step, position.repeats) for p in step.notify.people]
            targets += [Target("group", g, position.step, position.repeats) for g in step.notify.groups]
        elif step.notify_oncall is not None:
            when = datetime.fromtimestamp(position.due_at, tz=UTC)
            who = rotations[step.notify_oncall].on_call(when)
            targets.append(Target("person", who, position.step, position.repeats))
        elif step.wait is not None:
            following = replace(position, step=position.step + 1, due_at=position.due_at + parse_duration(step.wait))
        elif step.repeat is not None:
            following = Cursor(0, position.repeats + 1, position.due_at) if position.repeats < step.repeat else None
        position = following
    return targets, position

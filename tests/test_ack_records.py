"""``ack_records`` keeps faust's ack bookkeeping exactly as faust's own ``Consumer.ack`` would, per batch.

faust commits the end of the first run of consecutive acked offsets after the committed one, so an offset
acked twice, one never acked, or a gap acked as if read would lose or replay events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import faust
from faust.types import TP

from runtime.faust_bulk import ack_records

TOPIC = TP("calls", 0)


@dataclass(frozen=True)
class Record:
    offset: int


@dataclass(eq=False)
class Message:
    tp: TP
    offset: int
    acked: bool = False


def fake_app(committed: int | None = None) -> Any:
    consumer = SimpleNamespace(
        _acked_index=defaultdict(set),
        _acked=defaultdict(list),
        _committed_offset=defaultdict(lambda: committed),
        _n_acked=0,
        _unacked_messages=set(),
        _waiting_for_ack=None,
    )
    return SimpleNamespace(consumer=consumer, topics=SimpleNamespace(acks_enabled_for=lambda topic: True))


def ack(app: Any, offsets: list[int]) -> int:
    return ack_records(cast(faust.App, app), TOPIC, [Record(o) for o in offsets])


def test_a_consecutive_batch_is_acked_once() -> None:
    app = fake_app()
    assert ack(app, list(range(100, 110))) == 10
    assert list(app.consumer._acked[TOPIC]) == list(range(100, 110))
    assert ack(app, list(range(105, 115))) == 5, "offsets acked before are not acked again"
    assert list(app.consumer._acked[TOPIC]) == list(range(100, 115))
    assert app.consumer._acked_index[TOPIC] == set(range(100, 115)) and app.consumer._n_acked == 15


def test_a_batch_with_gaps_acks_only_its_offsets() -> None:
    app = fake_app()
    offsets = [3, 4, 7, 8, 9, 12]  # a compacted topic: offsets 5, 6, 10, 11 are gone
    assert ack(app, offsets) == 6
    assert list(app.consumer._acked[TOPIC]) == offsets


def test_offsets_below_the_committed_one_are_skipped() -> None:
    app = fake_app(committed=105)
    assert ack(app, list(range(100, 110))) == 5
    assert list(app.consumer._acked[TOPIC]) == list(range(105, 110))


def test_the_batch_message_is_released_once_its_last_offset_is_acked() -> None:
    app = fake_app()
    message = Message(TOPIC, 109)
    app.consumer._unacked_messages = {message}
    ack(app, list(range(100, 105)))
    assert not message.acked
    ack(app, list(range(105, 110)))
    assert message.acked and not app.consumer._unacked_messages

"""Changelog deltas of deterministic stages: the batch of input records itself.

A stage whose output depends only on its input (no clock, seeded randomness)
records a batch by the batch: replaying it rebuilds the state and the outbox.
The delta also says how much of the outbox before the batch had been sent
(the replay drops as much, as the live run did).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, Generic, TypeVar

from runtime.outbox import HasOutbox, start_batch

_DROP: Final = struct.Struct(">I")
_LENGTH: Final = struct.Struct(">I")


S = TypeVar("S", bound=HasOutbox)


class ReplayStage(Generic[S]):
    """A deterministic stage: its delta is the batch; subclasses implement :meth:`take`."""

    def take(self, state: S, payloads: Sequence[bytes], replay: bool) -> None:
        """Apply a batch to ``state`` (``replay``: rebuilding from the changelog, do not count it again)."""
        raise NotImplementedError

    def update(self, state: S, payloads: Sequence[bytes]) -> bytes:
        """Take a batch; returns its delta."""
        dropped = start_batch(state)
        self.take(state, payloads, replay=False)
        return encode(dropped, payloads)

    def apply_delta(self, state: S, delta: bytes) -> None:
        """Replay a batch recorded by :meth:`update`."""
        dropped, payloads = decode(delta)
        del state.outbox[:dropped]
        self.take(state, payloads, replay=True)


def encode(dropped: int, payloads: Sequence[bytes]) -> bytes:
    """The delta of a batch.

    >>> decode(encode(2, [b"a", b"bc"]))
    (2, [b'a', b'bc'])
    """
    return _DROP.pack(dropped) + b"".join(_LENGTH.pack(len(p)) + p for p in payloads)


def decode(delta: bytes) -> tuple[int, list[bytes]]:
    """How many outbox records to drop, and the payloads of a delta."""
    (dropped,) = _DROP.unpack_from(delta)
    payloads = []
    at = _DROP.size
    while at < len(delta):
        (length,) = _LENGTH.unpack_from(delta, at)
        at += _LENGTH.size
        payloads.append(delta[at : at + length])
        at += length
    return dropped, payloads

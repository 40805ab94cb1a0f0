"""Changelog deltas of deterministic stages: the batch of input records itself.

A stage whose output depends only on its input (no clock, seeded randomness)
records a batch by the batch: replaying it rebuilds the state and the outbox.
The delta also says whether the outbox before the batch had been sent (then
the replay drops it, as the live run did).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, Generic, Protocol, TypeVar

from streams.ingest_stage import Outgoing

_FLAG: Final = struct.Struct(">?")
_LENGTH: Final = struct.Struct(">I")


class HasOutbox(Protocol):
    """A state with an outbox."""

    outbox: list[Outgoing]
    outbox_sent: bool


S = TypeVar("S", bound=HasOutbox)


class ReplayStage(Generic[S]):
    """A deterministic stage: its delta is the batch; subclasses implement :meth:`take`."""

    def take(self, state: S, payloads: Sequence[bytes], replay: bool) -> None:
        """Apply a batch to ``state`` (``replay``: rebuilding from the changelog, do not count it again)."""
        raise NotImplementedError

    def update(self, state: S, payloads: Sequence[bytes]) -> bytes:
        """Take a batch; returns its delta."""
        clear = start_batch(state)
        self.take(state, payloads, replay=False)
        return encode(clear, payloads)

    def apply_delta(self, state: S, delta: bytes) -> None:
        """Replay a batch recorded by :meth:`update`."""
        clear, payloads = decode(delta)
        if clear:
            state.outbox = []
        self.take(state, payloads, replay=True)


def start_batch(state: HasOutbox) -> bool:
    """Drop an outbox already sent; return whether it was (the delta's flag)."""
    clear = state.outbox_sent
    if clear:
        state.outbox = []
        state.outbox_sent = False
    return clear


def encode(clear: bool, payloads: Sequence[bytes]) -> bytes:
    """The delta of a batch.

    >>> decode(encode(True, [b"a", b"bc"]))
    (True, [b'a', b'bc'])
    """
    return _FLAG.pack(clear) + b"".join(_LENGTH.pack(len(p)) + p for p in payloads)


def decode(delta: bytes) -> tuple[bool, list[bytes]]:
    """The flag and the payloads of a delta."""
    (clear,) = _FLAG.unpack_from(delta)
    payloads = []
    at = _FLAG.size
    while at < len(delta):
        (length,) = _LENGTH.unpack_from(delta, at)
        at += _LENGTH.size
        payloads.append(delta[at : at + length])
        at += length
    return clear, payloads

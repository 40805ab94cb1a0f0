"""The outbox of a stage's state: what its changes send, kept durable with the state.

A change puts what it sends (partials, dead letters, metric points, anomalies)
in the state's outbox; the outbox is written to the changelog with the change
and sent once that write is acknowledged. A worker killed in between sends it
again after it restarts. ``outbox_sent`` (in memory only) counts the leading
records this process has sent; the next change drops them, and its delta says
how many, so a replay drops the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import msgspec

T = TypeVar("T")


class Outgoing(msgspec.Struct, array_like=True, frozen=True):
    """A record waiting in an outbox: the role of its destination (a topic role or ``influxdb``), key and value."""

    target: str
    key: bytes
    value: bytes


class HasOutbox(Protocol):
    """A state with an outbox."""

    outbox: list[Outgoing]
    #: Leading outbox records sent by this process (a restored state: none).
    outbox_sent: int


def start_batch(state: HasOutbox) -> int:
    """Drop the part of the outbox already sent; return how many records that was (for the delta)."""
    dropped = state.outbox_sent
    if dropped:
        del state.outbox[:dropped]
        state.outbox_sent = 0
    return dropped


def unsent(state: HasOutbox) -> list[Outgoing]:
    """The records of the outbox this process has not sent."""
    return state.outbox[state.outbox_sent :]


def mark_sent(state: HasOutbox, count: int | None = None) -> None:
    """Record that the next ``count`` unsent records (default: all) have been sent."""
    state.outbox_sent = len(state.outbox) if count is None else state.outbox_sent + count


def change_sending(state: HasOutbox, change: Callable[[], T]) -> tuple[T, list[Outgoing]]:
    """Run ``change`` (which changes ``state``); return its result and the records it added to the outbox.

    A worker may send those later, after its earlier changes' records: each
    :func:`mark_sent` of them then counts from the front of the outbox as it is
    by then (the changes in between drop what was sent before).
    """
    length, sent = len(state.outbox), state.outbox_sent
    result = change()
    dropped = sent - state.outbox_sent  # what the change dropped (start_batch), or nothing
    return result, state.outbox[length - dropped :]

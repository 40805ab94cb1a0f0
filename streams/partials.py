"""Partial windows: what one input partition hands to the merge stage, on the partials topic.

An input partition's windows hold only the events of that partition; series
such as a region's call setup success rate span partitions (calls are keyed by
cell). When a partition closes windows it sends a :class:`Partial` with their
cubes, its *progress* (every window ending at or before ``closed_until`` is
closed on that partition) and what it did not count (late events per series,
dead letters per reason). The merge stage (:mod:`streams.window_merge`) adds
up the partials of a window and rolls it up once every partition's progress
has passed its end.

Partials travel as MessagePack (compact, and cube keys are tuples, which JSON
cannot key a map with). ``seq`` numbers a partition's partials so a partial
sent again after a crash is recognised and ignored.
"""

from __future__ import annotations

from typing import Any

import msgspec

from streams.aggregation import Key, WindowCube


class CubeWire(msgspec.Struct, array_like=True, frozen=True):
    """A :class:`~streams.aggregation.WindowCube` on the wire (maps as lists of (key, value) pairs)."""

    events: int
    counts: list[tuple[Key, int]]
    #: metric → [(key, histogram {bucket: n} or [sum, n])].
    values: dict[str, list[tuple[Key, Any]]]


class Partial(msgspec.Struct, array_like=True, frozen=True):
    """Closed windows of one input partition and its progress."""

    source: str
    topic: str
    partition: int
    #: Partitions of the input topic: the merge stage waits for all of them.
    partitions: int
    window_s: int
    #: Per input partition, 1, 2, 3 ...: a partial with a seq already seen is a resend.
    seq: int
    closed_until: float
    windows: list[tuple[int, CubeWire]]
    #: Events that arrived after their window closed, as a cube (counted per series downstream).
    late: CubeWire
    #: Dead letters per reason since the previous partial.
    rejects: dict[str, int]


def cube_to_wire(cube: WindowCube) -> CubeWire:
    """Encode a cube's maps as lists of (key, value) pairs."""
    return CubeWire(
        events=cube.events,
        counts=list(cube.counts.items()),
        values={name: list(accs.items()) for name, accs in cube.values.items()},
    )


def cube_from_wire(wire: CubeWire) -> WindowCube:
    """Decode a cube (lists back to tuple keys, histogram keys back to ints)."""
    cube = WindowCube(events=wire.events)
    cube.counts = dict(wire.counts)
    for name, pairs in wire.values.items():
        cube.values[name] = {key: _acc(acc) for key, acc in pairs}
    return cube


def _acc(acc: Any) -> Any:
    if isinstance(acc, dict):
        return {int(bucket): n for bucket, n in acc.items()}
    return [float(acc[0]), int(acc[1])]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Partial)


def encode_partial(partial: Partial) -> bytes:
    """The partial as MessagePack."""
    return _encoder.encode(partial)


def decode_partial(payload: bytes) -> Partial:
    """Decode a partial (raises ``msgspec.DecodeError`` / ``ValidationError`` when it is not one)."""
    return _decoder.decode(payload)

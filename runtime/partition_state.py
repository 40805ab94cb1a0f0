"""Exactly-once effect for per-partition state, kept in a faust Table changelog.

For each input partition (``tp``) :class:`PartitionState` keeps a state ``S`` and
the high-water mark (``hwm``): the highest input offset whose effect the state
holds. Both live in a faust ``Table`` (memory store) whose changelog partition
is the input partition, in the same changelog record, so they are never seen
apart. :meth:`PartitionState.process` runs one batch:

1. skip records with ``offset <= hwm`` (applied before a crash or rebalance);
2. apply the rest with the caller's ``update``, which returns a *delta* (bytes);
3. write the delta (or, every ``snapshot_every`` batches, the whole state) to
   the table and its changelog, and wait until the broker acknowledges it;
4. only then acknowledge the input records, so faust may commit their offsets.

:meth:`PartitionState.begin` does steps 1–2 and starts the write;
:meth:`PartitionState.finish` does the rest, so a worker can take the next
batch while the broker acknowledges this one (the writes of one partition
keep their order).

After ``kill -9`` faust's table recovery reloads the changelog, the consumer
resumes from the committed offset (at most ``hwm + 1``) and step 1 drops what
was already applied: no event is counted twice or lost.

Changelog layout, keys per input partition ``<topic>/<partition>/``:

- ``delta/<seq>``: ``hwm``, ``seq`` and one batch's delta;
- ``base/<seq>/<i>``: the whole state (``dump``) as of delta ``seq``, in chunks
  of at most ``chunk_bytes``; ``base``: ``hwm``, ``seq`` and the chunk count.
  Written in that order, then tombstones for the older deltas and chunks, so a
  restore reads one snapshot and fewer than ``snapshot_every`` deltas, and
  compaction keeps the changelog that size.

Why deltas rather than the whole state per batch (measured on the 2-core dev
machine, 4 partitions, 5 batches/s each): writing a 900 kB state whole is fast
enough (acknowledged in 5.6 ms median on Kafka, 6.0 ms on Tansu), but a state
above 1,000,000 bytes is refused (``MessageSizeTooLargeError`` from the
producer's ``producer_max_request_size``; Kafka's ``message.max.bytes`` is
1 MiB) and crashes the worker (hence chunked snapshots), and the changelog
grows by the whole state per batch: Tansu's memory grew 159 MB in 10 s (it never frees it; deltas: 5 MB) and
Kafka compacts only closed segments (1 GiB by default), all of which recovery
reads again. A delta is the size of one batch's changes; a snapshot every
``snapshot_every`` batches bounds what a restore folds. ``snapshot_every=1``
(or an ``update`` returning ``None``) writes whole states.

Register before the worker starts (the table must exist at start-up); the
table's partition count must equal the input topic's so faust co-partitions them.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import faust
from faust.types import TP

from runtime.faust_bulk import HasOffset, ack_records

S = TypeVar("S")
R = TypeVar("R", bound=HasOffset)

#: Value header of a delta: hwm, seq.
_DELTA: Final = struct.Struct(">qq")
#: Value of the base: hwm, seq, number of chunks.
_BASE: Final = struct.Struct(">qqI")


@dataclass
class _Partition(Generic[S]):
    """The decoded state of one input partition, as the table holds it."""

    state: S
    hwm: int
    seq: int
    base_seq: int
    generation: int
    #: Bytes of the last snapshot, and of the deltas written since.
    base_bytes: int = 0
    delta_bytes: int = 0
    #: Keys of the deltas written since the base and of the base's chunks (deleted
    #: by the next snapshot), and of records a crash left behind (by the next write).
    deltas: list[bytes] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    garbage: list[bytes] = field(default_factory=list)


@dataclass
class Pending(Generic[R]):
    """A batch applied to the state whose changelog write the broker has not acknowledged yet."""

    tp: TP
    records: Sequence[R]
    #: How many records were new (not applied before).
    fresh: int
    futures: list[Any]


class PartitionState(Generic[S]):
    """Per-input-partition state with its applied high-water mark, durable in a table changelog."""

    def __init__(
        self,
        app: faust.App,
        name: str,
        *,
        partitions: int,
        load: Callable[[bytes | None], S],
        apply_delta: Callable[[S, bytes], None],
        dump: Callable[[S], bytes],
        snapshot_every: int = 64,
        snapshot_ratio: float = 0.0,
        chunk_bytes: int = 512 * 1024,
    ) -> None:
        """``load`` decodes a snapshot (``None``: empty state), ``apply_delta`` folds a delta
        into a state in place, ``dump`` encodes a whole state. Snapshots are written in
        records of at most ``chunk_bytes`` (below ``producer_max_request_size``).

        A snapshot is written after ``snapshot_every`` deltas once the deltas since the
        last one add up to ``snapshot_ratio`` times its size: with a ratio of 1 a large
        state (e.g. many de-duplication ids) costs at most as much changelog as its
        deltas, and a restore reads at most about twice the state.
        """
        if snapshot_every < 1 or chunk_bytes < 1:
            raise ValueError("snapshot_every and chunk_bytes must be at least 1")
        self.app = app
        self.partitions = partitions
        self.snapshot_every = snapshot_every
        self.snapshot_ratio = snapshot_ratio
        self.chunk_bytes = chunk_bytes
        self.table: Any = app.Table(name, partitions=partitions, key_type=bytes, value_type=bytes)
        self._load = load
        self._apply_delta = apply_delta
        self._dump = dump
        self._parts: dict[TP, _Partition[S]] = {}
        self._checked_topics: set[str] = set()
        #: Messages skipped because their effect was already in the state.
        self.skipped = 0
        #: Messages applied to the state (counted with the state change, before the write is acknowledged).
        self.applied = 0

    @property
    def changelog_topic_name(self) -> str:
        """The table's changelog topic (``<app id>-<name>-changelog``)."""
        name: str = self.table.changelog_topic_name
        return name

    def get(self, tp: TP) -> tuple[S, int]:
        """The state of input partition ``tp`` and its hwm (-1: nothing applied yet).

        Until the first batch after a rebalance this is read from the table
        (maybe still recovering) each time; do not change it.
        """
        part = self._parts.get(tp)
        if part is None or part.generation != self.app.consumer_generation_id:
            part = self._restore(tp, -1)
        return part.state, part.hwm

    async def process(self, tp: TP, records: Sequence[R], update: Callable[[S, Sequence[R]], bytes | None]) -> int:
        """Apply the batch's new records once, make it durable, then ack all; return how many were new.

        ``records`` are one partition's batch in offset order (a bulk handler's
        argument). ``update(state, records)`` changes ``state`` in place and
        returns the encoded delta (``None``: write the whole state instead).
        """
        pending = self.begin(tp, records, update)
        await self.finish(pending)
        return pending.fresh

    def begin(self, tp: TP, records: Sequence[R], update: Callable[[S, Sequence[R]], bytes | None]) -> Pending[R]:
        """Apply the batch's new records (as :meth:`process`) and start writing the change; :meth:`finish` it."""
        part = self._partition(tp)
        fresh = _after(records, part.hwm) if records else ()
        futures: list[Any] = []
        if fresh:
            # The state, the table and the changelog producer's buffer change
            # together, with no await in between: a cancelled worker leaves them
            # ahead of the offset commit, never apart.
            try:
                delta = update(part.state, fresh)
                part.hwm = fresh[-1].offset
                futures = self._write(tp, part, delta)
            except BaseException:
                del self._parts[tp]  # maybe half applied: reload from the table
                raise
        self.applied += len(fresh)
        self.skipped += len(records) - len(fresh)
        return Pending(tp, records, len(fresh), futures)

    async def finish(self, pending: Pending[R]) -> None:
        """Wait until the broker acknowledged the batch's change, then ack its records."""
        await asyncio.gather(*pending.futures)
        if pending.records:
            self.ack(pending.tp, pending.records)

    def current(self, tp: TP) -> S:
        """The live state of ``tp``, restored from the table if needed; only inside a batch or
        :meth:`change` (after the table's recovery, while ``tp`` is assigned)."""
        return self._partition(tp).state

    def loaded(self) -> list[S]:
        """The states held in memory for the current assignment (for status reports; do not change them)."""
        return [part.state for part in self._loaded_parts()]

    def held_bytes(self) -> int:
        """Bytes of the snapshots and deltas the table holds in memory for the current assignment."""
        return sum(part.base_bytes + part.delta_bytes for part in self._loaded_parts())

    def applied_offset(self, tp: TP) -> int:
        """The hwm of ``tp``: the last input offset whose effect the state holds (same rules as :meth:`current`)."""
        return self._partition(tp).hwm

    async def change(self, tp: TP, update: Callable[[S], bytes | None]) -> bool:
        """Apply a change that no input message caused (e.g. a timer) and make it durable.

        ``update`` returns the delta, ``None`` when nothing changed (nothing is
        written). Same rules as :meth:`current`. Returns whether anything was written.
        """
        part = self._partition(tp)
        try:
            delta = update(part.state)
            if delta is None:
                return False
            futures = self._write(tp, part, delta)
        except BaseException:
            del self._parts[tp]
            raise
        await asyncio.gather(*futures)
        return True

    def ack(self, tp: TP, records: Sequence[HasOffset]) -> None:
        """Acknowledge a batch whose effect is durable (faust may then commit its offsets)."""
        ack_records(self.app, tp, records)

    # -- internals ------------------------------------------------------------
    def _loaded_parts(self) -> list[_Partition[S]]:
        generation = self.app.consumer_generation_id
        return [part for part in self._parts.values() if part.generation == generation]

    def _partition(self, tp: TP) -> _Partition[S]:
        # Only called for a batch, so after the table's recovery has finished.
        generation = self.app.consumer_generation_id
        part = self._parts.get(tp)
        if part is None or part.generation != generation:
            # First batch, or the first since a rebalance (recovery may have changed the table).
            self._check_copartitioned(tp.topic)
            part = self._parts[tp] = self._restore(tp, generation)
        return part

    def _restore(self, tp: TP, generation: int) -> _Partition[S]:
        prefix = _prefix(tp)
        data = self.table.data
        deltas: dict[int, bytes] = {}
        chunks: dict[int, list[bytes]] = {}
        for key in list(data.keys()):
            if key.startswith(prefix + b"delta/"):
                deltas[int(key.rsplit(b"/", 1)[1])] = key
            elif key.startswith(prefix + b"base/"):
                chunks.setdefault(int(key.split(b"/")[-2]), []).append(key)
        base = data.get(prefix + b"base")
        base_bytes = 0
        if base is None:
            hwm, base_seq, count = -1, 0, 0
            state = self._load(None)
        else:
            hwm, base_seq, count = _BASE.unpack(base)
            whole = b"".join(bytes(data[_chunk_key(prefix, base_seq, i)]) for i in range(count))
            base_bytes = len(whole)
            state = self._load(whole)
        part = _Partition(state, hwm, base_seq, base_seq, generation, base_bytes)
        part.chunks = [_chunk_key(prefix, base_seq, i) for i in range(count)]
        # A crash can leave deltas the base already holds (their tombstones lost)
        # and chunks of a snapshot whose base was never written.
        part.garbage = [key for seq, keys in chunks.items() if seq != base_seq for key in keys]
        for seq in sorted(deltas):
            key = deltas[seq]
            if seq <= base_seq:
                part.garbage.append(key)
                continue
            value = data[key]
            delta_hwm, part.seq = _DELTA.unpack_from(value)
            part.hwm = max(part.hwm, delta_hwm)
            self._apply_delta(state, bytes(value[_DELTA.size :]))
            part.deltas.append(key)
            part.delta_bytes += len(value) - _DELTA.size
        part.seq = max([part.seq, *chunks])  # never reuse the seq (so the keys) of such chunks
        return part

    def _write(self, tp: TP, part: _Partition[S], delta: bytes | None) -> list[Any]:
        prefix = _prefix(tp)
        part.seq += 1
        # A delta too large for one record is written as a (chunked) snapshot instead.
        if (
            delta is not None
            and len(delta) + _DELTA.size <= self.chunk_bytes
            and (
                part.seq - part.base_seq < self.snapshot_every
                or part.delta_bytes < self.snapshot_ratio * part.base_bytes
            )
        ):
            key = prefix + b"delta/%d" % part.seq
            part.deltas.append(key)
            part.delta_bytes += len(delta)
            garbage, part.garbage = part.garbage, []
            futures = [self._put(tp.partition, key, _DELTA.pack(part.hwm, part.seq) + delta)]
            return futures + [self._put(tp.partition, old, None) for old in garbage]
        # Chunks first, then the base naming them, then the deletions: a crash
        # in between leaves the previous base whole, or the new one.
        whole = self._dump(part.state)
        size = self.chunk_bytes
        pieces = [whole[i : i + size] for i in range(0, len(whole), size)]
        chunks = [_chunk_key(prefix, part.seq, i) for i in range(len(pieces))]
        futures = [self._put(tp.partition, key, piece) for key, piece in zip(chunks, pieces, strict=True)]
        futures.append(self._put(tp.partition, prefix + b"base", _BASE.pack(part.hwm, part.seq, len(pieces))))
        futures.extend(
            self._put(tp.partition, key, None) for key in {*part.deltas, *part.chunks, *part.garbage} - {*chunks}
        )
        part.deltas, part.chunks, part.garbage = [], chunks, []
        part.base_seq = part.seq
        part.base_bytes, part.delta_bytes = len(whole), 0
        return futures

    def _put(self, partition: int, key: bytes, value: bytes | None) -> Any:
        data = self.table.data
        if value is None:
            data.pop(key, None)
            return self.table.send_changelog(partition, key, None, value_serializer="raw")
        data[key] = value
        return self.table.send_changelog(partition, key, value)

    def _check_copartitioned(self, topic: str) -> None:
        if topic in self._checked_topics:
            return
        count = self.app.consumer.topic_partitions(topic)
        if count is not None and count != self.partitions:
            raise ValueError(
                f"topic {topic!r} has {count} partitions but table {self.table.name!r} has "
                f"{self.partitions}: they must match for the changelog to follow the input"
            )
        self._checked_topics.add(topic)


def _prefix(tp: TP) -> bytes:
    return f"{tp.topic}/{tp.partition}/".encode()


def _chunk_key(prefix: bytes, seq: int, index: int) -> bytes:
    return prefix + b"base/%d/%d" % (seq, index)


def _after(records: Sequence[R], hwm: int) -> Sequence[R]:
    """The records with offset > hwm (records are in offset order)."""
    if records[0].offset > hwm:
        return records
    if records[-1].offset <= hwm:
        return ()
    return [r for r in records if r.offset > hwm]

"""The faust bulk path (runtime.faust_bulk) and exactly-once partition state (runtime.partition_state).

This module is also the test app: ``python tests/test_faust_bulk.py worker --broker HOST:PORT
--topic T --app-id ID --data-dir DIR`` runs a faust worker that counts messages per key per
partition through the bulk path and rewrites ``DIR/report.json`` every 0.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import struct
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from aiokafka import AIOKafkaProducer
from faust.types import TP

from devstack.kafka_server import KafkaServer
from devstack.tansu import TansuServer
from fixtures.worker_process import WorkerProcess, worker_processes
from runtime.faust_bulk import TANSU_SETTINGS, BulkApp, ensure_topics
from runtime.partition_state import PartitionState

PARTITIONS = 4
KEYS = 50
REPORT = "report.json"
TABLE = "counts"

Counts = dict[str, int]


# -- the test app -----------------------------------------------------------------
def build_counter_app(
    app_id: str,
    broker: str,
    topic: str,
    data_dir: Path,
    *,
    tansu: bool,
    delay: float = 0.0,
    max_poll_records: int | None = None,
    crash_after: int = 0,
) -> tuple[BulkApp, PartitionState[Counts]]:
    """A worker counting messages per key per partition of ``topic``, reporting to ``data_dir``."""
    options: dict[str, Any] = dict(TANSU_SETTINGS) if tansu else {}
    options.setdefault("broker_session_timeout", 6.0)
    options.setdefault("broker_heartbeat_interval", 1.0)
    options.setdefault("broker_rebalance_timeout", 6.0)
    app = BulkApp(
        app_id,
        broker=f"kafka://{broker}",
        datadir=str(data_dir / "faust"),
        broker_commit_interval=1.0,
        broker_max_poll_records=max_poll_records,
        consumer_auto_offset_reset="earliest",
        **options,
    )
    decode = msgspec.json.Decoder(Counts).decode
    encode = msgspec.json.encode

    def apply_delta(state: Counts, delta: bytes) -> None:
        for key, n in decode(delta).items():
            state[key] = state.get(key, 0) + n

    counts = CrashingCounts(
        app,
        TABLE,
        partitions=PARTITIONS,
        load=lambda raw: {} if raw is None else decode(raw),
        apply_delta=apply_delta,
        dump=encode,
        snapshot_every=8,
    )
    counts.crash_after = crash_after

    def update(state: Counts, messages: Sequence[Any]) -> bytes:
        delta = Counter(m.key.decode() for m in messages)
        for key, n in delta.items():
            state[key] = state.get(key, 0) + n
        return encode(delta)

    async def on_batch(tp: Any, messages: list[Any]) -> None:
        await counts.process(tp, messages, update)
        if delay:
            await asyncio.sleep(delay)

    app.bulk_topic(topic, on_batch)
    report_file = data_dir / REPORT

    async def report() -> None:
        committed = {tp.partition: offset for tp, offset in app.consumer._committed_offset.items() if tp.topic == topic}  # type: ignore[attr-defined]
        body = {
            "pid": os.getpid(),
            "skipped": counts.skipped,
            "applied": counts.applied,
            "committed": committed,
            "partitions": {tp.partition: part_report(*counts.get(tp)) for tp in assigned(app, topic)},
        }
        tmp = report_file.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(body))
        tmp.replace(report_file)

    app.timer(0.2)(report)
    return app, counts


def assigned(app: BulkApp, topic: str) -> list[Any]:
    """The partitions of ``topic`` this worker has now."""
    return sorted((tp for tp in app.consumer.assignment() if tp.topic == topic), key=lambda tp: tp.partition)


def part_report(state: Counts, hwm: int) -> dict[str, Any]:
    return {"hwm": hwm, "counts": state}


class CrashingCounts(PartitionState[Counts]):
    """Kills its own process (SIGKILL) when batch ``crash_after`` is durable but not yet acked."""

    crash_after = 0
    batches = 0

    def ack(self, tp: Any, messages: Sequence[Any]) -> None:
        self.batches += 1
        if self.batches == self.crash_after:
            os.kill(os.getpid(), signal.SIGKILL)
        super().ack(tp, messages)


def main(argv: Sequence[str] | None = None) -> None:
    """``worker --broker HOST:PORT --topic T --app-id ID --data-dir DIR [options]``."""
    parser = argparse.ArgumentParser(prog="test_faust_bulk.py")
    parser.add_argument("command", choices=["worker"])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--tansu", action="store_true", help="use the Tansu settings")
    parser.add_argument("--delay", type=float, default=0.0, help="sleep after each batch (slows the worker)")
    parser.add_argument("--max-poll-records", type=int, default=None, help="records per fetch (smaller batches)")
    parser.add_argument("--crash-after", type=int, default=0, help="kill -9 itself before acking batch N")
    parser.add_argument("--loglevel", default="WARNING")
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    app, _ = build_counter_app(
        args.app_id,
        args.broker,
        args.topic,
        args.data_dir,
        tansu=args.tansu,
        delay=args.delay,
        max_poll_records=args.max_poll_records,
        crash_after=args.crash_after,
    )
    import faust

    faust.Worker(app, loglevel=args.loglevel).execute_from_commandline()


# -- the tests ----------------------------------------------------------------------
@dataclass
class Expected:
    """What was produced: count per (partition, key)."""

    topic: str
    counts: dict[int, Counts]

    def total(self, partition: int) -> int:
        return sum(self.counts.get(partition, {}).values())


async def produce(broker: str, app_id: str, n: int) -> Expected:
    """Create the input topic and the changelog, then send ``n`` messages with keys k0..k49."""
    topic = f"{app_id}-in"
    await ensure_topics(
        broker,
        {topic: PARTITIONS, f"{app_id}-{TABLE}-changelog": PARTITIONS},
        compacted=[f"{app_id}-{TABLE}-changelog"],
    )
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    counts: dict[int, Counter[str]] = {}
    try:
        pending: list[tuple[str, asyncio.Future[Any]]] = []
        for i in range(n):
            key = f"k{i % KEYS}"
            pending.append((key, await producer.send(topic, key=key.encode(), value=b'{"i":%d}' % i)))
            if len(pending) >= 10_000 or i == n - 1:
                for key, future in pending:
                    counts.setdefault((await future).partition, Counter())[key] += 1
                pending = []
    finally:
        await producer.stop()
    return Expected(topic, {p: dict(c) for p, c in counts.items()})


class Worker(WorkerProcess):
    """The test app as a subprocess."""

    def __init__(self, broker: str, topic: str, app_id: str, data_dir: Path, *extra: str) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, "worker", "--broker", broker, "--topic", topic]
        command += ["--app-id", app_id, "--data-dir", str(data_dir), "--loglevel", "INFO", *extra]
        super().__init__(command, data_dir / REPORT, data_dir / "worker.log")

    def report(self) -> dict[str, Any] | None:
        """The worker's last report, or None before the first."""
        return self.status()

    def counts(self) -> dict[int, Counts]:
        report = self.report() or {"partitions": {}}
        return {int(p): part["counts"] for p, part in report["partitions"].items()}


workers = worker_processes


def counted(report: dict[str, Any]) -> dict[int, int]:
    return {int(p): sum(part["counts"].values()) for p, part in report["partitions"].items()}


def complete(expected: Expected) -> Any:
    """A report predicate: every partition has counted all its messages (or more)."""

    def done(report: dict[str, Any]) -> bool:
        totals = counted(report)
        return all(totals.get(p, 0) >= expected.total(p) for p in range(PARTITIONS))

    return done


def new_app_id() -> str:
    return f"bulk-{uuid.uuid4().hex[:8]}"


# -- PartitionState against an in-memory table (no broker) -------------------------
class FakeTable:
    """The parts of a faust Table PartitionState uses; the changelog is a list."""

    name = TABLE
    changelog_topic_name = f"app-{TABLE}-changelog"

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data: dict[bytes, bytes] = dict(data or {})
        self.changelog: list[tuple[int, bytes, bytes | None]] = []

    def send_changelog(self, partition: int, key: bytes, value: bytes | None, **_: Any) -> asyncio.Future[None]:
        self.changelog.append((partition, key, value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class FakeApp:
    consumer_generation_id = 1

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.table = FakeTable(data)
        self.consumer = argparse.Namespace(topic_partitions=lambda topic: PARTITIONS)

    def Table(self, name: str, **options: Any) -> FakeTable:  # noqa: N802 (faust's name)
        return self.table


@dataclass
class FakeMessage:
    offset: int
    key: bytes
    acked: bool = False


class LocalCounts(PartitionState[Counts]):
    """Counts per key; acks by marking the messages."""

    def __init__(self, data: dict[bytes, bytes] | None = None, **options: Any) -> None:
        decode = msgspec.json.Decoder(Counts).decode

        def apply_delta(state: Counts, delta: bytes) -> None:
            for key, n in decode(delta).items():
                state[key] = state.get(key, 0) + n

        self.fake = FakeApp(data)
        super().__init__(
            cast(Any, self.fake),
            TABLE,
            partitions=PARTITIONS,
            load=lambda raw: {} if raw is None else decode(raw),
            apply_delta=apply_delta,
            dump=msgspec.json.encode,
            **options,
        )

    def ack(self, tp: Any, messages: Sequence[Any]) -> None:
        for message in messages:
            message.acked = True

    async def count(self, tp: Any, messages: Sequence[Any]) -> int:
        def update(state: Counts, fresh: Sequence[Any]) -> bytes:
            delta = Counter(m.key.decode() for m in fresh)
            for key, n in delta.items():
                state[key] = state.get(key, 0) + n
            return msgspec.json.encode(delta)

        return await self.process(tp, messages, update)


def replay(changelog: Sequence[tuple[int, bytes, bytes | None]]) -> dict[bytes, bytes]:
    """What table recovery makes of a changelog: the last value per key, tombstones delete."""
    data: dict[bytes, bytes] = {}
    for _, key, value in changelog:
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def key_of(offset: int) -> bytes:
    return b"key-%d" % (offset % 7)


def counts_upto(hwm: int) -> Counts:
    return dict(Counter(key_of(o).decode() for o in range(hwm + 1)))


TP0 = TP("events", 0)


async def test_partition_state_survives_a_crash_after_any_changelog_record() -> None:
    """Cut the changelog after every record: the restored state always matches its hwm, replay ends exact."""
    live = LocalCounts(snapshot_every=3, chunk_bytes=16)
    batches = [[FakeMessage(o, key_of(o)) for o in range(start, start + 5)] for start in range(0, 60, 5)]
    for batch in batches:
        assert await live.count(TP0, batch) == 5
        assert all(m.acked for m in batch)
    changelog = live.fake.table.changelog
    assert any(key.endswith(b"/base") for _, key, _ in changelog)
    assert any(value is None for _, _, value in changelog)  # deltas and old chunks deleted
    assert replay(changelog) == live.fake.table.data
    assert live.get(TP0) == (counts_upto(59), 59)
    for cut in range(len(changelog) + 1):
        restored = LocalCounts(replay(changelog[:cut]), snapshot_every=3, chunk_bytes=16)
        state, hwm = restored.get(TP0)
        assert state == counts_upto(hwm), f"cut after {cut} records"
        for batch in batches:  # the consumer resumes at or before hwm + 1: everything again
            await restored.count(TP0, [FakeMessage(m.offset, m.key) for m in batch])
        assert restored.get(TP0) == (counts_upto(59), 59)
        assert restored.applied == 59 - hwm
        assert replay(changelog[:cut] + restored.fake.table.changelog) == restored.fake.table.data
        if restored.applied:  # what a crash left behind goes with the next write
            assert_compacted(restored.fake.table.data)


def assert_compacted(data: dict[bytes, bytes]) -> None:
    """Only the base, its chunks and the deltas written after it are left."""
    _, seq, count = struct.unpack(">qqI", data[b"events/0/base"])
    chunks = {b"events/0/base/%d/%d" % (seq, i) for i in range(count)}
    deltas = {key for key in data if key.startswith(b"events/0/delta/")}
    assert set(data) == {b"events/0/base", *chunks, *deltas}
    assert all(int(key.rsplit(b"/", 1)[1]) > seq for key in deltas)
    assert count > 1  # the snapshots were chunked


async def test_partition_state_whole_state_mode_and_update_errors() -> None:
    state = LocalCounts(snapshot_every=1)
    await state.count(TP0, [FakeMessage(0, b"a"), FakeMessage(1, b"b")])
    assert not any(b"/delta/" in key for key in state.fake.table.data)  # every batch writes a snapshot

    def broken(state: Counts, messages: Sequence[Any]) -> bytes:
        state["a"] = 1000
        raise ValueError("bad message")

    with pytest.raises(ValueError, match="bad message"):
        await state.process(TP0, cast(Any, [FakeMessage(2, b"a")]), broken)
    assert state.get(TP0) == ({"a": 1, "b": 1}, 1)  # the half-applied state is reloaded from the table


async def test_bulk_path_counts_every_message_once_on_tansu(tansu_server: TansuServer, tmp_path: Path) -> None:
    app_id = new_app_id()
    expected = await produce(tansu_server.endpoint, app_id, 50_000)
    with workers() as started:
        worker = Worker(tansu_server.endpoint, expected.topic, app_id, tmp_path / "w", "--tansu")
        started.append(worker)
        report = await worker.wait_for(complete(expected), "complete count")
        assert worker.counts() == expected.counts
        assert report["skipped"] == 0
        assert report["applied"] == 50_000


@pytest.mark.parametrize("server", ["kafka_server", "tansu_server"])
async def test_kill_9_between_durable_write_and_ack_skips_the_applied_batch(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The worker dies after a batch's changelog write is acknowledged and before its offsets are acked."""
    broker: KafkaServer | TansuServer = request.getfixturevalue(server)
    options = ["--max-poll-records", "500", *(["--tansu"] if server == "tansu_server" else [])]
    app_id = new_app_id()
    expected = await produce(broker.endpoint, app_id, 20_000)
    with workers() as started:
        first = Worker(broker.endpoint, expected.topic, app_id, tmp_path / "w", *options, "--crash-after", "6")
        started.append(first)
        assert await asyncio.to_thread(first.proc.wait, 90) == -signal.SIGKILL, first.tail()
        second = Worker(broker.endpoint, expected.topic, app_id, tmp_path / "w", *options)
        started.append(second)
        report = await second.wait_for(complete(expected), "complete count after restart")
        assert second.counts() == expected.counts
        assert report["skipped"] > 0  # the sixth batch at least: applied, durable, not committed


async def test_kill_9_mid_stream_on_kafka_loses_and_doubles_nothing(kafka_server: KafkaServer, tmp_path: Path) -> None:
    """kill -9 a slowed-down worker part way through 200,000 messages, restart it, compare every count."""
    n = 200_000
    app_id = new_app_id()
    expected = await produce(kafka_server.endpoint, app_id, n)
    options = ["--max-poll-records", "2000", "--delay", "0.02"]
    with workers() as started:
        first = Worker(kafka_server.endpoint, expected.topic, app_id, tmp_path / "w", *options)
        started.append(first)

        def some_done_and_committed(report: dict[str, Any]) -> bool:
            return bool(report["applied"] >= n // 4 and any(report["committed"].values()))

        before = await first.wait_for(some_done_and_committed, "progress")
        first.kill9()
        assert before["applied"] < n, "the worker finished before the kill: slow it down more"
        second = Worker(kafka_server.endpoint, expected.topic, app_id, tmp_path / "w", *options)
        started.append(second)
        after = await second.wait_for(complete(expected), "complete count after restart", limit_s=180)
        assert second.counts() == expected.counts
        print(f"killed at {before['applied']} applied; after restart {after['skipped']} replayed messages skipped")


async def test_second_worker_takes_over_partitions_with_their_state(kafka_server: KafkaServer, tmp_path: Path) -> None:
    """A second worker joins mid-stream: the group splits the partitions, the state moves through the changelog."""
    n = 100_000
    app_id = new_app_id()
    expected = await produce(kafka_server.endpoint, app_id, n)
    options = ["--max-poll-records", "1000", "--delay", "0.1"]
    with workers() as started:
        first = Worker(kafka_server.endpoint, expected.topic, app_id, tmp_path / "a", *options)
        started.append(first)
        await first.wait_for(lambda report: report["applied"] >= n // 10, "progress")
        second = Worker(kafka_server.endpoint, expected.topic, app_id, tmp_path / "b", *options)
        started.append(second)
        await second.wait_for(lambda report: bool(report["partitions"]), "an assignment for the second worker")

        def merged() -> dict[int, Counts] | None:
            """Both workers' counts, once their partitions are disjoint, cover all and are complete."""
            a, b = first.counts(), second.counts()
            if set(a) & set(b) or len(a) + len(b) != PARTITIONS:
                return None
            both = a | b
            if any(sum(both[p].values()) < expected.total(p) for p in range(PARTITIONS)):
                return None
            return both

        await second.wait_for(lambda _: merged() is not None, "complete counts from both workers", limit_s=120)
        assert merged() == expected.counts
        a, b = first.report() or {}, second.report() or {}
        print(
            f"first worker applied {a['applied']}, has {sorted(a['partitions'])}; second {b['applied']}, {sorted(b['partitions'])}"
        )


if __name__ == "__main__":
    main()

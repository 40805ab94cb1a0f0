"""The real Apache Kafka broker of the dev stack: install, start, serve, stop by PID."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.kafka_server import KafkaServer, metadata_brokers
from devstack.process import MissingDependency, free_ports, pid_alive, port_is_open
from fixtures.paths import install_cache


async def produce_and_consume(bootstrap: str, values: list[bytes]) -> list[bytes]:
    """Send ``values`` to a fresh topic, then read them back in a consumer group."""
    topic = f"telewatch-test-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    received: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while len(received) < len(values) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            received += [msg.value for msgs in batches.values() for msg in msgs if msg.value]
    finally:
        await consumer.stop()
    return received


def fake_path(tmp_path: Path, *, java: bool = True) -> tuple[str, Path]:
    """A PATH holding only ``java`` (optional) and a fake ``mvn`` that records each call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "mvn-calls"
    if java:
        real_java = shutil.which("java")
        assert real_java, "these tests need java on PATH"
        (bin_dir / "java").symlink_to(real_java)
    mvn = bin_dir / "mvn"
    mvn.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    mvn.chmod(0o755)
    return str(bin_dir), calls


async def test_broker_serves_produce_and_consume(kafka_server: KafkaServer) -> None:
    values = [b"cell-17 drop", b"cell-18 ok", b"cell-19 congested"]
    assert await produce_and_consume(kafka_server.endpoint, values) == values


def test_pid_recorded_alive_and_status_running(kafka_server: KafkaServer) -> None:
    pid = kafka_server.pid()
    assert pid is not None and pid_alive(pid)
    assert int(kafka_server.pidfile.read_text()) == pid
    status = kafka_server.status()
    assert status.running and status.pid == pid
    assert status.endpoint == f"127.0.0.1:{kafka_server.port}"
    assert metadata_brokers(kafka_server.port) == 1


def test_second_start_is_a_no_op(kafka_server: KafkaServer) -> None:
    pid = kafka_server.pid()
    kafka_server.start()
    assert kafka_server.pid() == pid


def test_stop_kills_it_and_restart_reuses_storage(tmp_path: Path) -> None:
    port, controller_port = free_ports(2)
    server = KafkaServer(tmp_path, port=port, controller_port=controller_port, cache=install_cache())
    server.start()
    try:
        pid = server.pid()
        assert pid is not None
        meta = server.data / "meta.properties"
        cluster = meta.read_text()

        assert server.stop() is True
        assert not pid_alive(pid)
        assert server.pid() is None and not server.pidfile.exists()
        assert not server.status().running
        assert not port_is_open(port) and not port_is_open(controller_port)
        assert server.stop() is False

        server.start()  # from the formatted data/, not a fresh format
        assert meta.read_text() == cluster
        new_pid = server.pid()
        assert new_pid is not None and new_pid != pid
        assert metadata_brokers(port) == 1
    finally:
        server.stop()
    assert not port_is_open(port)


def test_install_with_cached_jars_never_runs_maven(
    kafka_server: KafkaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session fixture filled the shared cache, so install() must not touch mvn."""
    path, calls = fake_path(tmp_path)
    monkeypatch.setenv("PATH", path)
    server = KafkaServer(tmp_path / "home", cache=kafka_server.cache)
    assert server.installed()
    server.install()
    assert not calls.exists()

    # Control: with an empty cache the same install() does call (the fake) mvn.
    empty = KafkaServer(tmp_path / "home", cache=tmp_path / "empty-cache")
    with pytest.raises(MissingDependency, match="mvn could not download"):
        empty.install()
    assert "dependency:copy-dependencies" in calls.read_text()
    assert not empty.libs.exists()


def test_missing_tools_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_java = shutil.which("java")
    assert real_java, "this test needs java on PATH"
    path, _ = fake_path(tmp_path, java=False)
    monkeypatch.setenv("PATH", path)
    with pytest.raises(MissingDependency, match=r"java .*apt-get install"):
        KafkaServer(tmp_path, cache=tmp_path / "cache").install()

    os.remove(Path(path) / "mvn")
    (Path(path) / "java").symlink_to(real_java)
    with pytest.raises(MissingDependency, match=r"mvn .*apt-get install"):
        KafkaServer(tmp_path, cache=tmp_path / "cache").install()

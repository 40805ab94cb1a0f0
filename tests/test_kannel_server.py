"""The Kannel gateway the project installs and runs: SMS in through sendsms, out at fakesmsc."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.kannel_server import KannelServer, ReceivedSms, SendSmsError
from devstack.process import pid_alive, port_is_open
from fixtures.kannel import new_kannel_server


def wait_for_message(server: KannelServer, wanted: Callable[[ReceivedSms], bool], timeout: float = 15.0) -> ReceivedSms:
    """The first received message matching ``wanted``, polling until ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in server.received_messages():
            if wanted(message):
                return message
        time.sleep(0.1)
    raise AssertionError(f"no matching SMS within {timeout} s; got {server.received_messages()}")


def kannel_programs(server: KannelServer) -> list[str]:
    """Names of the processes in the server's group other than its launcher."""
    return sorted(name for pid, name in server.processes().items() if pid != server.pid())


def test_server_runs_with_recorded_pid(kannel_server: KannelServer) -> None:
    status = kannel_server.status()
    assert status.running
    assert status.pid is not None and pid_alive(status.pid)
    assert int(kannel_server.pidfile.read_text()) == status.pid
    assert kannel_programs(kannel_server) == ["bearerbox", "fakesmsc", "smsbox"]
    assert all(port_is_open(port) for port in kannel_server.ports)


def test_sms_arrives_at_fake_smsc(kannel_server: KannelServer) -> None:
    text = f"Cell 4711 down {uuid.uuid4().hex[:8]}"
    kannel_server.send_sms("+4915112345678", text)
    got = wait_for_message(kannel_server, lambda m: m.text == text)
    assert got == ReceivedSms(sender="telewatch", receiver="+4915112345678", text=text)


def test_two_messages_are_distinct(kannel_server: KannelServer) -> None:
    first, second = (f"alert {n} {uuid.uuid4().hex[:8]}" for n in (1, 2))
    kannel_server.send_sms("+4917000000001", first, sender="noc")
    kannel_server.send_sms("+4917000000002", second, sender="noc")
    one = wait_for_message(kannel_server, lambda m: m.text == first)
    two = wait_for_message(kannel_server, lambda m: m.text == second)
    assert (one.receiver, two.receiver) == ("+4917000000001", "+4917000000002")
    assert one.sender == two.sender == "noc"
    assert one != two


@pytest.mark.parametrize(
    "text",
    ["告警 基站离线 ✓", "line one\nline two", "GSM extras: € [x] {y} Δ ü"],
    ids=["ucs2-chinese", "newline", "gsm-extension"],
)
def test_text_survives_exactly(kannel_server: KannelServer, text: str) -> None:
    receiver = f"+49{uuid.uuid4().int % 10**9:09d}"
    kannel_server.send_sms(receiver, text)
    got = wait_for_message(kannel_server, lambda m: m.receiver == receiver)
    assert got.text == text


def test_long_text_arrives_as_plain_parts(kannel_server: KannelServer) -> None:
    receiver = f"+49{uuid.uuid4().int % 10**9:09d}"
    text = "".join(str(n % 10) for n in range(200)) + " 告警"
    kannel_server.send_sms(receiver, text)
    deadline = time.monotonic() + 15
    parts: list[str] = []
    while time.monotonic() < deadline and "".join(parts) != text:
        parts = [m.text for m in kannel_server.received_messages() if m.receiver == receiver]
        time.sleep(0.1)
    assert "".join(parts) == text
    assert [len(p) for p in parts] == [70, 70, 63]  # UCS-2: 70 characters per SMS


def test_wrong_password_is_refused(kannel_server: KannelServer) -> None:
    receiver = "+4915199999999"
    with pytest.raises(SendSmsError) as refused:
        kannel_server.send_sms(receiver, "must not arrive", password="wrong")
    assert refused.value.status == 403
    assert refused.value.answer == "Authorization failed for sendsms"
    kannel_server.send_sms(receiver, "marker after refusal")
    wait_for_message(kannel_server, lambda m: m.text == "marker after refusal")
    assert "must not arrive" not in [m.text for m in kannel_server.received_messages()]


def test_stop_ends_every_process_of_the_group(tmp_path: Path) -> None:
    server = new_kannel_server(tmp_path)
    server.start()
    try:
        processes = server.processes()
        assert kannel_programs(server) == ["bearerbox", "fakesmsc", "smsbox"]
        assert all(port_is_open(port) for port in server.ports)
    finally:
        assert server.stop()
    assert [pid for pid in processes if pid_alive(pid)] == []
    assert [port for port in server.ports if port_is_open(port)] == []
    assert server.pid() is None and not server.pidfile.exists()
    assert not server.status().running

"""Every local server listens on 127.0.0.1 only: read from the kernel's socket tables, not from configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.process import ManagedServer

LISTEN = "0A"


def group_pids(leader: int) -> list[int]:
    """PIDs in the process group led by ``leader`` (the server and its children)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == leader:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                continue
    return pids


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_addresses(inodes: set[str]) -> list[tuple[str, int]]:
    """(address, port) of each listening TCP socket among ``inodes``; addresses as the kernel hex."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN and inode in inodes:
                address, port = local.split(":")
                found.append((address, int(port, 16)))
    return found


LOOPBACK_V4 = "0100007F"  # 127.0.0.1, little-endian hex as in /proc/net/tcp
LOOPBACK_V6 = "00000000000000000000000001000000"  # ::1
LOOPBACK_V4_MAPPED = "0000000000000000FFFF00000100007F"  # ::ffff:127.0.0.1 (how the JVM binds 127.0.0.1)
LOOPBACK = {LOOPBACK_V4, LOOPBACK_V6, LOOPBACK_V4_MAPPED}


@pytest.mark.parametrize("fixture", ["tansu_server", "kafka_server", "influxdb_server", "kannel_server"])
def test_server_listens_on_loopback_only(fixture: str, request: pytest.FixtureRequest) -> None:
    server: ManagedServer = request.getfixturevalue(fixture)
    leader = server.pid()
    assert leader is not None
    inodes = set().union(*(socket_inodes(pid) for pid in group_pids(leader)))
    listening = listening_addresses(inodes)
    assert {port for _, port in listening} >= set(server.ports), listening
    assert all(address in LOOPBACK for address, _ in listening), listening

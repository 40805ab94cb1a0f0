"""Debian's InfluxDB 1.6.7, installed and run by devstack, against its real HTTP API."""

from __future__ import annotations

import urllib.request
import uuid
from pathlib import Path

import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from devstack.influxdb_server import INFLUXD_ENV, InfluxDBError, InfluxDBServer
from devstack.process import MissingDependency, free_ports, pid_alive, port_is_open
from fixtures.paths import install_cache

# 2024-01-02T03:04:05.123456789Z in nanoseconds since the epoch.
STAMP_NS = 1704164645123456789
STAMP_RFC3339 = "2024-01-02T03:04:05.123456789Z"


def fresh_db(server: InfluxDBServer) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    return name


def rows(answer: dict[str, object]) -> list[dict[str, object]]:
    """The first series of the first result, as one dict per row."""
    series = answer["results"][0]["series"][0]  # type: ignore[index]
    return [dict(zip(series["columns"], values, strict=False)) for values in series["values"]]


def test_server_runs_and_answers_ping(influxdb_server: InfluxDBServer) -> None:
    pid = influxdb_server.pid()
    assert pid is not None and pid_alive(pid)
    assert influxdb_server.pidfile.read_text().strip() == str(pid)
    status = influxdb_server.status()
    assert status.running and status.pid == pid
    assert status.endpoint == f"127.0.0.1:{influxdb_server.http_port}"
    assert all(port_is_open(p) for p in influxdb_server.ports)
    with urllib.request.urlopen(f"{influxdb_server.url}/ping", timeout=5) as resp:
        assert resp.status == 204
        assert resp.headers["X-Influxdb-Version"].startswith("1.6.7")


def test_config_binds_loopback_only(influxdb_server: InfluxDBServer) -> None:
    conf = influxdb_server.config_file.read_text()
    assert f'bind-address = "127.0.0.1:{influxdb_server.rpc_port}"' in conf
    assert f'bind-address = "127.0.0.1:{influxdb_server.http_port}"' in conf
    binds = [line for line in conf.splitlines() if "bind-address" in line]
    assert binds and all('"127.0.0.1:' in line for line in binds)


def test_line_protocol_round_trip(influxdb_server: InfluxDBServer) -> None:
    db = fresh_db(influxdb_server)
    influxdb_server.write_lines(
        db,
        f'call_quality,site=paris-01,cell=A\\ 7 mos=4.25,jitter_ms=12i,codec="amr-wb",ok=true {STAMP_NS}\n',
    )
    [row] = rows(influxdb_server.query("SELECT * FROM call_quality", db=db))
    assert row == {
        "time": STAMP_RFC3339,
        "cell": "A 7",
        "site": "paris-01",
        "mos": 4.25,
        "jitter_ms": 12,
        "codec": "amr-wb",
        "ok": True,
    }
    [row] = rows(influxdb_server.query("SELECT mos FROM call_quality", db=db, epoch="ns"))
    assert row == {"time": STAMP_NS, "mos": 4.25}
    tags = influxdb_server.query('SHOW TAG VALUES FROM call_quality WITH KEY = "cell"', db=db)
    assert rows(tags) == [{"key": "cell", "value": "A 7"}]


def test_precision_seconds(influxdb_server: InfluxDBServer) -> None:
    db = fresh_db(influxdb_server)
    influxdb_server.write_lines(db, "kpi,site=a asr=0.5 1704164645", precision="s")
    [row] = rows(influxdb_server.query("SELECT asr FROM kpi", db=db))
    assert row == {"time": "2024-01-02T03:04:05Z", "asr": 0.5}


def test_malformed_line_is_refused(influxdb_server: InfluxDBServer) -> None:
    db = fresh_db(influxdb_server)
    with pytest.raises(InfluxDBError, match=r"400.*unable to parse.*missing field value"):
        influxdb_server.write_lines(db, "call_quality,site=x mos=")
    with pytest.raises(InfluxDBError, match=r"partial write.*invalid boolean"):
        influxdb_server.write_lines(db, "m,site=y v=1 1\nm,site=z v=oops 2\n")
    # The good line of a partial write is kept.
    assert rows(influxdb_server.query("SELECT * FROM m", db=db, epoch="ns")) == [{"time": 1, "site": "y", "v": 1.0}]


def test_query_errors_raise(influxdb_server: InfluxDBServer) -> None:
    with pytest.raises(InfluxDBError, match="error parsing query"):
        influxdb_server.query("SELEC 1")
    with pytest.raises(InfluxDBError, match="database not found"):
        influxdb_server.query("SELECT * FROM m", db="no_such_db")


def test_influxdb_client_library_against_1_6(influxdb_server: InfluxDBServer) -> None:
    """influxdb-client speaks the v2 API, which 1.6.7 lacks (404 on /api/v2/*, /health).

    Only ping(), version() and Point's line protocol are usable against it.
    """
    db = fresh_db(influxdb_server)
    point = Point("call_quality").tag("site", "lyon").field("mos", 3.5).time(STAMP_NS, WritePrecision.NS)  # type: ignore[no-untyped-call]
    with InfluxDBClient(url=influxdb_server.url, token="", org="-") as client:
        assert client.ping() is True
        assert client.version() == "1.6.7~rc0"
        write_api = client.write_api(write_options=SYNCHRONOUS)
        with pytest.raises(ApiException) as v2_write:  # 1.8's /api/v2/write compat path
            write_api.write(bucket=f"{db}/autogen", record=point)
        assert v2_write.value.status == 404
        with pytest.raises(ApiException) as v2_query:  # Flux
            client.query_api().query(f'from(bucket: "{db}") |> range(start: 0)')
        assert v2_query.value.status == 404
    # The library's Point still serialises line protocol for the 1.x /write endpoint.
    influxdb_server.write_lines(db, point.to_line_protocol())
    assert rows(influxdb_server.query("SELECT * FROM call_quality", db=db, epoch="ns")) == [
        {"time": STAMP_NS, "site": "lyon", "mos": 3.5}
    ]


def test_stop_and_restart_keep_data(tmp_path: Path) -> None:
    http_port, rpc_port = free_ports(2)
    server = InfluxDBServer(tmp_path, http_port=http_port, rpc_port=rpc_port, cache=install_cache())
    server.start()
    try:
        first = server.pid()
        assert first is not None
        server.create_database("keep")
        server.write_lines("keep", f"kpi,site=a asr=0.97 {STAMP_NS}")

        assert server.stop() is True
        assert not pid_alive(first)
        assert server.pid() is None and not server.pidfile.exists()
        assert not any(port_is_open(p) for p in server.ports)
        assert not server.status().running
        assert server.stop() is False

        server.start()
        second = server.pid()
        assert second is not None and second != first
        answer = server.query("SELECT * FROM kpi", db="keep", epoch="ns")
        assert rows(answer) == [{"time": STAMP_NS, "site": "a", "asr": 0.97}]
    finally:
        server.stop()


# -- install ----------------------------------------------------------------------------
def fake_apt(bin_dir: Path, script: str) -> Path:
    """A fake ``apt-get`` (plus the real ``dpkg-deb``) in ``bin_dir``; returns its call log."""
    bin_dir.mkdir(exist_ok=True)
    calls = bin_dir / "calls"
    apt = bin_dir / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n{script}\n')
    apt.chmod(0o755)
    (bin_dir / "dpkg-deb").symlink_to("/usr/bin/dpkg-deb")
    return calls


def test_second_install_makes_no_apt_call(
    influxdb_server: InfluxDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(INFLUXD_ENV, raising=False)
    calls = fake_apt(tmp_path / "bin", "exit 1")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    server = InfluxDBServer(tmp_path / "home", cache=install_cache())
    server.install()
    assert server.binary().is_file()
    assert not calls.exists()


def test_missing_apt_lists_say_run_apt_get_update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INFLUXD_ENV, raising=False)
    calls = fake_apt(tmp_path / "bin", 'echo "E: Unable to locate package influxdb" >&2; exit 100')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    server = InfluxDBServer(tmp_path / "home")
    with pytest.raises(MissingDependency, match=r"apt-get update.*as root"):
        server.install()
    assert calls.read_text().split() == ["download", "influxdb"]


def test_missing_apt_get_names_the_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INFLUXD_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependency, match=rf"`influxdb` 1\.6\.x.*{INFLUXD_ENV}"):
        InfluxDBServer(tmp_path / "home").install()


def test_influxd_override(influxdb_server: InfluxDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = InfluxDBServer(tmp_path, cache=install_cache()).binary()
    monkeypatch.setenv(INFLUXD_ENV, str(binary))
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get: the override needs none
    server = InfluxDBServer(tmp_path / "home")
    server.install()
    assert server.command()[0] == str(binary)
    assert not (tmp_path / "home" / "cache").exists()
    monkeypatch.setenv(INFLUXD_ENV, str(tmp_path / "nope"))
    with pytest.raises(MissingDependency, match="not an executable"):
        server.install()

"""InfluxDB 1.6.7 from Debian's ``influxdb`` package, unpacked into the project's cache.

``install()`` runs ``apt-get download influxdb`` and ``dpkg-deb -x`` into
``<cache>/influxdb-root`` (nothing is installed system-wide); ``TELEWATCH_INFLUXD``
may instead name an ``influxd`` binary. Every listener is bound to 127.0.0.1.

InfluxDB 1.6 speaks only the 1.x HTTP API (``/ping``, ``/query``, ``/write``):
it has no ``/api/v2/write``, ``/api/v2/query`` or ``/health``, so the
``influxdb_client`` library's write and query APIs get 404 from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from devstack.process import ManagedServer, MissingDependency

#: Environment variable that may point at an ``influxd`` binary to use instead of apt's.
INFLUXD_ENV = "TELEWATCH_INFLUXD"

# Requests go straight to 127.0.0.1, never through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class InfluxDBError(RuntimeError):
    """InfluxDB refused a request; the message quotes the server's error."""


class InfluxDBServer(ManagedServer):
    """``influxd`` with HTTP on 127.0.0.1:``http_port`` and RPC on 127.0.0.1:``rpc_port``."""

    name = "influxdb"
    start_timeout = 30.0

    def __init__(
        self,
        home: Path,
        http_port: int = 18086,
        rpc_port: int = 18088,
        cache: Path | None = None,
    ) -> None:
        super().__init__(home)
        self.http_port = http_port
        self.rpc_port = rpc_port
        self.cache = (cache if cache is not None else home / "cache").absolute()
        self.root = self.cache / "influxdb-root"
        self.config_file = self.dir.absolute() / "influxdb.conf"

    # -- install ------------------------------------------------------------------
    def binary(self) -> Path:
        """The ``influxd`` to run: ``$TELEWATCH_INFLUXD`` or the one unpacked in the cache."""
        override = os.environ.get(INFLUXD_ENV)
        return Path(override).absolute() if override else self.root / "usr" / "bin" / "influxd"

    def install(self) -> None:
        """Unpack Debian's ``influxdb`` .deb into the cache unless it is already there."""
        binary = self.binary()
        if os.environ.get(INFLUXD_ENV):
            if not (binary.is_file() and os.access(binary, os.X_OK)):
                raise MissingDependency(f"{INFLUXD_ENV}={binary} is not an executable file")
            return
        if binary.is_file():
            return
        apt_get, dpkg_deb = shutil.which("apt-get"), shutil.which("dpkg-deb")
        if apt_get is None or dpkg_deb is None:
            raise MissingDependency(
                "apt-get/dpkg-deb are not available to fetch Debian's package `influxdb` 1.6.x; "
                "provide InfluxDB 1.6.x some other way and set "
                f"{INFLUXD_ENV} to its `influxd` binary"
            )
        self.cache.mkdir(parents=True, exist_ok=True)
        debs = sorted(self.cache.glob("influxdb_*.deb"))
        if not debs:
            done = subprocess.run(
                [apt_get, "download", "influxdb"],
                cwd=self.cache,
                capture_output=True,
                text=True,
                check=False,
            )
            debs = sorted(self.cache.glob("influxdb_*.deb"))
            if done.returncode != 0 or not debs:
                output = (done.stderr + done.stdout).strip()
                hint = (
                    "the apt package lists are missing or stale: run `apt-get update` as root"
                    if "Unable to locate" in output or "no candidate" in output
                    else "see apt's output"
                )
                raise MissingDependency(f"`apt-get download influxdb` failed ({hint}):\n{output}")
        # Unpack next to the final place, then rename, so a half-unpacked tree never counts.
        staging = Path(tempfile.mkdtemp(prefix="influxdb-root.", dir=self.cache))
        try:
            subprocess.run([dpkg_deb, "-x", str(debs[-1]), str(staging)], check=True, capture_output=True)
            shutil.rmtree(self.root, ignore_errors=True)
            staging.rename(self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # -- run ----------------------------------------------------------------------
    def prepare(self) -> None:
        data = self.dir.absolute() / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            f"""\
# Written by telewatch devstack; every listener is on 127.0.0.1.
# Debian's build reads `reporting-enabled` (upstream: reporting-disabled = true).
reporting-enabled = false
bind-address = "127.0.0.1:{self.rpc_port}"

[meta]
  dir = "{data / "meta"}"
  logging-enabled = false

[data]
  dir = "{data / "data"}"
  wal-dir = "{data / "wal"}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{self.http_port}"
  auth-enabled = false
  log-enabled = false
  unix-socket-enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[continuous_queries]
  log-enabled = false

[ifql]
  enabled = false
  bind-address = "127.0.0.1:0"

[[graphite]]
  enabled = false
  bind-address = "127.0.0.1:0"

[[collectd]]
  enabled = false
  bind-address = "127.0.0.1:0"

[[opentsdb]]
  enabled = false
  bind-address = "127.0.0.1:0"

[[udp]]
  enabled = false
  bind-address = "127.0.0.1:0"
"""
        )

    def command(self) -> list[str]:
        return [str(self.binary()), "-config", str(self.config_file)]

    def environment(self) -> dict[str, str]:
        # influxd lets INFLUXDB_* variables override its config file: drop them.
        return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}

    def ready(self) -> bool:
        try:
            with _OPENER.open(f"{self.url}/ping", timeout=1.0) as resp:
                return bool(resp.status == 204)
        except OSError:
            return False

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.http_port, self.rpc_port)

    # -- client helpers ----------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.http_port}"

    def query(self, q: str, db: str | None = None, epoch: str | None = None) -> dict[str, Any]:
        """Run InfluxQL through ``POST /query``; raise InfluxDBError on any error in the answer.

        ``epoch`` (``ns``, ``ms``, ``s`` …) returns times as integers instead of RFC 3339.
        """
        params = {"q": q, **({"db": db} if db else {}), **({"epoch": epoch} if epoch else {})}
        status, body = self._post(
            "/query", {}, urllib.parse.urlencode(params).encode(), "application/x-www-form-urlencoded"
        )
        try:
            answer: dict[str, Any] = json.loads(body)
        except ValueError:
            raise InfluxDBError(f"query {q!r}: HTTP {status}: {body!r}") from None
        errors = [answer["error"]] if "error" in answer else []
        errors += [r["error"] for r in answer.get("results", []) if "error" in r]
        if errors or status != 200:
            raise InfluxDBError(f"query {q!r}: HTTP {status}: {'; '.join(errors) or body}")
        return answer

    def create_database(self, name: str) -> None:
        """``CREATE DATABASE`` (a no-op when it exists)."""
        self.query(f'CREATE DATABASE "{name}"')

    def write_lines(self, db: str, lines: str, precision: str = "ns") -> None:
        """Write line protocol through ``POST /write``; raise InfluxDBError unless 204."""
        status, body = self._post("/write", {"db": db, "precision": precision}, lines.encode(), "text/plain")
        if status != 204:
            try:
                message = str(json.loads(body)["error"])
            except (ValueError, KeyError, TypeError):
                message = body
            raise InfluxDBError(f"write to {db!r}: HTTP {status}: {message}")

    def _post(self, path: str, params: dict[str, str], data: bytes, ctype: str) -> tuple[int, str]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(
            f"{self.url}{path}{query}",
            data=data,
            method="POST",
            headers={"Content-Type": ctype},
        )
        try:
            with _OPENER.open(request, timeout=30.0) as resp:
                return int(resp.status), resp.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

"""Writers that send line-protocol batches to InfluxDB: 1.x ``/write`` (aiohttp) and 2.x/3.x (influxdb-client).

A writer raises :class:`InfluxWriteError` saying whether the failure is worth a
retry (5xx, 429, 408, connection errors, timeouts) or permanent (other 4xx),
and, for an InfluxDB 1.x partial write, how many lines were rejected while the
others were written. Passwords and tokens never appear in reprs or errors.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp
from pydantic import SecretStr

from core.settings import InfluxDBSettings

_MAX_MESSAGE = 600


class InfluxWriteError(RuntimeError):
    """InfluxDB refused a write or could not be reached; the message carries its answer."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        rejected: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        #: HTTP status, None when no answer came (connection error, timeout).
        self.status = status
        #: True when sending the same batch later may succeed.
        self.retryable = retryable
        #: Partial write: how many lines InfluxDB rejected while writing the others; None: the whole batch.
        self.rejected = rejected
        #: Seconds the server asked us to wait (``Retry-After``), if it did.
        self.retry_after = retry_after


class Writer(Protocol):
    """Sends batches of line-protocol lines to one InfluxDB database or bucket."""

    async def start(self) -> None:
        """Open connections (and create the database where the API allows it)."""

    async def write(self, lines: Sequence[str]) -> None:
        """Write the lines (nanosecond timestamps); raise :class:`InfluxWriteError` when not all were written."""

    async def close(self) -> None:
        """Release connections."""


def is_retryable_status(status: int) -> bool:
    """5xx, 429 (too many requests) and 408 (request timeout) are worth a retry; other codes are not."""
    return status >= 500 or status in (408, 429)


def _secret(value: SecretStr | str | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _redact(text: str, secrets: Sequence[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: use our own backoff
        return None


def partial_write_rejections(message: str) -> int | None:
    """Lines rejected by an InfluxDB 1.x ``partial write`` (parse errors plus ``dropped=N``), else None.

    >>> partial_write_rejections("partial write: unable to parse 'a': x\\nunable to parse 'b': y dropped=0")
    2
    >>> partial_write_rejections("partial write: field type conflict: ... dropped=3")
    3
    >>> partial_write_rejections("unable to parse 'm v=': missing field value") is None
    True
    """
    if not message.startswith("partial write"):
        return None
    return message.count("unable to parse '") + sum(int(n) for n in re.findall(r"dropped=(\d+)", message))


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE] + f"… ({len(message)} chars)"


class V1Writer:
    """InfluxDB 1.x: ``POST /write?db=…&precision=ns`` (basic auth when a username is given)."""

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: SecretStr | str | None = None,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.username = username
        self._password = _secret(password)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._database_ready = False

    def __repr__(self) -> str:
        return f"V1Writer(url={self.url!r}, database={self.database!r}, username={self.username!r})"

    async def start(self) -> None:
        """Open the HTTP session and ``CREATE DATABASE`` (a no-op when it exists)."""
        if self._session is None:
            headers = {}
            if self.username:
                credentials = base64.b64encode(f"{self.username}:{self._password or ''}".encode()).decode()
                headers["Authorization"] = f"Basic {credentials}"
            self._session = aiohttp.ClientSession(headers=headers, timeout=self._timeout, trust_env=False)
        await self._create_database()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def write(self, lines: Sequence[str], precision: str = "ns") -> None:
        """Write the lines; raise InfluxWriteError unless InfluxDB wrote them all."""
        if not lines:
            return
        if not self._database_ready:
            await self._create_database()
        body = "\n".join(lines).encode()
        status, message, retry_after = await self._post("/write", {"db": self.database, "precision": precision}, body)
        if status == 404 and "database not found" in message:  # dropped, or a fresh server: create it again
            self._database_ready = False
            await self._create_database()
            status, message, retry_after = await self._post(
                "/write", {"db": self.database, "precision": precision}, body
            )
        if status < 300:
            return
        raise InfluxWriteError(
            f"InfluxDB /write answered HTTP {status}: {_short(message)}",
            status=status,
            retryable=is_retryable_status(status),
            rejected=partial_write_rejections(message) if status == 400 else None,
            retry_after=retry_after,
        )

    async def _create_database(self) -> None:
        status, message, retry_after = await self._post(
            "/query", {"q": f"CREATE DATABASE {_identifier(self.database)}"}, b""
        )
        if status == 403:  # not an admin: the database has to exist already
            self._database_ready = True
            return
        if status >= 300 or message:
            raise InfluxWriteError(
                f"InfluxDB CREATE DATABASE {self.database!r} answered HTTP {status}: {_short(message)}",
                status=status,
                retryable=is_retryable_status(status),
                retry_after=retry_after,
            )
        self._database_ready = True

    async def _post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, float | None]:
        """POST; return the status, InfluxDB's error message ('' when none) and Retry-After."""
        if self._session is None:
            raise RuntimeError("V1Writer.start() must be awaited before writing")
        try:
            async with self._session.post(self.url + path, params=params, data=body) as response:
                text = await response.text()
                return response.status, _error_message(text), _retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            detail = _redact(f"{type(exc).__name__}: {exc}", [self._password])
            raise InfluxWriteError(f"InfluxDB at {self.url} unreachable: {detail}", retryable=True) from None


def _identifier(name: str) -> str:
    """An InfluxQL double-quoted identifier.

    >>> print(_identifier('tele"watch'))
    "tele\\"watch"
    """
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _error_message(text: str) -> str:
    """The ``error`` of a 1.x answer (top level or per statement), '' when there is none."""
    text = text.strip()
    if not text:
        return ""
    try:
        answer: Any = json.loads(text)
    except ValueError:
        return text
    if not isinstance(answer, dict):
        return text
    errors = [str(answer["error"])] if "error" in answer else []
    errors += [str(r["error"]) for r in answer.get("results", []) if isinstance(r, dict) and "error" in r]
    return "; ".join(errors)


class V2Writer:
    """InfluxDB 2.x/3.x: ``POST /api/v2/write`` through influxdb-client's async API (gzip, token auth)."""

    def __init__(
        self,
        url: str,
        org: str,
        bucket: str,
        token: SecretStr | str,
        *,
        timeout_s: float = 10.0,
        gzip: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.org = org
        self.bucket = bucket
        self._token = _secret(token) or ""
        self._timeout_ms = int(timeout_s * 1000)
        self._gzip = gzip
        self._client: Any = None
        self._write_api: Any = None

    def __repr__(self) -> str:
        return f"V2Writer(url={self.url!r}, org={self.org!r}, bucket={self.bucket!r})"

    async def start(self) -> None:
        """Create the client (it must be created inside the running event loop)."""
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        if self._client is None:
            self._client = InfluxDBClientAsync(
                url=self.url, token=self._token, org=self.org, timeout=self._timeout_ms, enable_gzip=self._gzip
            )
            self._write_api = self._client.write_api()

    async def close(self) -> None:
        """Close the client's HTTP session."""
        if self._client is not None:
            await self._client.close()
            self._client = self._write_api = None

    async def write(self, lines: Sequence[str]) -> None:
        """Write the lines; raise InfluxWriteError unless InfluxDB accepted them."""
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        if not lines:
            return
        if self._write_api is None:
            raise RuntimeError("V2Writer.start() must be awaited before writing")
        try:
            await self._write_api.write(
                bucket=self.bucket, org=self.org, record=list(lines), write_precision=WritePrecision.NS
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            message = _redact(str(getattr(exc, "message", "") or exc.reason), [self._token])
            raise InfluxWriteError(
                f"InfluxDB /api/v2/write answered HTTP {status}: {_short(message)}",
                status=status,
                retryable=is_retryable_status(status),
                retry_after=_retry_after(exc.retry_after),
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            detail = _redact(f"{type(exc).__name__}: {exc}", [self._token])
            raise InfluxWriteError(f"InfluxDB at {self.url} unreachable: {detail}", retryable=True) from None


def build_writer(settings: InfluxDBSettings, url: str) -> V1Writer | V2Writer:
    """The writer ``settings.api`` asks for, pointed at ``url`` (see ``Config.influxdb_url()``)."""
    if settings.api == "v1":
        return V1Writer(url, settings.database, settings.username, settings.password)
    if settings.org is None or settings.bucket is None or settings.token is None:
        raise ValueError("api v2 needs org, bucket and token")
    return V2Writer(url, settings.org, settings.bucket, settings.token)

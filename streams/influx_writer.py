"""Write line-protocol points to InfluxDB 1.x over ``/write`` (aiohttp)."""

from __future__ import annotations

import aiohttp


class InfluxWriteError(RuntimeError):
    """InfluxDB refused a write; the message carries its answer."""


class InfluxV1Writer:
    """Writes points to one InfluxDB 1.x database through the HTTP ``/write`` API."""

    def __init__(self, url: str, database: str, username: str | None = None, password: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self._auth = aiohttp.BasicAuth(username, password or "") if username else None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session and create the database if it does not exist."""
        self._session = aiohttp.ClientSession(auth=self._auth, timeout=aiohttp.ClientTimeout(total=10), trust_env=False)
        await self._post("/query", {"q": f'CREATE DATABASE "{self.database}"'}, b"")

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def write(self, lines: list[str], precision: str = "ns") -> None:
        """Write points given as line-protocol lines; raise InfluxWriteError if refused."""
        if lines:
            await self._post("/write", {"db": self.database, "precision": precision}, "\n".join(lines).encode())

    async def _post(self, path: str, params: dict[str, str], body: bytes) -> None:
        if self._session is None:
            raise RuntimeError("InfluxV1Writer.start() must be awaited before writing")
        async with self._session.post(self.url + path, params=params, data=body) as response:
            if response.status >= 300:
                text = (await response.text()).strip()
                raise InfluxWriteError(f"InfluxDB {path} answered HTTP {response.status}: {text}")

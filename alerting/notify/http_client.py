"""The aiohttp session a notifier opens on first use and closes with :meth:`close` (one per notifier)."""

from __future__ import annotations

import aiohttp


class HttpClient:
    """Holds a notifier's own session (made lazily with its timeout; made again if it was closed)."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Close the session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None

"""The InfluxDB sink of the streams stage: a bounded buffer, batched writes, retries with backoff.

``add()`` never blocks the stream: it appends to a buffer that a background task
drains in batches of ``batch_size`` (or every ``flush_interval_s``). A batch that
fails for a retryable reason (5xx, 429, 408, connection error, timeout) is retried
with exponential backoff and jitter (tenacity) for as long as it takes, while new
points keep buffering; a permanent refusal (any other 4xx) drops the batch, or only
the rejected lines of an InfluxDB 1.x partial write. Past ``max_buffer_points`` the
OLDEST points are dropped: a NOC dashboard needs the freshest data first. Every
drop is counted in :attr:`InfluxSink.stats` and logged once per episode.

``add()`` returns a ticket; ``await written(ticket)`` waits until those lines are
written (or dropped as above), so a worker knows when a state change's points
are safe before it forgets them. During an outage it returns at once: the
stream never waits for InfluxDB, and what is buffered then is lost if the worker
is killed (``docs/INFLUXDB.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_never,
    wait_exponential,
    wait_random_exponential,
)

from runtime.influx_writer import InfluxWriteError, V1Writer, V2Writer, Writer, build_writer

__all__ = ["InfluxSink", "InfluxWriteError", "SinkStats", "V1Writer", "V2Writer", "Writer", "build_writer"]

log = logging.getLogger(__name__)

#: Longest ``Retry-After`` honoured, in seconds.
MAX_RETRY_AFTER_S = 300.0


@dataclass(frozen=True)
class SinkStats:
    """Counters of one sink (points are line-protocol lines)."""

    #: Points InfluxDB accepted.
    written: int = 0
    #: Successful write requests.
    batches: int = 0
    #: Failed attempts that were retried (one per backoff sleep).
    retried: int = 0
    #: Oldest points dropped because the buffer was full.
    dropped_overflow: int = 0
    #: Points InfluxDB refused for good (4xx other than 408/429).
    dropped_rejected: int = 0
    #: Points waiting to be written (including a batch in flight).
    buffered: int = 0
    #: The last error, secrets removed; None until one happens.
    last_error: str | None = None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, InfluxWriteError) and exc.retryable


class InfluxSink:
    """Buffers line-protocol lines and writes them through a :class:`Writer` in the background.

    Use from one event loop: ``await start()``, ``add()`` from the stream, ``await close()``.
    """

    def __init__(
        self,
        writer: Writer,
        *,
        batch_size: int = 5000,
        flush_interval_s: float = 1.0,
        max_buffer_points: int = 200_000,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 10.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        if batch_size < 1 or max_buffer_points < batch_size:
            raise ValueError("need 1 <= batch_size <= max_buffer_points")
        self.writer = writer
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffer_points = max_buffer_points
        self.close_timeout_s = close_timeout_s
        # Equal jitter: half the exponential step, plus a random share of the other half.
        self._backoff = wait_exponential(multiplier=retry_initial_s / 2, max=retry_max_s / 2) + wait_random_exponential(
            multiplier=retry_initial_s / 2, max=retry_max_s / 2
        )
        self._buffer: deque[str] = deque()
        self._inflight = 0
        #: Lines ever added, and the waiters of :meth:`written` (ticket, future), oldest first.
        self._added = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._force = False
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._written = self._batches = self._retried = self._dropped_overflow = self._dropped_rejected = 0
        self._last_error: str | None = None
        self._outage_retries = 0
        self._outage_overflow_start: int | None = None
        self._overflow_logged = False

    def __repr__(self) -> str:
        return (
            f"InfluxSink({self.writer!r}, batch_size={self.batch_size}, buffered={len(self._buffer) + self._inflight})"
        )

    @property
    def stats(self) -> SinkStats:
        """A snapshot of the counters."""
        return SinkStats(
            written=self._written,
            batches=self._batches,
            retried=self._retried,
            dropped_overflow=self._dropped_overflow,
            dropped_rejected=self._dropped_rejected,
            buffered=len(self._buffer) + self._inflight,
            last_error=self._last_error,
        )

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Start the writer and the background flusher.

        InfluxDB being unreachable is not an error here (points buffer until it is back);
        a permanent refusal (e.g. HTTP 401) is raised.
        """
        try:
            await self.writer.start()
        except InfluxWriteError as err:
            if not err.retryable:
                await self.writer.close()
                raise
            self._last_error = str(err)
            log.warning("InfluxDB not reachable at start (%s); buffering until it is", err)
        self._task = asyncio.create_task(self._run(), name="influx-sink")

    async def flush(self) -> None:
        """Write everything buffered now; returns when the buffer is empty (wrap in a timeout if InfluxDB may be down)."""
        self._force = True
        self._wake.set()
        await self._idle.wait()

    async def close(self, timeout_s: float | None = None) -> None:
        """Flush what is buffered (for at most ``timeout_s``, default ``close_timeout_s``), then close the writer."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(self._task), self.close_timeout_s if timeout_s is None else timeout_s
                )
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        self._release()
        left = len(self._buffer) + self._inflight
        if left:
            log.error("InfluxDB sink closed with %d points not written (last error: %s)", left, self._last_error)
        await self.writer.close()

    async def __aenter__(self) -> InfluxSink:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- the stream side ---------------------------------------------------------------
    def add(self, lines: Iterable[str]) -> int:
        """Queue lines for writing; never blocks. Past ``max_buffer_points`` the oldest are dropped.

        Returns a ticket for :meth:`written`.
        """
        before = len(self._buffer)
        self._buffer.extend(lines)
        self._added += len(self._buffer) - before
        if len(self._buffer) == before:
            return self._added
        self._idle.clear()
        self._trim()
        if len(self._buffer) >= self.batch_size:
            self._wake.set()
        return self._added

    async def written(self, ticket: int) -> None:
        """Wait until the lines added up to ``ticket`` are written or dropped; at once during an outage."""
        if self._settled() >= ticket or self._outage_retries or self._task is None:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((ticket, future))
        self._force = True  # write what is buffered now rather than at the next interval
        self._wake.set()
        await future

    def _settled(self) -> int:
        """Lines added so far that are written or dropped (the buffer is first in, first out)."""
        return self._added - len(self._buffer) - self._inflight

    def _release(self) -> None:
        settled = self._settled()
        everyone = bool(self._outage_retries) or self._task is None
        while self._waiters and (everyone or self._waiters[0][0] <= settled):
            _, future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)

    def _trim(self) -> None:
        over = len(self._buffer) - self.max_buffer_points
        if over <= 0:
            return
        for _ in range(over):
            self._buffer.popleft()
        self._dropped_overflow += over
        self._release()
        if not self._overflow_logged:
            self._overflow_logged = True
            log.warning(
                "InfluxDB sink buffer full (%d points): dropping the oldest points until InfluxDB catches up "
                "(counted in stats.dropped_overflow; logged once)",
                self.max_buffer_points,
            )

    # -- the background side -----------------------------------------------------------
    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
            timed_out = not self._wake.is_set()
            self._wake.clear()
            force, self._force = self._force, False
            while self._buffer and (len(self._buffer) >= self.batch_size or timed_out or force or self._closing):
                await self._write_with_retries()
            if not self._buffer:
                self._overflow_logged = False
                self._idle.set()
                if self._closing:
                    return

    async def _write_with_retries(self) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=self._wait,
            stop=stop_never,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._write_one_batch()

    async def _write_one_batch(self) -> None:
        count = min(self.batch_size, len(self._buffer))
        batch = [self._buffer.popleft() for _ in range(count)]
        self._inflight = count
        try:
            await self.writer.write(batch)
        except InfluxWriteError as err:
            self._last_error = str(err)
            if err.retryable:
                self._put_back(batch)
                raise
            self._rejected(batch, err)
        except asyncio.CancelledError:
            self._put_back(batch)
            raise
        except Exception as err:  # a bug in a writer: do not wedge the sink on it
            self._last_error = f"{type(err).__name__}: {err}"
            log.error("InfluxDB writer failed unexpectedly; %d points dropped: %s", count, self._last_error)
            self._dropped_rejected += count
        else:
            self._written += count
            self._batches += 1
            self._recovered()
        finally:
            self._inflight = 0
            self._release()

    def _put_back(self, batch: list[str]) -> None:
        self._buffer.extendleft(reversed(batch))
        self._trim()

    def _rejected(self, batch: list[str], err: InfluxWriteError) -> None:
        rejected = len(batch) if err.rejected is None else min(err.rejected, len(batch))
        self._dropped_rejected += rejected
        if rejected < len(batch):  # partial write: InfluxDB kept the others
            self._written += len(batch) - rejected
            self._batches += 1
            self._recovered()
        log.warning("InfluxDB refused %d of %d points (dropped, not retried): %s", rejected, len(batch), err)

    def _recovered(self) -> None:
        if self._outage_retries:
            dropped = self._dropped_overflow - (self._outage_overflow_start or 0)
            log.warning(
                "InfluxDB writes resumed after %d retries; %d points were dropped for a full buffer meanwhile",
                self._outage_retries,
                dropped,
            )
        self._outage_retries = 0
        self._outage_overflow_start = None

    def _wait(self, state: RetryCallState) -> float:
        wait = self._backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, InfluxWriteError) and exc.retry_after is not None:
            wait = max(wait, min(exc.retry_after, MAX_RETRY_AFTER_S))
        return wait

    def _before_sleep(self, state: RetryCallState) -> None:
        self._retried += 1
        if not self._outage_retries:
            self._outage_overflow_start = self._dropped_overflow
            log.warning(
                "InfluxDB write failed (%s); buffering up to %d points and retrying with backoff",
                self._last_error,
                self.max_buffer_points,
            )
        self._outage_retries += 1
        self._release()  # nobody waits for InfluxDB during an outage

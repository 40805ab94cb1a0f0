"""Where ticks go: files (one JSONL per role), nowhere (benchmarks), plus the ground-truth files.

Every sink writes the ground truth to a directory: ``incidents.jsonl``,
``faults.jsonl`` and, when the run ends, ``summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec

from simulator.catalog import ROLES
from simulator.tick import Tick

INCIDENTS_FILE = "incidents.jsonl"
FAULTS_FILE = "faults.jsonl"
SUMMARY_FILE = "summary.json"


def role_file(role: str) -> str:
    """The payload file of a role in a file sink's directory (``calls.jsonl``, ...)."""
    return f"{role}.jsonl"


class Sink(Protocol):
    """Receives every tick of a run, in order."""

    #: Whether the run paces simulated time to wall time (``speed``).
    paced: bool

    async def open(self) -> None:
        """Prepare (connect, create files)."""
        ...

    async def write(self, tick: Tick) -> None:
        """Take one tick's messages and ground truth."""
        ...

    async def flush(self) -> None:
        """Push out what is buffered (called before the run waits for wall time)."""
        ...

    async def close(self, summary: dict[str, Any]) -> None:
        """Finish: send or write what is left, then write ``summary``."""
        ...


class TruthLog:
    """The ground-truth files of a run, in one directory."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._encode = msgspec.json.Encoder().encode
        self._incidents: IO[bytes] | None = None
        self._faults: IO[bytes] | None = None

    def open(self) -> None:
        """Create the directory and start both JSONL files afresh."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._incidents = (self.directory / INCIDENTS_FILE).open("wb")
        self._faults = (self.directory / FAULTS_FILE).open("wb")

    def write(self, tick: Tick) -> None:
        """Append the tick's incidents and fault labels."""
        assert self._incidents is not None and self._faults is not None, "TruthLog.open() first"
        for incident in tick.incidents:
            self._incidents.write(self._encode(incident) + b"\n")
        for batch in tick.batches:
            for fault in batch.faults.values():
                self._faults.write(self._encode(fault) + b"\n")

    def flush(self) -> None:
        """Flush both files."""
        for stream in (self._incidents, self._faults):
            if stream is not None:
                stream.flush()

    def close(self, summary: dict[str, Any]) -> None:
        """Close the files and write ``summary.json``."""
        for stream in (self._incidents, self._faults):
            if stream is not None:
                stream.close()
        self._incidents = self._faults = None
        (self.directory / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


class FileSink:
    """One file per role (``calls.jsonl``, ...: one raw payload per line, in send order) plus the truth."""

    def __init__(self, directory: Path | str, *, paced: bool = False) -> None:
        self.directory = Path(directory)
        self.paced = paced
        self.truth = TruthLog(self.directory)
        self._files: dict[str, IO[bytes]] = {}

    async def open(self) -> None:
        self.truth.open()
        self._files = {role: (self.directory / role_file(role)).open("wb") for role in ROLES}

    async def write(self, tick: Tick) -> None:
        self.truth.write(tick)
        for batch in tick.batches:
            if batch.payloads:
                stream = self._files[batch.role]
                stream.write(b"\n".join(batch.payloads))
                stream.write(b"\n")

    async def flush(self) -> None:
        self.truth.flush()
        for stream in self._files.values():
            stream.flush()

    async def close(self, summary: dict[str, Any]) -> None:
        for stream in self._files.values():
            stream.close()
        self._files = {}
        self.truth.close(summary)


class NullSink:
    """Discards everything (to measure generation alone)."""

    paced = False

    async def open(self) -> None:
        pass

    async def write(self, tick: Tick) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def close(self, summary: dict[str, Any]) -> None:
        pass

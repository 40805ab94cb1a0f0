"""The telewatch configuration schema: one YAML file, parsed once into frozen, typed models.

Every option is documented in ``docs/CONFIG.md``; a test checks that each
field below appears there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from simulator.settings import SimulatorSettings
from telewatch.config_loader import load_model_file

#: Topic roles: the four inputs and the internal topics.
TopicRole = Literal["calls", "sms", "kpi", "complaints", "metrics", "anomalies", "alerts", "deadletter"]
INPUT_ROLES: tuple[TopicRole, ...] = ("calls", "sms", "kpi", "complaints")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "config" / "telewatch.yaml"


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(Section):
    name: str = Field(min_length=1, description="Kafka topic name")
    partitions: int = Field(default=4, ge=1, le=1024, description="Partitions when telewatch creates the topic")


def _topic(name: str, partitions: int = 4) -> TopicSettings:
    return TopicSettings(name=name, partitions=partitions)


class TopicsSettings(Section):
    calls: TopicSettings = _topic("telewatch.calls")
    sms: TopicSettings = _topic("telewatch.sms")
    kpi: TopicSettings = _topic("telewatch.kpi")
    complaints: TopicSettings = _topic("telewatch.complaints")
    metrics: TopicSettings = _topic("telewatch.metrics")
    anomalies: TopicSettings = _topic("telewatch.anomalies")
    alerts: TopicSettings = _topic("telewatch.alerts")
    deadletter: TopicSettings = _topic("telewatch.deadletter", 1)

    def by_role(self) -> dict[TopicRole, TopicSettings]:
        """Topic settings keyed by role."""
        return {role: getattr(self, role) for role in TopicsSettings.model_fields}  # type: ignore[misc]

    @model_validator(mode="after")
    def _names_unique(self) -> TopicsSettings:
        names = [t.name for t in self.by_role().values()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"topic names must be unique; used more than once: {', '.join(dupes)}")
        return self


class KafkaSettings(Section):
    mode: Literal["embedded", "external"] = Field(
        default="embedded",
        description="embedded: telewatch runs the Tansu broker from the local stack; external: use bootstrap_servers",
    )
    bootstrap_servers: list[str] = Field(
        default_factory=lambda: ["127.0.0.1:9092"], min_length=1, description="host:port of the brokers (external mode)"
    )
    replication_factor: int = Field(default=1, ge=1, le=16, description="Replicas per topic telewatch creates")
    topics: TopicsSettings = TopicsSettings()

    @model_validator(mode="after")
    def _servers_have_ports(self) -> KafkaSettings:
        for server in self.bootstrap_servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"bootstrap server {server!r} must be host:port, e.g. kafka-1.example.net:9092")
        return self


class InfluxDBSettings(Section):
    mode: Literal["embedded", "external"] = Field(
        default="embedded", description="embedded: the local stack's InfluxDB 1.6.7; external: use url"
    )
    api: Literal["v1", "v2"] = Field(default="v1", description="v1: /write + InfluxQL (InfluxDB 1.x); v2: influxdb-client")
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
    home: Path = Field(default=Path(".telewatch"), description="Data, logs and PID files (relative to the repo)")
    tansu_port: int = Field(default=19092, ge=1, le=65535)
    kafka_port: int = Field(default=29092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=29093, ge=1, le=65535)
    influxdb_http_port: int = Field(default=18086, ge=1, le=65535)
    influxdb_rpc_port: int = Field(default=18088, ge=1, le=65535)
    kannel_admin_port: int = Field(default=13000, ge=1, le=65535)
    kannel_smsbox_port: int = Field(default=13001, ge=1, le=65535)
    kannel_sendsms_port: int = Field(default=13013, ge=1, le=65535)
    kannel_smsc_port: int = Field(default=13015, ge=1, le=65535)

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
    max_future_skew_s: float = Field(
        default=300.0, ge=0, description="Events stamped further ahead of the receiver's clock are dead-lettered"
    )


class Config(Section):
    """The whole telewatch configuration file."""

    kafka: KafkaSettings = KafkaSettings()
    influxdb: InfluxDBSettings = InfluxDBSettings()
    stack: StackSettings = StackSettings()
    validation: ValidationSettings = ValidationSettings()
    simulator: SimulatorSettings = SimulatorSettings()

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


def load_config(path: Path | None = None) -> Config:
    """Load and validate a config file (default: ``config/telewatch.yaml``)."""
    return load_model_file(Config, path or DEFAULT_CONFIG)

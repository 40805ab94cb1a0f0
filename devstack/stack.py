"""The local stack as a whole: which servers exist, built from the config's ``stack`` section."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core.settings import StackSettings
from devstack.influxdb_server import InfluxDBServer
from devstack.kafka_server import KafkaServer
from devstack.kannel_server import KannelServer
from devstack.postgres_server import PostgresServer
from devstack.process import ManagedServer, ServerStatus
from devstack.tansu import TansuServer

#: Server names in start order.
SERVER_NAMES = ("tansu", "kafka", "influxdb", "kannel", "postgres")


def build_servers(stack: StackSettings, cache: Path | None = None) -> dict[str, ManagedServer]:
    """Every local server, configured from ``stack`` (ports, home)."""
    home = stack.home_path()
    cache = cache or home / "cache"
    return {
        "tansu": TansuServer(home, port=stack.tansu_port),
        "kafka": KafkaServer(home, port=stack.kafka_port, controller_port=stack.kafka_controller_port, cache=cache),
        "influxdb": InfluxDBServer(
            home, http_port=stack.influxdb_http_port, rpc_port=stack.influxdb_rpc_port, cache=cache
        ),
        "kannel": KannelServer(
            home,
            admin_port=stack.kannel_admin_port,
            smsbox_port=stack.kannel_smsbox_port,
            sendsms_port=stack.kannel_sendsms_port,
            smsc_port=stack.kannel_smsc_port,
            cache=cache,
        ),
        "postgres": PostgresServer(home, port=stack.postgres_port),
    }


def select(servers: dict[str, ManagedServer], names: Iterable[str]) -> list[ManagedServer]:
    """The named servers in start order; an unknown name is refused with the valid ones."""
    wanted = list(names)
    unknown = [n for n in wanted if n not in servers]
    if unknown:
        raise ValueError(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(SERVER_NAMES)}")
    return [servers[n] for n in SERVER_NAMES if n in wanted]


def statuses(servers: Iterable[ManagedServer]) -> list[ServerStatus]:
    """The status of each server."""
    return [server.status() for server in servers]

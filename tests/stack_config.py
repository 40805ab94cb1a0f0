"""A config file for tests: its own stack home and free ports, so it never clashes with `dev up`."""

from __future__ import annotations

from pathlib import Path

import yaml

from devstack.process import free_ports
from fixtures.paths import install_cache


def write_test_config(directory: Path, **sections: dict[str, object]) -> Path:
    """Write a telewatch config with a private stack home and free ports; return its path."""
    ports = free_ports(10)
    names = [
        "tansu_port", "kafka_port", "kafka_controller_port", "influxdb_http_port", "influxdb_rpc_port",
        "kannel_admin_port", "kannel_smsbox_port", "kannel_sendsms_port", "kannel_smsc_port", "postgres_port",
    ]  # fmt: skip
    stack: dict[str, object] = {"home": str(directory / "home"), **dict(zip(names, ports, strict=True))}
    data: dict[str, object] = {"stack": stack, **sections}
    path = directory / "telewatch.yaml"
    path.write_text(yaml.safe_dump(data))
    (directory / "home").mkdir(exist_ok=True)
    cache = directory / "home" / "cache"
    if not cache.exists():
        cache.symlink_to(install_cache())
    return path

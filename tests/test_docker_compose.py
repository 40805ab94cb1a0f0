"""docker-compose.yml runs the whole service: checked by docker-compose and by reading the files (no engine here).

No image is pulled or built and no container runs on the development machine; these tests check what can be
checked without them: Compose accepts the file with the example environment (and refuses it without the
secrets), every secret comes from .env, ports stay on 127.0.0.1, the workers can be scaled, every long-running
service has a health check and a restart policy, and config/docker.yaml, the Kannel image and the Grafana
provisioning agree with the compose file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import typer
import yaml

from telewatch.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKER_CONFIG = ROOT / "config" / "docker.yaml"
KANNEL_DIR = ROOT / "deploy" / "kannel"
IN_CONTAINER_CONFIG = "/app/config/docker.yaml"

WORKERS = {"streams", "detectors", "alerting"}
SERVICES = {"kafka", "influxdb", "grafana", "postgres", *WORKERS, "api"}
DEMO = {"kannel", "simulator"}
#: Demo traffic: runs until stopped, but is not part of the service (no health check, never restarted).
JOBS = {"simulator"}

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?])[^}]*)?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|WEBHOOK", re.IGNORECASE)

needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed (.ci/run installs it)"
)


def _raw() -> dict[str, Any]:
    """docker-compose.yml as written (anchors merged by the YAML loader, variables not interpolated)."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _raw()["services"]
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _example_env(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """docker-compose with only ``env_file`` as the source of variables (none from the caller's environment)."""
    return subprocess.run(
        ["docker-compose", "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")},
    )  # fmt: skip


def _docker_config() -> Config:
    return load_config(DOCKER_CONFIG)


def _host_port(url: str) -> tuple[str | None, int | None]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def _published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each published port."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((str(port.get("host_ip", "")), int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        ip = parts[0] if len(parts) == 3 else ""
        found.append((ip, int(parts[-2]) if len(parts) > 1 else 0, int(parts[-1])))
    return found


def _kannel_conf() -> list[dict[str, str]]:
    """deploy/kannel/kannel.conf as a list of groups (key → value without quotes)."""
    groups: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in [*(KANNEL_DIR / "kannel.conf").read_text().splitlines(), ""]:
        if not line.strip():
            if current:
                groups.append(current)
            current = {}
        elif not line.startswith("#"):
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip().strip('"')
    return groups


# -- Compose accepts the file ------------------------------------------------------------------------------


@needs_compose
def test_compose_accepts_the_file_with_the_example_environment() -> None:
    result = _compose(ENV_EXAMPLE, "config")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    assert set(resolved) == SERVICES | DEMO
    assert {name for name, s in resolved.items() if s.get("profiles")} == DEMO
    assert all(s["profiles"] == ["demo"] for name, s in resolved.items() if name in DEMO)
    demo = _compose(ENV_EXAMPLE, "--profile", "demo", "config", "--services")
    assert demo.returncode == 0, demo.stderr
    assert set(demo.stdout.split()) == SERVICES | DEMO


@needs_compose
def test_compose_refuses_to_start_without_each_required_secret(tmp_path: Path) -> None:
    required = {m.group(1) for m in VARIABLE.finditer(COMPOSE.read_text()) if (m.group(2) or "").startswith(":?")}
    assert {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "TW_ACK_LINK_SECRET", "TW_KANNEL_PASSWORD"} <= required
    example = ENV_EXAMPLE.read_text().splitlines()
    for name in sorted(required):
        env_file = tmp_path / f"without-{name}.env"
        env_file.write_text("\n".join(line for line in example if not line.startswith(f"{name}=")) + "\n")
        result = _compose(env_file, "config")
        assert result.returncode != 0, f"docker-compose accepted the file without {name}"
        assert name in result.stderr


# -- secrets ---------------------------------------------------------------------------------------------------


def test_every_variable_of_the_compose_file_is_in_env_example_and_only_those() -> None:
    text = COMPOSE.read_text()
    assert not re.search(r"\$(?![{$])", text), "use ${VAR} (braced) so that every variable is checked here"
    used = {m.group(1) for m in VARIABLE.finditer(text)}
    listed = _example_env()
    assert used - set(listed) == set(), "used in docker-compose.yml but missing from .env.example"
    assert set(listed) - used == set(), "listed in .env.example but not used by docker-compose.yml"
    required = {m.group(1) for m in VARIABLE.finditer(text) if (m.group(2) or "").startswith(":?")}
    assert all(listed[name] for name in required), "a required variable needs a placeholder in .env.example"


def test_env_example_explains_every_variable() -> None:
    commented = False
    for line in ENV_EXAMPLE.read_text().splitlines():
        if not line.strip():
            commented = False
        elif line.startswith("#"):
            commented = True
        else:
            assert commented, f".env.example: {line.split('=')[0]} has no comment above it"


def test_no_secret_is_written_in_the_compose_file() -> None:
    for name, service in _services().items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert VARIABLE.fullmatch(value), f"{name}: {key} must be ${{VAR}} from .env, not a literal value"
    for line in COMPOSE.read_text().splitlines():
        assert not re.search(r"(?i)(password|secret|token)\s*[:=]\s*['\"]?[A-Za-z0-9]", line.split("#")[0]), line


def test_the_kannel_config_holds_no_password() -> None:
    for group in _kannel_conf():
        for key, value in group.items():
            if "password" in key:
                assert re.fullmatch(r"@[A-Z_]+@", value), f"kannel.conf: {key} is filled in at start, not written"


# -- ports, scaling, health checks, restarts, dependencies -----------------------------------------------------


def test_published_ports_are_bound_to_loopback_only() -> None:
    for name, service in _services().items():
        for ip, _, _ in _published(service):
            assert ip == "127.0.0.1", f"{name}: a port on {ip or 'every address'} is reachable from other machines"


def test_the_workers_can_be_scaled() -> None:
    services = _services()
    for name in WORKERS:
        assert "container_name" not in services[name], f"{name}: a fixed container name prevents --scale"
        assert not services[name].get("ports"), f"{name}: a published port prevents --scale"


def test_every_long_running_service_has_a_health_check_and_a_restart_policy() -> None:
    for name, service in _services().items():
        if name in JOBS:
            assert service.get("restart") == "no", f"{name} is demo traffic: it should not restart"
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and check["test"][0] != "NONE" and not check.get("disable"), f"{name}: no check"
        assert service.get("restart") in {"always", "unless-stopped"}, f"{name}: no restart policy"


def test_every_dependency_waits_for_health_and_stays_in_reach() -> None:
    services = _services()
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs condition: service_healthy"
        for target, rule in depends.items():
            assert rule == {"condition": "service_healthy"}, f"{name} → {target}: {rule}"
            assert services[target].get("healthcheck"), f"{name} waits for {target}, which has no health check"
            if not service.get("profiles"):
                # Compose refuses to start a service whose dependency is switched off by a profile.
                assert not services[target].get("profiles"), f"{name} depends on {target}, only in a profile"


def test_worker_health_checks_read_the_status_file_the_worker_writes() -> None:
    services = _services()
    for name in WORKERS:
        command = services[name]["command"]
        status_file = command[command.index("--status-file") + 1]
        assert status_file in " ".join(services[name]["healthcheck"]["test"]), name


# -- commands, mounts, image -----------------------------------------------------------------------------------


def test_commands_are_cli_commands_with_the_docker_config() -> None:
    from telewatch.cli import app

    cli = typer.main.get_command(app)
    for name, service in _services().items():
        if "build" not in service or name == "kannel":
            continue
        command = list(service["command"])
        group: Any = cli
        while hasattr(group, "commands") and command and command[0] in group.commands:
            group = group.commands[command.pop(0)]
        assert not hasattr(group, "commands"), f"{name}: {service['command']} is not a telewatch command"
        assert command[command.index("--config") + 1] == IN_CONTAINER_CONFIG, name
        options = {p for param in group.params for p in getattr(param, "opts", [])}
        assert {a for a in command if a.startswith("--")} <= options, f"{name}: unknown options in {command}"
        assert _environment(service)["TELEWATCH_CONFIG"] == IN_CONTAINER_CONFIG, name
        assert f"./config:{Path(IN_CONTAINER_CONFIG).parent}:ro" in service["volumes"], name


def test_compose_mounts_exist() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} is mounted but missing"
        build = service.get("build")
        if build is not None:
            context = ROOT / (build if isinstance(build, str) else build["context"])
            assert (context / "Dockerfile").is_file(), f"{name}: no Dockerfile in {context}"


def test_the_image_holds_every_package_of_the_project() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")}
    missing = [p for p in packages["packages"] if p not in copied]
    assert not missing, f"the Dockerfile does not COPY {missing}; the image would not import them"


def test_the_image_runs_unprivileged_with_a_writable_stack_home() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, "the processes must not run as root"
    home = str(_docker_config().stack.home)
    assert any(home in line and "-o " + users[-1] in line for line in lines), f"{home} is not made {users[-1]}'s"


def test_the_kannel_image_files_exist() -> None:
    lines = (KANNEL_DIR / "Dockerfile").read_text().splitlines()
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (KANNEL_DIR / source).is_file(), f"deploy/kannel/Dockerfile copies a missing {source}"
    for script in ("kannel-run", "kannel-health"):
        assert os.access(KANNEL_DIR / script, os.X_OK), f"{script} is not executable"
    assert any(line.startswith("USER ") and "root" not in line for line in lines)


# -- config/docker.yaml and the provisioning agree with the compose file ---------------------------------------


def test_the_docker_config_reaches_the_compose_services() -> None:
    config = _docker_config()
    services = _services()
    assert config.kafka.mode == "external" and config.influxdb.mode == "external"
    advertised = _environment(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    for server in config.bootstrap_servers():
        assert f"PLAINTEXT://{server}" in advertised.split(","), f"{server} is not kafka's advertised listener"
    host, port = _host_port(config.influxdb.url)
    assert host in services and port == 8086
    assert config.stack.home.is_absolute(), "stack.home must be an absolute path inside the container"


def test_the_ledger_is_the_postgres_service_without_a_password_in_the_url() -> None:
    ledger_url = _docker_config().alerting.ledger_url
    assert ledger_url is not None
    url = sa.make_url(ledger_url)
    postgres = _environment(_services()["postgres"])
    assert url.get_backend_name() == "postgresql" and url.host == "postgres" and url.port in (None, 5432)
    assert url.username == postgres["POSTGRES_USER"] and url.database == postgres["POSTGRES_DB"]
    assert url.password is None, "the password comes from PGPASSWORD, never from a file"
    for name in ("alerting", "api"):
        assert _environment(_services()[name])["PGPASSWORD"] == postgres["POSTGRES_PASSWORD"], name


def test_the_api_is_published_where_the_config_says() -> None:
    api = _docker_config().alerting.api
    assert api.host == "0.0.0.0", "inside a container the API must listen on every address"
    published = _published(_services()["api"])
    assert [(ip, port) for ip, port, target in published if target == api.port] == [("127.0.0.1", api.port)]
    assert _host_port(api.public_url) == ("localhost", api.port)
    assert str(api.port) in " ".join(_services()["api"]["healthcheck"]["test"])


def test_alerting_gets_every_secret_its_config_names() -> None:
    alerting = _docker_config().alerting
    named = {alerting.sms.kannel.password_env, alerting.api.link_secret_env}
    for group in alerting.owners.im_groups.values():
        named |= {group.token_env, *([group.secret_env] if group.secret_env else [])}
    env = _environment(_services()["alerting"])
    assert named - set(env) == set(), "the alerting worker would miss these variables"
    assert alerting.api.link_secret_env in _environment(_services()["api"])


def test_sms_go_to_the_kannel_service_with_its_account() -> None:
    kannel = _docker_config().alerting.sms.kannel
    assert kannel.url is not None
    host, port = _host_port(kannel.url)
    (smsbox,) = [g for g in _kannel_conf() if g.get("group") == "smsbox"]
    users = {g["username"]: g for g in _kannel_conf() if g.get("group") == "sendsms-user"}
    assert host == "kannel" and port == int(smsbox["sendsms-port"])
    assert kannel.username in users and int(users[kannel.username]["max-messages"]) == kannel.max_parts
    sendsms = _environment(_services()["kannel"])["KANNEL_SENDSMS_PASSWORD"]
    assert sendsms == _environment(_services()["alerting"])[kannel.password_env], "two different passwords"


def test_grafana_provisions_the_mounted_dashboards_and_the_influxdb_service() -> None:
    grafana = _services()["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("./"))
    provisioning = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/telewatch.yaml").read_text())
    (provider,) = provisioning["providers"]
    assert provider["options"]["path"] == mounts["./dashboards/json"]
    assert provider["folderUid"] == "telewatch" and provider["allowUiUpdates"] is False
    for folder in ("datasources", "dashboards"):
        assert mounts[f"./dashboards/provisioning/{folder}"] == f"/etc/grafana/provisioning/{folder}"
    (source,) = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/influxdb.yaml").read_text())["datasources"]
    host, port = _host_port(source["url"])
    assert host in _services() and port == 8086
    assert source["jsonData"]["dbName"] == _docker_config().influxdb.database

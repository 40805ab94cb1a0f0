"""The API's command line as an operator runs it: `telewatch api serve` (refused without the ack-link secret,
serving and stopping cleanly with it), `telewatch token ...` and `telewatch silence ...` on the configured ledger."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from devstack.process import free_port
from stack_config import write_test_config
from telewatch import cli as cli_module
from telewatch import cli_console

SECRET_ENV = "TW_TEST_ACK_SECRET"


def cli_env(secret: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV} | {"COLUMNS": "300"}  # tables unabridged
    if secret is not None:
        env[SECRET_ENV] = secret
    return env


def telewatch(config: Path, *args: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "telewatch", *args, "--config", str(config)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, env=cli_env(secret))


def config_file(tmp_path: Path, port: int = 18090) -> Path:
    return write_test_config(tmp_path, alerting={"api": {"port": port, "link_secret_env": SECRET_ENV}})


def test_serve_is_refused_without_the_secret_naming_the_variable_and_how_to_make_one(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    done = telewatch(config, "api", "serve")
    assert done.returncode == 1
    assert SECRET_ENV in done.stderr and "openssl rand -hex 32" in done.stderr
    short = telewatch(config, "api", "serve", secret="too-short")
    assert short.returncode == 1 and "shorter than 32 bytes" in short.stderr


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The command line in this process (each subprocess would spend seconds importing the detectors)."""
    monkeypatch.setattr(cli_console.console, "width", 300)  # tables unabridged
    return CliRunner()


def run(runner: CliRunner, config: Path, *args: str) -> Result:
    return runner.invoke(cli_module.app, [*args, "--config", str(config)], env=cli_env())


def test_tokens_are_created_once_listed_without_the_token_and_revoked(tmp_path: Path, cli: CliRunner) -> None:
    config = config_file(tmp_path)
    made = run(cli, config, "token", "create", "noc-bot", "--scope", "write")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert re.fullmatch(r"tw_[A-Za-z0-9_-]{40,}", token)
    assert run(cli, config, "token", "create", "noc-bot", "--scope", "read").exit_code == 1  # the name is taken
    assert run(cli, config, "token", "create", "x", "--scope", "root").exit_code == 2
    listed = run(cli, config, "token", "list")
    assert listed.exit_code == 0 and "noc-bot" in listed.stdout and "write" in listed.stdout
    assert token not in listed.stdout and "live" in listed.stdout
    assert run(cli, config, "token", "revoke", "noc-bot").exit_code == 0
    assert "revoked" in run(cli, config, "token", "list").stdout
    again = run(cli, config, "token", "revoke", "noc-bot")
    assert again.exit_code == 1 and "no live token named 'noc-bot'" in again.stderr


def test_silences_are_added_listed_and_expired(tmp_path: Path, cli: CliRunner) -> None:
    config = config_file(tmp_path)
    added = run(
        cli, config, "silence", "add", "--matcher", 'region="north"', "--matcher", 'metric=~"sms_.*"',
        "--duration", "2h", "--by", "li.wei", "--comment", "CR-1207, call 13812341234",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    found = re.search(r"silence ([0-9a-f-]{36})", added.stdout)
    assert found is not None
    silence_id = found.group(1)
    listed = run(cli, config, "silence", "list", "--state", "active")
    assert listed.exit_code == 0 and silence_id in listed.stdout
    assert 'region="north"' in listed.stdout and 'metric=~"sms_.*"' in listed.stdout
    assert "13812341234" not in listed.stdout and "138****1234" in listed.stdout
    assert run(cli, config, "silence", "expire", silence_id).exit_code == 0
    assert silence_id in run(cli, config, "silence", "list", "--state", "expired").stdout
    assert silence_id not in run(cli, config, "silence", "list", "--state", "active").stdout
    twice = run(cli, config, "silence", "expire", silence_id)
    assert twice.exit_code == 1 and "already expired" in twice.stderr
    bad = run(cli, config, "silence", "add", "--matcher", "region", "--by", "li.wei", "--comment", "x")
    assert bad.exit_code == 2 and "matchers[0]: matcher 'region'" in bad.stderr


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_answers_on_the_configured_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = config_file(tmp_path, port)
    token = telewatch(config, "token", "create", "dashboard", "--scope", "read").stdout.strip()
    assert token.startswith("tw_")
    cmd = [sys.executable, "-m", "telewatch", "api", "serve", "--config", str(config)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env("s" * 64))
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, health = get(f"{base}/health")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
        assert (status, health) == (200, {"status": "ok"})
        assert get(f"{base}/api/v1/alerts", token) == (200, {"alerts": [], "total": 0, "limit": 100, "offset": 0})
        assert get(f"{base}/api/v1/alerts")[0] == 401
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "alerting API stopped" in output and "GET /api/v1/alerts 200" in output
    assert token not in output

"""Builds the alerting parts from the root config and the environment: ledger, ack links, planner, channels, worker.

Secrets come from the environment only (the variables the config names). The
local stack's Kannel needs none: with ``alerting.sms.kannel.url`` unset the
worker uses the devstack gateway and its development password.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

from alerting.ack_links import AckLinks
from alerting.ledger import Ledger
from alerting.notify.registry import Channels, build_channels
from alerting.pipeline.plan import Planner
from alerting.worker import APP_ID, AlertingWorker
from devstack.kannel_server import DEVSTACK_PASSWORD
from telewatch.config import Config


class MissingSecret(RuntimeError):
    """A secret the config names is not in the environment."""


def ledger_url(config: Config) -> str:
    """The ledger's database URL: ``alerting.ledger_url``, or a SQLite file in the stack's home."""
    if config.alerting.ledger_url:
        return config.alerting.ledger_url
    home = config.stack.home_path()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'ledger.db'}"


def link_secret(config: Config, env: Mapping[str, str] = os.environ) -> bytes:
    """The ack-link secret from ``alerting.api.link_secret_env`` (also signs receipt URLs); MissingSecret when
    unset or short."""
    name = config.alerting.api.link_secret_env
    secret = env.get(name, "")
    if len(secret.encode()) < 32:
        state = "is not set" if not secret else "is shorter than 32 bytes"
        raise MissingSecret(
            f"environment variable {name} (the ack-link signing secret) {state}; make one with "
            f"`export {name}=$(openssl rand -hex 32)` and give every alerting process the same value"
        )
    return secret.encode()


def ack_links(config: Config, env: Mapping[str, str] = os.environ) -> AckLinks:
    """The link signer of ``config``."""
    return AckLinks(link_secret(config, env), config.alerting.api.public_url + "/a/")


def kannel_url(config: Config) -> str:
    """The devstack Kannel's sendsms URL."""
    return f"http://127.0.0.1:{config.stack.kannel_sendsms_port}/cgi-bin/sendsms"


def channels(config: Config, env: Mapping[str, str] = os.environ) -> Channels:
    """The SMS gateway and IM robots of ``config``; delivery receipts are signed with the ack-link secret."""
    local = config.alerting.sms.kannel.url is None
    return build_channels(
        config.alerting,
        env,
        kannel_url=kannel_url(config),
        kannel_password=DEVSTACK_PASSWORD if local else None,
        receipt_secret=link_secret(config, env),
    )


def planner(config: Config, links: AckLinks) -> Planner:
    """Who is told what, with links signed by ``links``; SMS budgets are per sender id."""
    return Planner(config.alerting, links, config.alerting.sms.kannel.sender)


def alerting_worker(
    config: Config,
    *,
    env: Mapping[str, str] = os.environ,
    app_id: str = APP_ID,
    status_file: Path | None = None,
    status_every_s: float = 1.0,
) -> AlertingWorker:
    """The alerting worker of ``config`` (opens and migrates the ledger)."""
    links = ack_links(config, env)
    ledger = Ledger.open(ledger_url(config))
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    return AlertingWorker(
        config,
        config.alerting,
        ledger,
        planner(config, links),
        channels(config, env),
        worker_id=worker_id,
        app_id=app_id,
        status_file=status_file,
        status_every_s=status_every_s,
    )

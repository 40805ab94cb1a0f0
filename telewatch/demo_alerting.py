"""The demo's alerting side: owners, secrets, a local IM robot server, the ledger and the API.

When the config names no owners, the demo runs with those of ``config/owners.example.yaml`` (every shipped
metric has one): their IM groups' robots are served by :class:`devstack.im_robot_server.ImRobotServer` in the
demo's event loop, with keys made up for the run and handed to the alerting processes in their environment;
SMS go through the devstack Kannel to its fake SMSC; alerts are grouped for :data:`DEMO_GROUP_WAIT` only
(Alertmanager's 30 s stays the default for everyone else); the ledger is a fresh SQLite file per run, whose
consumer marks start at the end of the anomalies topic, so earlier runs' anomalies are not alerted again. A
config that names owners is used as it is. The ack-link secret comes from the environment, else is made for
the run. The API (ack pages, Kannel's delivery receipts) runs in the demo's event loop on ``alerting.api``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console

from alerting.api.app import start as start_api
from alerting.ledger import Ledger
from alerting.owners import ImGroup, OwnersRegistry
from alerting.settings import AlertingSettings
from devstack.im_robot_server import ImRobotServer, Robot
from devstack.process import ServerFailed
from telewatch import alerting_wiring, api_wiring
from telewatch.config import Config

#: The owners the demo runs with when the config names none.
EXAMPLE_OWNERS = Path(__file__).resolve().parents[1] / "config" / "owners.example.yaml"
#: How long the demo's route waits before an owner's first message (Alertmanager's default: 30 s).
DEMO_GROUP_WAIT = "5s"


def example_owners(robot_url: str | None = None) -> dict[str, Any]:
    """The example's ``alerting.owners``, every IM group's robot at ``robot_url`` (None: the vendor's)."""
    owners: dict[str, Any] = yaml.safe_load(EXAMPLE_OWNERS.read_text(encoding="utf-8"))["alerting"]["owners"]
    if robot_url is not None:
        for group in owners["im_groups"].values():
            group["url"] = robot_url
    return owners


def demo_robots(groups: Mapping[str, ImGroup]) -> tuple[list[Robot], dict[str, str]]:
    """A robot for each IM group, with a key (and signing secret) made up for this run, and the environment
    variables the groups name, set to them."""
    robots, env = [], {}
    for name, group in groups.items():
        token = secrets.token_hex(16)
        if group.kind == "slack":  # a Slack webhook is a path: T…/B…/secret
            token = f"T0DEMO/B0{name.upper().replace('-', '')}/{token}"
        secret = secrets.token_hex(16) if group.secret_env else None
        env[group.token_env] = token
        if group.secret_env and secret:
            env[group.secret_env] = secret
        robots.append(Robot(group.kind, name, token, secret))
    return robots, env


def with_demo_owners(config: Config, robot_url: str, ledger: Path) -> Config:
    """``config`` with the example's owners, the demo's route, its ledger file and the API's own address in links."""
    data = config.alerting.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["owners"] = example_owners(robot_url)
    if config.alerting.route is None:
        # One route per owner, as without a route tree, but grouping for a few seconds only. The root's receiver
        # takes what no owner matches (no shipped metric): it must be an owner, so it is the first.
        owners = data["owners"]["owners"]
        data["route"] = {
            "receiver": next(iter(owners)),
            "group_wait": DEMO_GROUP_WAIT,
            "routes": [{"receiver": name, "matchers": owner["matchers"]} for name, owner in owners.items()],
        }
    api = data.setdefault("api", {})
    api["public_url"] = f"http://127.0.0.1:{config.alerting.api.port}"
    data["ledger_url"] = f"sqlite:///{ledger}"
    return config.model_copy(update={"alerting": AlertingSettings.model_validate(data)})


def ack_secret(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    """The ack-link secret's variable from ``environ``, or one made for this run when it is not set (a secret set
    but too short is refused, as the alerting commands refuse it)."""
    name = config.alerting.api.link_secret_env
    if environ.get(name):
        alerting_wiring.link_secret(config, environ)  # MissingSecret when too short
        return {}
    return {name: secrets.token_hex(32)}


def uses_local_kannel(config: Config) -> bool:
    """Whether SMS go through the devstack Kannel (``alerting.sms.kannel.url`` unset)."""
    sms = config.alerting.sms
    return sms.gateway == "kannel" and sms.kannel.url is None


async def end_offsets(bootstrap: list[str], topic: str) -> dict[int, int]:
    """The next offset of every partition of ``topic``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="telewatch-demo")
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


class DemoAlerting:
    """Brings up (and down) what the alerting worker needs besides Kafka and Kannel: see the module docstring."""

    def __init__(self, config: Config, console: Console, environ: Mapping[str, str] = os.environ) -> None:
        self.console = console
        self.environ = environ
        #: The demo supplies the owners (the config names none).
        self.demo_owners = not config.alerting.owners.owners
        #: What the alerting processes get on top of ``environ``: the ack-link secret if made, robot keys.
        self.env = ack_secret(config, environ)
        self.generated_secret = bool(self.env)
        self.config = config
        self.robots: ImRobotServer | None = None
        self.robot_url: str | None = None
        self.ledger: Ledger | None = None
        self._api: web.AppRunner | None = None

    @property
    def demo_dir(self) -> Path:
        return self.config.stack.home_path().absolute() / "demo"

    @property
    def api_url(self) -> str:
        return f"http://{self.config.alerting.api.host}:{self.config.alerting.api.port}"

    async def configure(self) -> Config:
        """Start the local robots (when the demo supplies the owners) and return the config to run with."""
        if not self.demo_owners:
            return self.config
        robots, env = demo_robots(OwnersRegistry.model_validate(example_owners()).im_groups)
        self.robots = ImRobotServer(robots)
        self.robot_url = await self.robots.start()
        self.env |= env
        self.config = with_demo_owners(self.config, self.robot_url, self.demo_dir / "ledger.db")
        return self.config

    def describe(self) -> None:
        """Say where the owners, messages, secret and API are."""
        c, alerting = self.console, self.config.alerting
        if self.demo_owners:
            kinds = sorted({g.kind for g in alerting.owners.im_groups.values()})
            c.print(
                f"alerting: the config names no owners, so the demo uses {EXAMPLE_OWNERS.name}'s "
                f"({len(alerting.owners.owners)} owners of every shipped metric); their IM groups' robots "
                f"({', '.join(kinds)}) are a local IM robot server at {self.robot_url}; alerts are grouped for "
                f"group_wait {DEMO_GROUP_WAIT} (Alertmanager's default, 30s, for everyone else); ledger "
                f"{alerting.ledger_url} (new each run)",
                highlight=False,
            )
        else:
            ledger = alerting_wiring.ledger_url(self.config)
            c.print(f"alerting: owners, routes and gateways from the config; ledger {ledger}", highlight=False)
        if uses_local_kannel(self.config):
            c.print("  SMS go through the devstack Kannel to its fake SMSC (nothing reaches a phone)", highlight=False)
        name = alerting.api.link_secret_env
        if self.generated_secret:
            made = f"made for this run ({name} is not set): links work while the demo runs"
            c.print(f"  ack-link secret: {made}", highlight=False)
        else:
            c.print(f"  ack-link secret: from {name}", highlight=False)

    async def start(self) -> Ledger:
        """Open the ledger (a fresh one, marked at the anomalies topic's end, for the demo's owners), serve the API;
        returns the ledger (closed by :meth:`stop`)."""
        config = self.config
        if self.demo_owners:
            for suffix in ("", "-wal", "-shm", "-journal"):
                (self.demo_dir / f"ledger.db{suffix}").unlink(missing_ok=True)
            self.demo_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = ledger = await asyncio.to_thread(Ledger.open, alerting_wiring.ledger_url(config))
        if self.demo_owners:
            topic = config.kafka.topics.anomalies.name
            now = datetime.now(UTC)
            for partition, end in (await end_offsets(config.bootstrap_servers(), topic)).items():
                if end > 0:
                    await asyncio.to_thread(ledger.set_mark, f"{topic}/{partition}", end - 1, now)
        api = config.alerting.api
        context = api_wiring.api_context(config, ledger, {**self.environ, **self.env})
        try:
            self._api, _ = await start_api(context, api.host, api.port)
        except OSError as exc:
            raise ServerFailed(
                f"the alerting API cannot listen on {api.host}:{api.port} ({exc}); stop what uses the port or "
                "set alerting.api.port in the config"
            ) from exc
        self.console.print(
            f"  [green]alerting API ready[/green] on {self.api_url}: the ack pages of the links in messages",
            highlight=False,
        )
        return ledger

    async def stop(self) -> None:
        """Stop the API and the robots, close the ledger; a no-op for what never started."""
        if self._api is not None:
            await self._api.cleanup()
            self._api = None
            self.console.print("stopped the alerting API")
        if self.robots is not None:
            await self.robots.stop()
            self.robots = None
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None

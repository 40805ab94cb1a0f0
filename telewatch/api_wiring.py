"""Builds the alerting API from the root config and the environment: its context, and the server run by the CLI.

The ledger, the ack-link secret (which also signs SMS delivery-receipt URLs)
and the notification planner come from :mod:`telewatch.alerting_wiring`, so the
API and the alerting worker agree on all three.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

from alerting.api.app import serve
from alerting.api.context import ApiContext, PersonTransition
from alerting.ledger import Alert, Ledger, Notification
from telewatch import alerting_wiring
from telewatch.alerting_lag import LagProbe
from telewatch.config import Config


def api_context(
    config: Config,
    ledger: Ledger,
    env: Mapping[str, str] = os.environ,
    health: Callable[[], Mapping[str, float]] | None = None,
) -> ApiContext:
    """The API's context over ``ledger`` (``health``: extra gauges for ``/metrics``); MissingSecret when the
    ack-link secret is not in ``env``."""
    secret = alerting_wiring.link_secret(config, env)
    links = alerting_wiring.ack_links(config, env)
    planner = alerting_wiring.planner(config, links)

    def plan(alert: Alert, transition: PersonTransition, by: str) -> list[Notification]:
        return planner.for_person(alert, by, transition)

    return ApiContext(
        ledger=ledger, settings=config.alerting, links=links, plan=plan, receipt_secret=secret,
        health=health or (lambda: {}),
    )  # fmt: skip


async def serve_api(config: Config, stop: asyncio.Event, env: Mapping[str, str] = os.environ) -> None:
    """Open the ledger and serve the API on ``alerting.api`` host and port until ``stop`` is set."""
    alerting_wiring.link_secret(config, env)  # refuse before touching the database
    ledger = await asyncio.to_thread(Ledger.open, alerting_wiring.ledger_url(config))
    anomalies = config.kafka.topics.anomalies
    lag = LagProbe(ledger, config.bootstrap_servers(), anomalies.name, anomalies.partitions)
    probe = asyncio.create_task(lag.run(stop))
    try:
        api = config.alerting.api
        await serve(api_context(config, ledger, env, lag.gauges), api.host, api.port, stop)
    finally:
        stop.set()
        await probe
        ledger.close()

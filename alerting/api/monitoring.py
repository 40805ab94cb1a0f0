"""``/health`` and ``/metrics`` (Prometheus text format), computed from the ledger at scrape time."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerting.api.errors import ApiError
from alerting.api.operation import Call, Operation
from alerting.api.params import NoBody, NoParams
from alerting.api.views import HealthView
from alerting.ledger import Ledger

PREFIX = "telewatch_"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    """A Prometheus metric name for a health gauge: prefixed, other characters as ``_``.

    >>> metric_name("consumer lag/p0"), metric_name("telewatch_up")
    ('telewatch_consumer_lag_p0', 'telewatch_up')
    """
    clean = _INVALID.sub("_", name)
    return clean if clean.startswith(PREFIX) else PREFIX + clean


class LedgerCollector(Collector):
    """The ledger's counts (and the service's health gauges) as metric families, read once per scrape."""

    def __init__(self, ledger: Ledger, health: Mapping[str, float]) -> None:
        self.ledger = ledger
        self.health = health

    def collect(self) -> Iterator[Metric]:
        """Every family, from fresh ledger queries."""
        alerts = GaugeMetricFamily(f"{PREFIX}alerts", "Alerts in the ledger by status", labels=["status"])
        for status, count in sorted(self.ledger.alert_counts().items()):
            alerts.add_metric([status], count)
        yield alerts
        outbox = GaugeMetricFamily(
            f"{PREFIX}outbox_rows", "Notifications in the outbox by state and channel", labels=["state", "channel"]
        )
        dead = 0
        for (state, channel), count in sorted(self.ledger.outbox_counts().items()):
            outbox.add_metric([state, channel], count)
            dead += count if state == "dead" else 0
        yield outbox
        yield GaugeMetricFamily(f"{PREFIX}dead_letters", "Notifications given up on (outbox state dead)", value=dead)
        attempts = CounterMetricFamily(
            f"{PREFIX}delivery_attempts", "Delivery attempts by channel and outcome", labels=["channel", "outcome"]
        )
        for (channel, outcome), count in sorted(self.ledger.attempt_counts().items()):
            attempts.add_metric([channel, outcome], count)
        yield attempts
        receipts = CounterMetricFamily(
            f"{PREFIX}delivery_receipts", "SMS delivery receipts by status", labels=["status"]
        )
        for status, count in sorted(self.ledger.receipt_counts().items()):
            receipts.add_metric([status], count)
        yield receipts
        for name, value in sorted(self.health.items()):
            yield GaugeMetricFamily(metric_name(name), f"Service health: {name}", value=float(value))


def exposition(ledger: Ledger, health: Mapping[str, float]) -> bytes:
    """The Prometheus text exposition of the ledger's counts and the health gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(ledger, health))
    return generate_latest(registry)


async def health(call: Call[NoParams, NoBody]) -> HealthView:
    """200 when the ledger answers; 503 otherwise."""
    try:
        await call.db(call.ctx.ledger.ping)
    except Exception as error:
        raise ApiError(
            503, f"the ledger database is unreachable ({type(error).__name__}); check alerting.ledger_url"
        ) from None
    return HealthView(status="ok")


async def metrics(call: Call[NoParams, NoBody]) -> web.Response:
    """The metrics in Prometheus text format."""
    body = await call.db(exposition, call.ctx.ledger, dict(call.ctx.health()))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


OPERATIONS: list[Operation[Any, Any]] = [
    Operation(
        method="GET",
        path="/health",
        summary="Liveness and ledger reachability",
        tag="monitoring",
        handler=health,
        params=NoParams,
        body=NoBody,
        response=HealthView,
        errors={503: "The ledger database does not answer"},
    ),
    Operation(
        method="GET",
        path="/metrics",
        summary="Prometheus metrics",
        tag="monitoring",
        handler=metrics,
        params=NoParams,
        body=NoBody,
        response=None,
        media_type="text/plain",
        description="Alerts by status, outbox rows by state and channel, dead letters, delivery attempts by outcome, "
        "receipts by status, and the service's health gauges; computed from the ledger at scrape time.",
    ),
]

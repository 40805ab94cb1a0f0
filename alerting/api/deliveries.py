"""``/api/v1/deliveries``: notifications (outbox rows) with their attempts and receipts; dead letters by state."""

from __future__ import annotations

from typing import Any

from alerting.api.operation import Call, Operation
from alerting.api.params import AlertId, DeliveryFilter, NoBody
from alerting.api.views import DeliveryPage, delivery_view
from alerting.ledger import Ledger, OutboxItem

#: An alert's notifications are few (recipients × transitions); this many are shown at most.
ALERT_LIMIT = 1000


def _page(ledger: Ledger, items: list[OutboxItem], total: int, limit: int, offset: int) -> DeliveryPage:
    keys = [item.key for item in items]
    attempts, receipts = ledger.attempts_of(keys), ledger.receipts_of(keys)
    views = [delivery_view(item, attempts[item.key], receipts[item.key]) for item in items]
    return DeliveryPage(deliveries=views, total=total, limit=limit, offset=offset)


def _deliveries(ledger: Ledger, limit: int, offset: int, **filters: Any) -> DeliveryPage:
    items, total = ledger.find_deliveries(limit=limit, offset=offset, **filters)
    return _page(ledger, items, total, limit, offset)


async def list_deliveries(call: Call[DeliveryFilter, NoBody]) -> DeliveryPage:
    """Notifications in a state (``dead``: given up on) or on a channel, most recently changed first."""
    p = call.params
    return await call.db(_deliveries, call.ctx.ledger, p.limit, p.offset, state=p.state, channel=p.channel)


async def alert_deliveries(call: Call[AlertId, NoBody]) -> DeliveryPage:
    """Every notification of one alert, with attempts and receipts."""
    ledger = call.ctx.ledger
    alert = await call.db(ledger.alert, call.params.id)
    return await call.db(_deliveries, ledger, ALERT_LIMIT, 0, alert_id=alert.id)


OPERATIONS: list[Operation[Any, Any]] = [
    Operation(
        method="GET",
        path="/api/v1/deliveries",
        summary="List notifications",
        tag="deliveries",
        handler=list_deliveries,
        params=DeliveryFilter,
        body=NoBody,
        response=DeliveryPage,
        scope="read",
        description="state=dead lists the dead letters, with every attempt's words.",
    ),
    Operation(
        method="GET",
        path="/api/v1/alerts/{id}/deliveries",
        summary="An alert's notifications",
        tag="deliveries",
        handler=alert_deliveries,
        params=AlertId,
        body=NoBody,
        response=DeliveryPage,
        scope="read",
        errors={404: "No alert has this id"},
    ),
]

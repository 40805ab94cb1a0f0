"""``/api/v1/hotline``: what a hotline agent can tell a caller about incidents where they are."""

from __future__ import annotations

from typing import Any

from alerting.api.operation import Call, Operation
from alerting.api.params import HotlineQuery, NoBody
from alerting.api.queries import hotline_alerts
from alerting.api.views import HotlineView, incident_view
from alerting.hotline import lookup


async def hotline(call: Call[HotlineQuery, NoBody]) -> HotlineView:
    """Customer-impacting incidents in the caller's region (and cell), newest first, with the owner's script."""
    ctx, p = call.ctx, call.params
    registry = ctx.settings.owners
    alerts = await call.db(hotline_alerts, ctx.ledger, registry, ctx.clock())
    incidents = lookup(alerts, registry, region=p.region, cell=p.cell)
    return HotlineView(region=p.region, cell=p.cell, incidents=[incident_view(i) for i in incidents])


OPERATIONS: list[Operation[Any, Any]] = [
    Operation(
        method="GET",
        path="/api/v1/hotline",
        summary="Incidents where a caller is",
        tag="hotline",
        handler=hotline,
        params=HotlineQuery,
        body=NoBody,
        response=HotlineView,
        scope="read",
    ),
]

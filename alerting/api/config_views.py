"""``/api/v1/owners`` and ``/api/v1/routes``: the alerting configuration as the service runs it (phones masked)."""

from __future__ import annotations

from typing import Any

from alerting.api.operation import Call, Operation
from alerting.api.params import NoBody, NoParams
from alerting.api.views import OwnersView, RoutesView, owners_view, route_view
from alerting.routing.routes import Router


async def get_owners(call: Call[NoParams, NoBody]) -> OwnersView:
    """People (phones masked), IM groups, rotations with who is on call now, escalation chains and owners."""
    return owners_view(call.ctx.settings.owners, call.ctx.clock())


async def get_routes(call: Call[NoParams, NoBody]) -> RoutesView:
    """The route tree with inherited options filled in (the default tree when none is configured)."""
    settings = call.ctx.settings
    return RoutesView(configured=settings.route is not None, route=route_view(Router(settings.route_tree()).root))


OPERATIONS: list[Operation[Any, Any]] = [
    Operation(
        method="GET",
        path="/api/v1/owners",
        summary="The owners registry",
        tag="configuration",
        handler=get_owners,
        params=NoParams,
        body=NoBody,
        response=OwnersView,
        scope="read",
    ),
    Operation(
        method="GET",
        path="/api/v1/routes",
        summary="The resolved route tree",
        tag="configuration",
        handler=get_routes,
        params=NoParams,
        body=NoBody,
        response=RoutesView,
        scope="read",
    ),
]

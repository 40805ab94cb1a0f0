"""The aiohttp application: the JSON API, ``/openapi.json``, ``/health``, ``/metrics`` and the pages.

``build_app(ctx)`` registers every operation of the API modules and the HTML
pages (:func:`alerting.api.pages.add_pages`); :func:`serve` runs it until its
stop event is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from alerting.api import alerts, config_views, deliveries, hotline_lookup, monitoring, receipts, silences
from alerting.api.context import ApiContext
from alerting.api.errors import json_errors
from alerting.api.openapi import openapi_document
from alerting.api.operation import Operation, endpoint, operation_list
from alerting.api.pages import add_pages
from core.privacy import mask_numbers_in_text

log = logging.getLogger(__name__)

#: The API's document, kept on the app.
OPENAPI_KEY = web.AppKey("openapi", dict)


def operations() -> list[Operation[Any, Any]]:
    """Every JSON operation of the API, in the order the document lists them."""
    return operation_list(
        alerts.OPERATIONS,
        silences.OPERATIONS,
        deliveries.OPERATIONS,
        receipts.OPERATIONS,
        config_views.OPERATIONS,
        hotline_lookup.OPERATIONS,
        monitoring.OPERATIONS,
    )


def api_version() -> str:
    """The installed telewatch version (the document's ``info.version``)."""
    try:
        return version("telewatch")
    except PackageNotFoundError:  # pragma: no cover - run from a tree that was never installed
        return "0"


def openapi() -> dict[str, Any]:
    """The OpenAPI document of :func:`operations`."""
    return openapi_document(operations(), api_version())


async def _openapi_json(request: web.Request) -> web.Response:
    text = json.dumps(request.app[OPENAPI_KEY], ensure_ascii=False)
    return web.Response(text=text, content_type="application/json")


def build_app(ctx: ApiContext) -> web.Application:
    """The application for ``ctx``: the JSON API, its document and the pages."""
    app = web.Application(middlewares=[json_errors])
    app[OPENAPI_KEY] = openapi()
    for op in operations():
        app.router.add_route(op.method, op.path, endpoint(op, ctx), name=op.operation_id)
    app.router.add_get("/openapi.json", _openapi_json, name="openapi")
    add_pages(app, ctx)
    return app


class AccessLog(AbstractAccessLogger):
    """One line per request: method, path (numbers masked), status, milliseconds; never the query or headers.

    The query string of a delivery receipt holds a phone number and the Authorization header a token.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log the request."""
        path = mask_numbers_in_text(request.path)
        self.logger.info("%s %s %d %.1f ms", request.method, path, response.status, time * 1000)


async def start(ctx: ApiContext, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving on ``host``:``port`` (0: any free port); the runner (``cleanup()`` stops) and the port."""
    runner = web.AppRunner(build_app(ctx), access_log_class=AccessLog, access_log=log)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])


async def serve(ctx: ApiContext, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve the API until ``stop`` is set, then close every connection."""
    runner, bound = await start(ctx, host, port)
    log.info("alerting API listening on http://%s:%d", host, bound)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("alerting API stopped")

"""API errors as JSON ``{"error": "..."}``: what was refused, naming the field and the fix; never a 500 for bad input.

Handlers raise :class:`ApiError`; the middleware also turns the ledger's typed
refusals, aiohttp's own HTTP errors and a lost database into JSON, and anything
unexpected into a 500 whose details go to the log only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import ValidationError

from alerting.ledger import InvalidTransition, UnknownAlert, UnknownKey

log = logging.getLogger(__name__)

#: Paths whose errors are JSON (the HTML pages keep aiohttp's own).
JSON_PREFIXES = ("/api/", "/health", "/metrics", "/openapi.json")


class ApiError(Exception):
    """A refusal with its HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """The JSON error document."""
    body = json.dumps({"error": message}, ensure_ascii=False)
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


def describe(error: ValidationError, where: str) -> str:
    """A pydantic error as one line per problem: ``where 'field': what is wrong`` (never the rejected value)."""
    problems: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"{where} '{loc}' is not known; leave it out (see /openapi.json)")
        elif item["type"] == "missing":
            problems.append(f"{where} '{loc}' is required")
        else:
            message = _message(item["type"], item["msg"], item.get("ctx") or {})
            problems.append(f"{where} '{loc}': {message}" if loc else f"{where}: {message}")
    return "; ".join(problems)


def _message(kind: str, text: str, ctx: dict[str, Any]) -> str:
    if kind == "string_pattern_mismatch" and "x00" in str(ctx.get("pattern", "")):
        return "must not contain NUL characters"
    return text.removeprefix("Value error, ")


def _is_json_path(path: str) -> bool:
    return path.startswith(JSON_PREFIXES)


def _http_error(request: web.Request, error: web.HTTPException) -> web.Response:
    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(error.allowed_methods))
        return error_response(405, f"{request.method} is not allowed on {request.path}; allowed: {allowed}")
    if isinstance(error, web.HTTPNotFound):
        return error_response(404, f"no endpoint at {request.path}; the endpoints are listed in /openapi.json")
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return error_response(413, "the request body is too large; send at most 1 MiB")
    return error_response(error.status, error.reason)


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer every refusal on the JSON paths as ``{"error": ...}`` with a fitting status."""
    if not _is_json_path(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.message, error.headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _http_error(request, error)
    except (UnknownAlert, UnknownKey) as error:
        return error_response(404, str(error))
    except InvalidTransition as error:
        return error_response(409, str(error))
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
        log.error("%s %s: the ledger database is unreachable: %s", request.method, request.path, type(error).__name__)
        return error_response(503, "the ledger database is unreachable; try again shortly (see GET /health)")
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal error; the server log has the details")

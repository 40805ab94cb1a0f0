"""Bearer-token authentication: the ledger's hashed tokens, scopes read < write < admin.

401 without a token or with an unknown or revoked one, 403 when its scope is
too small. The token itself is never logged or echoed; log lines name it by
its ``name``.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from alerting.api.errors import ApiError
from alerting.ledger import ApiToken, Ledger
from alerting.ledger.models import Scope

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="telewatch"'}


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    header = request.headers.get("Authorization", "")
    kind, _, token = header.strip().partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(ledger: Ledger, request: web.Request, scope: Scope) -> ApiToken:
    """The record of the request's token when it grants ``scope``; :class:`ApiError` 401 or 403 otherwise."""
    token = bearer(request)
    if token is None:
        raise ApiError(
            401,
            f"{request.method} {request.path} needs an API token with scope {scope}: send 'Authorization: Bearer "
            f"<token>' (an operator makes one with `telewatch token create NAME --scope {scope}`)",
            _CHALLENGE,
        )
    record = await asyncio.to_thread(ledger.verify_token, token, "read")
    if record is None:
        raise ApiError(
            401,
            "the API token is unknown or revoked; ask an operator for a new one (`telewatch token create`)",
            _CHALLENGE,
        )
    if scope != "read" and await asyncio.to_thread(ledger.verify_token, token, scope) is None:
        raise ApiError(
            403,
            f"token {record.name!r} has scope {', '.join(record.scopes)}; {request.method} {request.path} needs "
            f"{_grants(scope)}: use a token with that scope",
        )
    return record


def _grants(scope: Scope) -> str:
    return "write (or admin)" if scope == "write" else scope

"""One API operation, declared once: route, scope, parameters, body, answer and refusals.

The app registers an aiohttp handler per :class:`Operation` (authenticate,
validate parameters and body with their pydantic models, call the handler,
serialise its answer) and ``/openapi.json`` is written from the same
declarations, so neither can say what the other does not do.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, ParamSpec, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from alerting.api.auth import authenticate
from alerting.api.context import ApiContext
from alerting.api.errors import ApiError, describe
from alerting.api.params import Body, NoBody, Params
from alerting.ledger import ApiToken
from alerting.ledger.models import Scope

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Params)
B = TypeVar("B", bound=Body)
T = TypeVar("T")
A = ParamSpec("A")

Method = Literal["GET", "POST", "DELETE"]


@dataclass(frozen=True)
class Call(Generic[P, B]):
    """One validated request as a handler sees it."""

    ctx: ApiContext
    request: web.Request
    params: P
    body: B
    #: The caller's token record (None on open endpoints).
    token: ApiToken | None

    async def db(self, fn: Callable[A, T], *args: A.args, **kwargs: A.kwargs) -> T:
        """Run a (blocking) ledger call in a worker thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)


Answer = BaseModel | web.StreamResponse


@dataclass(frozen=True)
class Operation(Generic[P, B]):
    """An endpoint: what it takes, what it answers, who may call it."""

    method: Method
    path: str
    summary: str
    tag: str
    handler: Callable[[Call[P, B]], Awaitable[Answer]]
    params: type[P]
    body: type[B]
    #: The answer's model; None for a non-JSON answer (``media_type``).
    response: type[BaseModel] | None
    #: None: open to anyone (or authenticated otherwise, as the receipt callback).
    scope: Scope | None = None
    status: int = 200
    #: Refusals besides the ones every operation of its kind has (bad parameters, body, token).
    errors: Mapping[int, str] = field(default_factory=dict)
    description: str = ""
    media_type: str = "application/json"

    @property
    def operation_id(self) -> str:
        """The handler's name, unique among operations."""
        return self.handler.__name__

    @property
    def path_names(self) -> list[str]:
        """The parameters that are part of the path."""
        return re.findall(r"{(\w+)}", self.path)

    def responses(self) -> dict[int, str]:
        """Every status the operation answers with, and when."""
        found = {self.status: "OK" if self.status == 200 else "Created"}
        if self.params.model_fields:
            found[400] = "A parameter is missing, unknown or invalid"
        if self.body is not NoBody:
            found[400] = "A parameter is invalid, or the body is not a JSON object"
            found[422] = "A body field is missing, unknown or invalid"
        if self.scope is not None:
            found[401] = "No API token, or an unknown or revoked one"
        if self.scope is not None and self.scope != "read":
            found[403] = f"The token's scope is too small (needs {self.scope})"
        found |= dict(self.errors)
        return dict(sorted(found.items()))


def _params(op: Operation[P, B], request: web.Request) -> P:
    raw: dict[str, str] = {}
    for name in set(request.query.keys()):
        values = request.query.getall(name)
        if len(values) > 1:
            raise ApiError(400, f"query parameter '{name}' is given {len(values)} times; give it once")
        raw[name] = values[0]
    raw |= request.match_info
    try:
        return op.params.model_validate(raw)
    except ValidationError as error:
        raise ApiError(400, describe(error, "parameter")) from None


async def _body(op: Operation[P, B], request: web.Request) -> B:
    if op.body is NoBody:
        return op.body()
    raw = await request.read()
    try:
        return op.body.model_validate_json(raw or b"{}")
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        if any(p["type"] == "json_invalid" for p in problems):
            raise ApiError(
                400, f"the request body is not valid JSON ({problems[0]['msg']}); send a JSON object"
            ) from None
        if any(p["type"] == "model_type" and not p["loc"] for p in problems):
            raise ApiError(400, "the request body must be a JSON object with the fields in /openapi.json") from None
        raise ApiError(422, describe(error, "body field")) from None


def endpoint(op: Operation[P, B], ctx: ApiContext) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of ``op``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        token = await authenticate(ctx.ledger, request, op.scope) if op.scope is not None else None
        params = _params(op, request)
        body = await _body(op, request)
        if token is not None and op.method != "GET":
            log.info("%s %s by token %r", op.method, request.path, token.name)
        answer = await op.handler(Call(ctx, request, params, body, token))
        if isinstance(answer, web.StreamResponse):
            return answer
        text = answer.model_dump_json(by_alias=True)
        return web.Response(status=op.status, text=text, content_type="application/json")

    handle.__name__ = op.operation_id
    return handle


def operation_list(*groups: list[Operation[Any, Any]]) -> list[Operation[Any, Any]]:
    """The operations of several modules, refusing two with the same id or the same method and path."""
    found: list[Operation[Any, Any]] = [op for group in groups for op in group]
    ids = [op.operation_id for op in found]
    routes = [(op.method, op.path) for op in found]
    if len(set(ids)) != len(ids) or len(set(routes)) != len(routes):
        raise ValueError(f"two operations share an id or a route: {sorted(ids)}")
    return found

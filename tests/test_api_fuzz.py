"""Schemathesis fuzzes every operation of the running API (schema loaded from its /openapi.json) with a valid
write token, on a seeded ledger on SQLite and on PostgreSQL, with data that fits the schema and data that does not:
no input may cause a server error (5xx).

Each operation is a test of its own; the live schema is read once per database. (Schemathesis's lazy
``from_fixture`` loader does not run under pytest 9, so operations are parametrised from the same document.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from alerting.api.app import openapi, start
from alerting.api.context import ApiContext
from alerting.api.silence_matchers import to_ledger
from alerting.ledger import Ledger, Notification
from fixtures.api import PHONES, T0, Clock, context, seed, tokens
from fixtures.ledger_db import fresh_pg_database


@dataclass
class LiveApi:
    """The app served on a free port by an event loop in a thread of its own."""

    base_url: str
    token: str
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    runner: web.AppRunner

    @classmethod
    def start(cls, ctx: ApiContext, token: str) -> LiveApi:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fuzzed-api", daemon=True)
        thread.start()
        runner, port = asyncio.run_coroutine_threadsafe(start(ctx, "127.0.0.1", 0), loop).result(timeout=30)
        return cls(f"http://127.0.0.1:{port}", token, loop, thread, runner)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


def seeded(ledger: Ledger) -> ApiContext:
    """Alerts in every status, notifications sent, retried and dead, receipts, a silence."""
    ids = seed(ledger)
    ledger.ack(ids["drop"], "zhang.min", "im", T0 + timedelta(minutes=30), timedelta(minutes=30))
    ledger.resolve(ids["south"], "li.wei", "api", T0 + timedelta(minutes=40))
    sms = Notification("li.wei", "sms", {"to": PHONES[0], "text": "x"})
    for key in ("k-dead", "k-sent", "k-pending"):
        ledger.enqueue(key, sms, T0, alert_id=ids["sms"])
    ledger.claim_due(T0, 2, "w1")
    ledger.record_attempt("k-dead", "permanent", "HTTP 400", T0)
    ledger.record_attempt("k-sent", "sent", "HTTP 202", T0)
    ledger.record_receipt("v-1", "delivered", "DLR 1", T0, key="k-sent")
    ledger.create_silence(to_ledger(['region="north"']), T0, T0 + timedelta(days=1), "li.wei", "maintenance", T0)
    return context(ledger, Clock())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'ledger.db'}"
    else:
        url = fresh_pg_database(request.getfixturevalue("pg_server"))
    with Ledger.open(url) as ledger:
        ctx = seeded(ledger)
        live = LiveApi.start(ctx, tokens(ledger).write)
        try:
            yield live
        finally:
            live.stop()


@pytest.fixture(scope="module")
def live_schema(live_api: LiveApi) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_api.base_url}/openapi.json")


#: (method, path, mode): data that does not fit the schema only where an operation takes any.
CASES = [
    (method.upper(), path, mode)
    for path, methods in openapi()["paths"].items()
    for method, op in methods.items()
    for mode in GenerationMode
    if mode.is_positive or op["parameters"] or "requestBody" in op
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode}" for m, p, mode in CASES])
def test_no_input_causes_a_server_error(
    live_api: LiveApi, live_schema: schemathesis.schemas.BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    operation = live_schema[path][method]
    headers = {"Authorization": f"Bearer {live_api.token}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(base_url=live_api.base_url, headers=headers, checks=[not_a_server_error], timeout=30)

    fuzz()

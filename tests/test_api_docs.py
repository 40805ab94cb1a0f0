"""The API's OpenAPI document describes every JSON route the app serves, and docs/API.md is generated from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alerting.api.app import openapi
from alerting.api.docs import render_markdown
from alerting.ledger import Ledger
from fixtures.api import context, served, tokens

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "API.md"


def test_api_doc_is_generated_from_the_openapi_document() -> None:
    assert API_DOC.read_text(encoding="utf-8") == render_markdown(openapi()), "run: telewatch api docs > docs/API.md"


def test_the_cli_prints_the_api_doc() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "telewatch", "api", "docs"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == render_markdown(openapi())


async def test_the_served_document_lists_every_json_route_of_the_app(ledger: Ledger) -> None:
    token = tokens(ledger).read
    async with served(context(ledger)) as api:
        status, document = await api.get("/openapi.json")
        routes = {
            (route.method.lower(), route.resource.canonical)
            for route in api.client.app.router.routes()
            if route.resource is not None and route.method != "HEAD"
        }
        assert (await api.get("/api/v1/routes", token))[0] == 200
    assert status == 200 and document == openapi()
    assert document["openapi"] == "3.1.0"
    documented = {(method, path) for path, methods in document["paths"].items() for method in methods}
    json_routes = {(m, p) for m, p in routes if p.startswith(("/api/", "/health", "/metrics"))}
    assert documented == json_routes
    writes = [
        (method, path, op) for path, methods in document["paths"].items() for method, op in methods.items()
        if method in ("post", "delete")
    ]  # fmt: skip
    assert writes and all(op["security"] == [{"bearerAuth": []}] and "403" in op["responses"] for _, _, op in writes)
    ack = document["paths"]["/api/v1/alerts/{id}/ack"]["post"]
    assert ack["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AckBody"}
    body = document["components"]["schemas"]["AckBody"]
    assert body["required"] == ["by"] and body["additionalProperties"] is False
    open_paths = ("/health", "/metrics", "/api/v1/receipts/kannel")
    assert all("security" not in document["paths"][path]["get"] for path in open_paths)

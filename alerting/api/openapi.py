"""The OpenAPI 3.1 document of the API, written from the operations' own pydantic models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from alerting.api.operation import Operation
from alerting.api.views import ErrorView

REF = "#/components/schemas/{model}"
SECURITY = "bearerAuth"
#: Each (model, mode)'s reference into the components.
Refs = Mapping[tuple[Any, JsonSchemaMode], Any]
DESCRIPTION = (
    "Alerts, their history and transitions, silences, notifications and delivery receipts of the telewatch "
    "alert ledger, the alerting configuration (phones masked) and the hotline lookup. Reads need an API token "
    "with scope read, writes (POST, DELETE) scope write or admin: `Authorization: Bearer <token>`, made with "
    "`telewatch token create NAME --scope read|write|admin`. Errors are JSON: "
    '`{"error": "what was refused and how to fix it"}`.'
)


def _parameter_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema as a query parameter's: no ``null`` branch (absent means none), no title."""
    found = {k: v for k, v in schema.items() if k not in ("title", "description")}
    branches = found.pop("anyOf", None)
    if branches is not None:
        kept = [b for b in branches if b != {"type": "null"}]
        found |= kept[0] if len(kept) == 1 else {"anyOf": kept}
    if found.get("default", ...) is None:
        del found["default"]
    return found


def _parameters(op: Operation[Any, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = op.params.model_json_schema(mode="validation", ref_template=REF)
    components.update(schema.get("$defs", {}))
    required = set(schema.get("required", ()))
    found = []
    for name, prop in schema.get("properties", {}).items():
        where = "path" if name in op.path_names else "query"
        parameter = {"name": name, "in": where, "required": where == "path" or name in required}
        if "description" in prop:
            parameter["description"] = prop["description"]
        found.append(parameter | {"schema": _parameter_schema(prop)})
    return found


def _answer(op: Operation[Any, Any], refs: Refs) -> dict[str, Any]:
    if op.response is None:
        return {op.media_type: {"schema": {"type": "string"}}}
    return {op.media_type: {"schema": refs[(op.response, "serialization")]}}


def _operation(op: Operation[Any, Any], refs: Refs, components: dict[str, Any]) -> dict[str, Any]:
    error = {"application/json": {"schema": refs[(ErrorView, "serialization")]}}
    responses = {
        str(code): {"description": text, "content": _answer(op, refs) if code == op.status else error}
        for code, text in op.responses().items()
    }
    description = op.handler.__doc__ or ""
    if op.description:
        description += f"\n\n{op.description}"
    if op.scope is not None:
        description += f"\n\nNeeds a token with scope {op.scope}{' (or admin)' if op.scope == 'write' else ''}."
    found: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": description.strip(),
        "tags": [op.tag],
        "parameters": _parameters(op, components),
        "responses": responses,
    }
    if op.body.model_fields:
        found["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    if op.scope is not None:
        found["security"] = [{SECURITY: []}]
    return found


def openapi_document(operations: Sequence[Operation[Any, Any]], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``operations``."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorView, "serialization")]
    models += [(op.body, "validation") for op in operations if op.body.model_fields]
    models += [(op.response, "serialization") for op in operations if op.response is not None]
    refs, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    components: dict[str, Any] = dict(definitions.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "telewatch alerting API", "version": version, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {SECURITY: {"type": "http", "scheme": "bearer"}},
        },
    }

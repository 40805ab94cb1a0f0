"""``docs/API.md``: the OpenAPI document written out as Markdown (generated; a test keeps the file in sync)."""

from __future__ import annotations

import json
from typing import Any

HEADER = """# Alerting REST API

This file is generated from the API's OpenAPI document (`GET /openapi.json` on a running API) by
`telewatch api docs > docs/API.md`; a test fails when the two differ. Run the API with
`telewatch api serve` (see [ALERTING.md](ALERTING.md)).
"""

AUTH = """## Authentication

Reads need an API token with scope `read`; writes (`POST`, `DELETE`) scope `write` or `admin`. Send it as
`Authorization: Bearer <token>`. An operator makes one with `telewatch token create NAME --scope read|write|admin`
(printed once; only its SHA-256 is kept), lists them with `telewatch token list` and revokes one with
`telewatch token revoke NAME`. Without a token, or with an unknown or revoked one: 401; with too small a scope: 403.
`/health`, `/metrics` and `/openapi.json` are open. Kannel's delivery-report callback is authenticated by the
`sig` in the dlr-url telewatch gives Kannel.

Every refusal is JSON, `{"error": "..."}`, naming the parameter or field and the fix. Phone and subscriber
numbers are masked in every answer.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(name: str) -> str:
    return name.lower()


def type_of(schema: dict[str, Any]) -> str:
    """A schema in a few words: ``string (date-time)``, ``list of [AlertView](#alertview)``, ``"a" | "b"``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{_anchor(name)})"
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return " or ".join(type_of(branch) for branch in schema[combinator])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {type_of(schema['additionalProperties'])}"
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def constraints(schema: dict[str, Any]) -> str:
    """The limits a value must keep, in words."""
    found = []
    names = {
        "minLength": "≥ {} chars",
        "maxLength": "≤ {} chars",
        "minimum": "≥ {}",
        "maximum": "≤ {}",
        "minItems": "≥ {} items",
        "maxItems": "≤ {} items",
        "pattern": "matches `{}`",
        "default": "default `{}`",
    }
    for key, words in names.items():
        if key in schema:
            value = schema[key]
            found.append(words.format(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    for branch in schema.get("anyOf", []):
        extra = constraints(branch)
        if extra:
            found.append(extra)
    return ", ".join(found)


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", f"**{op['summary']}.** {op.get('description', '')}".rstrip(), ""]
    if op.get("parameters"):
        lines += ["| parameter | in | type | required | constraints | description |", "|---|---|---|---|---|---|"]
        for p in op["parameters"]:
            schema = p["schema"]
            lines.append(
                f"| `{p['name']}` | {p['in']} | {type_of(schema)} | {'yes' if p['required'] else 'no'} | "
                f"{_cell(constraints(schema))} | {_cell(p.get('description', ''))} |"
            )
        lines.append("")
    if "requestBody" in op:
        body = op["requestBody"]["content"]["application/json"]["schema"]
        lines += [f"Body (JSON): {type_of(body)}", ""]
    lines += ["| status | when | answer |", "|---|---|---|"]
    for status, answer in op["responses"].items():
        content = answer.get("content", {})
        shape = ", ".join(f"{type_of(c['schema'])} ({media})" for media, c in content.items())
        lines.append(f"| {status} | {_cell(answer['description'])} | {shape} |")
    return [*lines, ""]


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"]), ""]
    properties = schema.get("properties", {})
    if not properties:
        return lines
    required = set(schema.get("required", ()))
    lines += ["| field | type | required | constraints | description |", "|---|---|---|---|---|"]
    for field, prop in properties.items():
        lines.append(
            f"| `{field}` | {type_of(prop)} | {'yes' if field in required else 'no'} | "
            f"{_cell(constraints(prop))} | {_cell(prop.get('description', ''))} |"
        )
    return [*lines, ""]


def render_markdown(document: dict[str, Any]) -> str:
    """The Markdown reference of an OpenAPI document: endpoints by tag, then every schema."""
    lines = [HEADER, AUTH]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append((method, path, op))
    for tag, operations in by_tag.items():
        lines += [f"## {tag.capitalize()}", ""]
        for method, path, op in operations:
            lines += _operation(method, path, op)
    lines += ["## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += _schema(name, schema)
    return "\n".join(lines).rstrip() + "\n"

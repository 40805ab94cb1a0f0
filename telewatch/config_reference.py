"""Render the option reference (``docs/CONFIG.md``) from the config schema itself.

The reference is generated, and a test compares it with the committed file,
so an option cannot exist without being documented.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from telewatch.config import Config

HEADER = """# Configuration reference

telewatch reads one YAML file (default `config/telewatch.yaml`, or `--config FILE`,
or the `TELEWATCH_CONFIG` environment variable). Every option has a default, so
an empty file is valid. Unknown options are refused, and every error names the
file, the line and the option: check a file with `telewatch config check FILE`.
Secrets (`password`, `token`) are never printed or logged.

This file is generated from the schema by `telewatch config reference`; a test
fails when the two differ.
"""


class UndocumentedOption(ValueError):
    """A schema field has no description."""


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def _item_model(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """A model inside a list, a map, a list in a map, or an optional (with the path suffix its items get)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and _is_model(args[0]):
        return "[]", args[0]
    if origin is dict:
        inner = _item_model(args[1])
        if inner is not None:
            return ".<name>" + inner[0], inner[1]
        if _is_model(args[1]):
            return ".<name>", args[1]
    if origin is not None and type(None) in args:
        (only,) = [a for a in args if a is not type(None)] or [None]
        if _is_model(only):
            return "", only
        return _item_model(only) if only is not None else None
    return None


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if annotation is SecretStr:
        return "secret string"
    if origin is None:
        return getattr(annotation, "__name__", str(annotation))
    args = get_args(annotation)
    if str(origin) == "typing.Literal":
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    return " \\| ".join(_type_name(a) for a in args if a is not type(None)) + (" or null" if type(None) in args else "")


def _default(info: FieldInfo, name: str, defaults: BaseModel | None) -> str:
    if defaults is not None:
        value = getattr(defaults, name)
    elif info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, SecretStr):
        return "`<secret>`"
    return f"`{json.dumps(value, default=_jsonable)}`"


def _jsonable(value: Any) -> Any:
    return value.model_dump(mode="json", exclude_none=True) if isinstance(value, BaseModel) else str(value)


def _constraints(info: FieldInfo) -> str:
    parts = []
    for meta in info.metadata:
        for name, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "min length")):
            value = getattr(meta, name, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return f" ({', '.join(parts)})" if parts else ""


#: A section to render: its path, the field's description, its model, and the instance holding its defaults.
_Section = tuple[str, str, type[BaseModel], BaseModel | None]


def _rows(model: type[BaseModel], prefix: str, defaults: BaseModel | None, sections: list[_Section]) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        annotation = info.annotation
        if _is_model(annotation):
            nested = getattr(defaults, name) if defaults is not None else info.get_default(call_default_factory=True)
            sections.append((path, info.description or "", annotation, nested))  # type: ignore[arg-type]
            continue
        item = _item_model(annotation)
        if item is not None:
            suffix, model_of_item = item
            title = f"Each item of `{path}`" if suffix else f"`{path}` when given"
            sections.append((f"{path}{suffix}", title, model_of_item, None))
        if not info.description:
            raise UndocumentedOption(f"config option {path} has no description; add Field(description=...)")
        rows.append(
            f"| `{path}` | {_type_name(annotation)}{_constraints(info)} | {_default(info, name, defaults)} "
            f"| {info.description} |"
        )
    return rows


def render_reference() -> str:
    """The whole reference as Markdown."""
    out = [HEADER]
    queue: list[_Section] = []
    _rows(Config, "", Config(), queue)
    first_path: dict[type[BaseModel], str] = {}
    while queue:
        path, title, model, defaults = queue.pop(0)
        if model in first_path:  # a recursive or shared model (a route's routes): said once
            out.append(f"\n## `{path}`: {title}\n\nThe same options as `{first_path[model]}`.")
            continue
        first_path[model] = path
        nested: list[_Section] = []
        rows = _rows(model, f"{path}.", defaults, nested)
        doc = inspect.cleandoc(model.__doc__ or "")
        out.append(f"\n## `{path}`: {title}\n" if title else f"\n## `{path}`\n")
        if doc:
            out.append(doc + "\n")
        if rows:
            out.append("| option | type | default | meaning |\n|---|---|---|---|")
            out.extend(rows)
        queue[0:0] = nested
    return "\n".join(out) + "\n"

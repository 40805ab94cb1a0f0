"""Load YAML configuration into typed, frozen models, with errors that give file, line and fix.

PyYAML's node tree keeps the line of every key; a pydantic error's ``loc`` is
mapped back to that line, so a bad option reads
``telewatch.yaml:12: kafka.topics.calls.partitions: Input should be greater than 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

Loc = tuple[str | int, ...]


class LocatedProblems(ValueError):
    """Problems found by a validator that checks several places at once, each with its own key path.

    Raised inside a model validator, each problem is reported at its own line
    (instead of the validator's section): ``(("detectors", "metrics", "x"), "unknown metric")``.
    """

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(str(p) for p in loc)}: {message}" for loc, message in problems))


class ConfigError(ValueError):
    """A configuration file could not be used; ``problems`` holds one line per fault."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid configuration {source}:\n" + "\n".join(f"  {p}" for p in problems))


def _line_index(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*loc, key), lines)
            lines[(*loc, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_index(item, (*loc, index), lines)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text; return the data and a map from key path to line number."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"{where}: YAML syntax error: {problem}"]) from exc
    lines: dict[Loc, int] = {}
    if node is not None:
        _line_index(node, (), lines)
    return ({} if data is None else data), lines


def _nearest_line(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown option; check its spelling against docs/CONFIG.md"
    if kind == "missing":
        return "required option is missing"
    return message.removeprefix("Value error, ")


def format_errors(exc: ValidationError, source: str, lines: Mapping[Loc, int]) -> list[str]:
    """One ``file:line: path: problem`` line per pydantic error."""
    problems = []
    for error in exc.errors():
        # Tagged unions add the tag name to loc; drop parts that are not YAML keys.
        loc: Loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        cause = error.get("ctx", {}).get("error")
        located = cause.problems if isinstance(cause, LocatedProblems) else [((), _describe(error))]
        for inner, message in located:
            problems.append(_problem_line((*loc, *inner), message, source, lines))
    return problems


def _problem_line(loc: Loc, message: str, source: str, lines: Mapping[Loc, int]) -> str:
    line = _nearest_line(loc, lines)
    where = f"{source}:{line}" if line is not None else source
    path = ".".join(str(part) for part in loc) or "(top level)"
    return f"{where}: {path}: {message}"


def load_model(model: type[M], text: str, source: str) -> M:
    """Validate YAML text against ``model``; raise ConfigError naming lines on failure."""
    data, lines = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError(source, [f"{source}:1: the top level must be a mapping of sections"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, format_errors(exc, source, lines)) from exc


def load_model_file(model: type[M], path: Path) -> M:
    """Read and validate a YAML file against ``model``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"{path}: cannot read: {exc.strerror}"]) from exc
    return load_model(model, text, str(path))

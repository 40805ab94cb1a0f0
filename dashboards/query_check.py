"""Run every panel query of the dashboards against an InfluxDB, the way Grafana would, and say which panels
would be empty or malformed.

Grafana itself is not needed: the template variables are resolved from their
own queries (``SHOW TAG VALUES …``) in dashboard order, then substituted as the
InfluxDB plugin interpolates them (a filter with All gives its all-value
``.*``, chosen values of a multi-value variable give ``(a|b)`` with regex
characters escaped, a single-value variable gives its value as it is), and
``$timeFilter`` / ``$__interval`` become the chosen range and bucket.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

#: One InfluxQL statement → the ``results[0]`` object of InfluxDB's ``/query`` answer.
Runner = Callable[[str], dict[str, Any]]

_VARIABLE = re.compile(r"\$(\w+)")
_REGEX_SPECIAL = re.compile(r"([\\/^$.|?*+()\[\]{}])")


class InfluxUnreachable(Exception):
    """InfluxDB could not be asked (the message names its URL and why)."""


class InfluxQuery:
    """Runs InfluxQL on an InfluxDB 1.x ``/query`` endpoint (or 2.x/3.x's v1-compatible one)."""

    def __init__(self, url: str, database: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/") + "/query"
        self.database = database
        self.timeout_s = timeout_s

    def __call__(self, statement: str) -> dict[str, Any]:
        """The statement's result; a query error is returned as ``{"error": ...}``, like InfluxDB does."""
        where = self.url.removesuffix("/query")
        try:
            answer = requests.post(
                self.url, data={"db": self.database, "q": statement, "epoch": "ms"}, timeout=self.timeout_s
            )
            if answer.status_code >= 500:
                answer.raise_for_status()
            body = answer.json()
        except requests.ConnectionError as exc:
            raise InfluxUnreachable(f"no InfluxDB answers at {where} (connection refused or no route)") from exc
        except requests.Timeout as exc:
            raise InfluxUnreachable(f"InfluxDB at {where} did not answer within {self.timeout_s:g} s") from exc
        except (requests.RequestException, ValueError) as exc:
            raise InfluxUnreachable(f"{where} does not answer like InfluxDB's /query: {exc}") from exc
        if "error" in body:
            return {"error": body["error"]}
        result: dict[str, Any] = body["results"][0]
        return result


@dataclass(frozen=True)
class Variable:
    """A template variable as the check uses it."""

    name: str
    multi: bool
    all_value: str | None
    query: str | None
    current: str
    #: Fixed options (custom variables).
    options: tuple[str, ...] = ()


@dataclass
class Finding:
    """One query run: where it comes from, the statement, and what was wrong (empty: nothing)."""

    board: str
    panel: str
    statement: str
    problem: str = ""


@dataclass
class Scope:
    """Chosen values: variable name → None (All) or the values picked."""

    values: dict[str, list[str] | None] = field(default_factory=dict)


def variables_of(board: dict[str, Any]) -> list[Variable]:
    """The dashboard's template variables, in order."""
    found = []
    for v in board.get("templating", {}).get("list", []):
        current = v.get("current", {}).get("value", "")
        options = tuple(str(o["value"]) for o in v.get("options", []) if v.get("type") == "custom")
        query = v.get("query") if v.get("type") == "query" else None
        found.append(Variable(v["name"], bool(v.get("multi")), v.get("allValue"), query, str(current), options))
    return found


def interpolate(text: str, variables: list[Variable], scope: Scope, time_filter: str, interval: str) -> str:
    """``text`` with the macros and variables replaced as Grafana's InfluxDB plugin does."""
    by_name = {v.name: v for v in variables}

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name == "timeFilter":
            return time_filter
        if name == "__interval":
            return interval
        variable = by_name.get(name)
        if variable is None:
            return match[0]
        chosen = scope.values.get(name)
        if chosen is None:
            return variable.all_value or ".*"
        if variable.multi:
            escaped = [_REGEX_SPECIAL.sub(r"\\\1", c) for c in chosen]
            return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        return chosen[0]

    return _VARIABLE.sub(value, text)


def time_filter(start: datetime, end: datetime) -> str:
    """``$timeFilter`` for a range, as Grafana writes it (epoch milliseconds)."""
    return f"time >= {int(start.timestamp() * 1000)}ms and time <= {int(end.timestamp() * 1000)}ms"


def resolve(
    board: dict[str, Any], run: Runner, time_range: str, interval: str
) -> tuple[list[Variable], Scope, dict[str, list[str]]]:
    """Each variable's options from its query, and the default scope: filters on All, single values on their
    saved current value when it is an option, else the first option (Grafana's rule)."""
    variables = variables_of(board)
    scope = Scope()
    options: dict[str, list[str]] = {}
    for v in variables:
        if v.query is None:
            options[v.name] = list(v.options)
        else:
            result = run(interpolate(v.query, variables, scope, time_range, interval))
            options[v.name] = sorted({str(row[-1]) for s in result.get("series", []) for row in s["values"]})
        if v.multi:
            scope.values[v.name] = None
        else:
            found = options[v.name]
            scope.values[v.name] = [v.current if v.current in found or not found else found[0]]
    return variables, scope, options


def panels_of(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too (rows themselves are not panels with queries)."""
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def shape_problem(panel: dict[str, Any], target: dict[str, Any], result: dict[str, Any]) -> str:
    """What is wrong with a query's result for its panel ('' when it has data of the expected shape)."""
    if "error" in result:
        return f"InfluxDB refused it: {result['error']}"
    series = result.get("series", [])
    if not series:
        return "no data"
    if target.get("resultFormat") == "table":
        return "" if any(s["values"] for s in series) else "no rows"
    for s in series:
        if s["columns"][0] != "time":
            return f"not a time series (first column {s['columns'][0]!r})"
    numbers = [
        x
        for s in series
        for row in s["values"]
        for x in row[1:]
        if isinstance(x, int | float) and not isinstance(x, bool)
    ]
    if not numbers:
        return "only nulls: nothing to draw"
    for tag in re.findall(r"\$tag_(\w+)", target.get("alias", "")):
        if not any(tag in (s.get("tags") or {}) for s in series):
            return f"the legend uses $tag_{tag} but the query does not group by {tag!r}"
    return ""


def _refused(result: dict[str, Any]) -> str:
    return f"InfluxDB refused it: {result['error']}" if "error" in result else ""


def check_board(
    board: dict[str, Any], run: Runner, time_range: str, interval: str, values_per_variable: int = 5
) -> list[Finding]:
    """Run each panel's queries with the default scope: the first (the panel's main series) must have data of
    the shape the panel draws, the others (overlays such as anomaly markers) must run. Then each query with each
    variable set to each of (up to ``values_per_variable`` of) its values, and each annotation query: they must
    run."""
    variables, default, options = resolve(board, run, time_range, interval)
    findings: list[Finding] = []
    title = board.get("title", board.get("uid", "?"))
    for panel in panels_of(board):
        for i, target in enumerate(panel.get("targets", [])):
            statement = interpolate(target["query"], variables, default, time_range, interval)
            result = run(statement)
            problem = shape_problem(panel, target, result) if i == 0 else _refused(result)
            findings.append(Finding(title, panel["title"], statement, problem))
            for v in variables:
                if f"${v.name}" not in target["query"]:
                    continue
                for choice in options[v.name][:values_per_variable]:
                    scope = Scope({**default.values, v.name: [choice]})
                    other = interpolate(target["query"], variables, scope, time_range, interval)
                    findings.append(
                        Finding(title, f"{panel['title']} [{v.name}={choice}]", other, _refused(run(other)))
                    )
    for annotation in board.get("annotations", {}).get("list", []):
        query = (annotation.get("target") or {}).get("query")
        if query:
            statement = interpolate(query, variables, default, time_range, interval)
            findings.append(Finding(title, f"annotation {annotation['name']}", statement, _refused(run(statement))))
    return findings

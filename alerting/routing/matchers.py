"""Label matchers, as Alertmanager writes them: ``region="north"``, ``severity!="warning"``, ``metric=~"sms_.*"``.

>>> m = Matcher.parse('metric=~"sms_.*"')
>>> m.matches({"metric": "sms_delivery_success_rate"}), m.matches({"metric": "call_drop_rate"})
(True, False)
>>> Matcher.parse("severity!=warning").matches({})  # a missing label is the empty string
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*$')
#: Escapes inside a quoted value; any other backslash pair (``\d`` in a regex) is kept as written.
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _unescape(quoted: str) -> str:
    r"""The value inside double quotes with its escapes read (any script, e.g. ``region="华北"``).

    >>> _unescape(r'a\"b\\c\d'), _unescape("华北")
    ('a"b\\c\\d', '华北')
    """
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), quoted)


@dataclass(frozen=True)
class Matcher:
    """One label condition; regular expressions are anchored, as in Alertmanager."""

    label: str
    op: Op
    value: str
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_pattern", re.compile(f"^(?:{self.value})$"))
            except re.error as exc:
                raise ValueError(
                    f"matcher {self.label}{self.op}{self.value!r}: bad regular expression: {exc}"
                ) from None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """A matcher from ``label<op>value`` (the value optionally in double quotes)."""
        found = _MATCHER.match(text)
        if not found:
            raise ValueError(
                f'matcher {text!r}: write label=value, label!=value, label=~regex or label!~regex (e.g. region="north")'
            )
        label, op, quoted, bare = found.groups()
        value = _unescape(quoted) if quoted is not None else bare
        return cls(label, op, value)  # type: ignore[arg-type]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the labels satisfy this matcher (a missing label is the empty string)."""
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._pattern is not None
        hit = self._pattern.match(actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        """The matcher as written in a config: ``parse(str(m)) == m``."""
        return written(self.label, self.op, self.value)


def written(label: str, op: Op, value: str) -> str:
    r"""A matcher as written in a config, the value quoted with its quotes and backslashes escaped.

    >>> written("region", "=", 'a"b')
    'region="a\\"b"'
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{label}{op}"{escaped}"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches (no matchers: everything)."""
    return all(m.matches(labels) for m in matchers)

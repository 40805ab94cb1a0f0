"""Silence matchers between their written form (``region="north"``, ``metric=~"sms_.*"``) and the ledger's.

>>> [to_text(m) for m in to_ledger(['region="north"', 'metric!~"sms_.*"'])]
['region="north"', 'metric!~"sms_.*"']
>>> to_ledger(["region"])
Traceback (most recent call last):
...
ValueError: matchers[0]: matcher 'region': write label=value, label!=value, label=~regex or label!~regex (e.g. region="north")
"""

from __future__ import annotations

from collections.abc import Sequence

from alerting.ledger import Matcher as LedgerMatcher
from alerting.routing.matchers import Matcher, Op, written


def to_ledger(texts: Sequence[str]) -> tuple[LedgerMatcher, ...]:
    """The ledger's matchers for written ones; ValueError names the first bad one by position and text."""
    found: list[LedgerMatcher] = []
    for index, text in enumerate(texts):
        try:
            parsed = Matcher.parse(text)
        except ValueError as error:
            raise ValueError(f"matchers[{index}]: {error}") from None
        found.append(
            LedgerMatcher(
                parsed.label, parsed.value, is_regex=parsed.op in ("=~", "!~"), is_equal=parsed.op in ("=", "=~")
            )
        )
    return tuple(found)


def to_text(matcher: LedgerMatcher) -> str:
    """The written form of a ledger matcher."""
    op: Op = ("=~" if matcher.is_equal else "!~") if matcher.is_regex else ("=" if matcher.is_equal else "!=")
    return written(matcher.label, op, matcher.value)

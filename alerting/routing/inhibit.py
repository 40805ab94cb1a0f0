"""Inhibit rules: a firing alert mutes others, e.g. a region-wide outage mutes the alerts of its cells.

A rule mutes a *target* alert when some other firing *source* alert matches
the source matchers, the target matches the target matchers, and both have the
same values for every label in ``equal`` (as in Alertmanager, an alert never
inhibits itself).

>>> rule = InhibitRule.model_validate({
...     "source_matchers": ['scope="region"', 'severity="critical"'],
...     "target_matchers": ['scope="cell"'],
...     "equal": ["region", "metric"],
... })
>>> outage = {"scope": "region", "severity": "critical", "region": "north", "metric": "call_setup_success_rate"}
>>> cell = {"scope": "cell", "region": "north", "cell": "c7", "metric": "call_setup_success_rate"}
>>> Inhibitor([rule]).inhibited(cell, [outage, cell]), Inhibitor([rule]).inhibited(cell, [cell])
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import Field, field_validator

from alerting.routing.matchers import Matcher, matches_all
from core.settings import Section


class InhibitRule(Section):
    """One rule of ``alerting.inhibit_rules``."""

    source_matchers: list[str] = Field(min_length=1, description="The muting alert matches all of these")
    target_matchers: list[str] = Field(min_length=1, description="The muted alert matches all of these")
    equal: list[str] = Field(default_factory=list, description="Labels both alerts must have the same values of")

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        for text in value:
            Matcher.parse(text)
        return value


class Inhibitor:
    """The configured inhibit rules, parsed once."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self._rules = [
            (tuple(map(Matcher.parse, r.source_matchers)), tuple(map(Matcher.parse, r.target_matchers)), tuple(r.equal))
            for r in rules
        ]

    def inhibited(self, target: Mapping[str, str], firing: Sequence[Mapping[str, str]]) -> bool:
        """Whether any firing alert (other than ``target``) mutes ``target``."""
        for sources, targets, equal in self._rules:
            if not matches_all(targets, target):
                continue
            for source in firing:
                if source is target or source == target:
                    continue
                if matches_all(sources, source) and all(source.get(n, "") == target.get(n, "") for n in equal):
                    return True
        return False

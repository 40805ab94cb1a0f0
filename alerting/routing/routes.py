"""The route tree: which receiver an alert goes to, grouped how, with Alertmanager's semantics and defaults.

Every alert enters at the root (which matches everything). Children are tried
in order; the first whose matchers all match takes the alert, and its own
children are tried in turn. A child with ``continue: true`` lets the
following siblings be tried too. When no child takes an alert the route
itself does. Options not set on a route are inherited from its parent:
``receiver``, ``group_by`` (``["..."]``: every label), ``group_wait`` (30 s),
``group_interval`` (5 min), ``repeat_interval`` (4 h) and the time intervals.

>>> tree = RouteSpec.model_validate({
...     "receiver": "noc", "group_by": ["metric"],
...     "routes": [
...         {"matchers": ['metric=~"sms_.*"'], "receiver": "sms-owners", "continue": True},
...         {"matchers": ['severity="critical"'], "receiver": "duty-manager"},
...     ],
... })
>>> [r.receiver for r in Router(tree).routes_for({"metric": "sms_delivery_success_rate", "severity": "critical"})]
['sms-owners', 'duty-manager']
>>> [r.receiver for r in Router(tree).routes_for({"metric": "call_drop_rate"})]
['noc']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field, field_validator

from alerting.routing.matchers import Matcher, matches_all
from core.durations import parse_duration
from core.settings import Section

#: Alertmanager's defaults.
GROUP_WAIT_S = 30.0
GROUP_INTERVAL_S = 300.0
REPEAT_INTERVAL_S = 4 * 3600.0
#: ``group_by: ["..."]`` groups by every label.
ALL_LABELS = "..."


class RouteSpec(Section):
    """One node of the route tree in the config (``alerting.route``)."""

    receiver: str | None = Field(
        default=None, description="Receiver: an owner name (alerting.owners.owners); inherited"
    )
    matchers: list[str] = Field(default_factory=list, description='Label matchers, all must match: region="north"')
    continue_: bool = Field(default=False, alias="continue", description="Also try the following sibling routes")
    group_by: list[str] | None = Field(default=None, description='Labels an alert group shares; ["..."]: all labels')
    group_wait: str | None = Field(default=None, description="Wait before the first notification of a new group (30s)")
    group_interval: str | None = Field(default=None, description="Wait before notifying a group's changes (5m)")
    repeat_interval: str | None = Field(default=None, description="Wait before repeating an unchanged group (4h)")
    mute_time_intervals: list[str] | None = Field(default=None, description="Named time intervals when muted")
    active_time_intervals: list[str] | None = Field(default=None, description="Named time intervals when active")
    routes: list[RouteSpec] = Field(default_factory=list, description="Child routes, tried in order")

    model_config = Section.model_config | {"populate_by_name": True}

    @field_validator("matchers")
    @classmethod
    def _parse_matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            Matcher.parse(text)
        return value

    @field_validator("group_wait", "group_interval", "repeat_interval")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


@dataclass(frozen=True)
class Route:
    """A route with everything inherited filled in; ``path`` names it (``0.2.1``: root, 3rd child, 2nd child)."""

    path: str
    receiver: str
    matchers: tuple[Matcher, ...]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]
    children: tuple[Route, ...]

    def group_key(self, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The labels that make an alert's group on this route."""
        names = sorted(labels) if ALL_LABELS in self.group_by else self.group_by
        return tuple((name, labels.get(name, "")) for name in names)


def _resolve(spec: RouteSpec, parent: Route | None, path: str) -> Route:
    def pick(own: str | None, inherited: float, default: float) -> float:
        return parse_duration(own) if own is not None else (inherited if parent else default)

    receiver = spec.receiver or (parent.receiver if parent else None)
    if receiver is None:
        raise ValueError("route: the root route needs a receiver")
    node = Route(
        path=path,
        receiver=receiver,
        matchers=tuple(Matcher.parse(m) for m in spec.matchers),
        continue_=spec.continue_,
        group_by=tuple(spec.group_by) if spec.group_by is not None else (parent.group_by if parent else ()),
        group_wait_s=pick(spec.group_wait, parent.group_wait_s if parent else 0.0, GROUP_WAIT_S),
        group_interval_s=pick(spec.group_interval, parent.group_interval_s if parent else 0.0, GROUP_INTERVAL_S),
        repeat_interval_s=pick(spec.repeat_interval, parent.repeat_interval_s if parent else 0.0, REPEAT_INTERVAL_S),
        mute_time_intervals=tuple(spec.mute_time_intervals)
        if spec.mute_time_intervals is not None
        else (parent.mute_time_intervals if parent else ()),
        active_time_intervals=tuple(spec.active_time_intervals)
        if spec.active_time_intervals is not None
        else (parent.active_time_intervals if parent else ()),
        children=(),
    )
    children = tuple(_resolve(child, node, f"{path}.{i}") for i, child in enumerate(spec.routes))
    return Route(**{**node.__dict__, "children": children})


class Router:
    """The resolved route tree of a config."""

    def __init__(self, spec: RouteSpec) -> None:
        self.root = _resolve(spec, None, "0")

    def routes_for(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes that take an alert with these labels (at least one: the root takes what no child does)."""
        return _walk(self.root, labels)

    def receivers(self) -> set[str]:
        """Every receiver the tree names (to check against the owners registry)."""
        found: set[str] = set()
        stack = [self.root]
        while stack:
            route = stack.pop()
            found.add(route.receiver)
            stack.extend(route.children)
        return found


def _walk(route: Route, labels: Mapping[str, str]) -> list[Route]:
    taken: list[Route] = []
    for child in route.children:
        if matches_all(child.matchers, labels):
            taken.extend(_walk(child, labels))
            if not child.continue_:
                break
    return taken or [route]

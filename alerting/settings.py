"""The ``alerting:`` section of the config: owners, routes, inhibition, time intervals, SMS budget, timeouts."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from alerting.api.settings import ApiSettings
from alerting.notify.settings import SmsSettings
from alerting.owners import OwnersRegistry
from alerting.pipeline.budget import SmsBudgetSettings
from alerting.pipeline.delivery_settings import DeliverySettings
from alerting.routing.inhibit import InhibitRule
from alerting.routing.routes import Router, RouteSpec
from alerting.routing.time_intervals import TimeInterval
from core.durations import parse_duration
from core.settings import Section

#: The receiver of alerts no owner matches when no route tree is configured.
DEFAULT_RECEIVER = "noc"


class AlertingSettings(Section):
    """How alerts reach people (see docs/ALERTING.md)."""

    owners: OwnersRegistry = Field(
        default_factory=OwnersRegistry, description="People, IM groups, rotations, escalation chains and owners"
    )
    route: RouteSpec | None = Field(
        default=None,
        description="Route tree; receivers are owner names (default: one route per owner, in order, then 'noc')",
    )
    inhibit_rules: list[InhibitRule] = Field(default_factory=list, description="Alerts that mute others")
    time_intervals: list[TimeInterval] = Field(default_factory=list, description="Named intervals routes refer to")
    sms_budget: SmsBudgetSettings = Field(default_factory=SmsBudgetSettings, description="SMS capacity by calendar")
    ack_timeout: str = Field(default="30m", description="An acknowledged alert not resolved by then fires again")
    resolve_after_windows: int = Field(
        default=5, ge=1, le=1000, description="An alert resolves itself after its series is normal this many windows"
    )
    ledger_url: str | None = Field(
        default=None,
        description="The alert ledger: sqlite:///path.db (one alerting worker) or postgresql://user@host/db "
        "(several); default: sqlite in stack.home/ledger.db",
    )
    sms: SmsSettings = Field(default_factory=SmsSettings, description="The SMS gateway owners' phones are reached by")
    delivery: DeliverySettings = Field(default_factory=DeliverySettings, description="Retries of notifications")
    api: ApiSettings = Field(default_factory=ApiSettings, description="REST API, ack links and pages")
    quiet_hours: str | None = Field(
        default=None,
        description="A time interval (of time_intervals) when SMS carry only critical alerts; IM groups get all",
    )

    def route_tree(self) -> RouteSpec:
        """The configured route tree, or the default: one route per owner (its matchers), in order, then 'noc'."""
        if self.route is not None:
            return self.route
        children = [RouteSpec(receiver=name, matchers=owner.matchers) for name, owner in self.owners.owners.items()]
        return RouteSpec(receiver=DEFAULT_RECEIVER, routes=children)

    @field_validator("ack_timeout")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _references(self) -> AlertingSettings:
        intervals = {t.name for t in self.time_intervals}
        if self.quiet_hours is not None and self.quiet_hours not in intervals:
            raise ValueError(
                f"quiet_hours: time interval {self.quiet_hours!r} is not defined; time_intervals: "
                f"{', '.join(sorted(intervals)) or 'none'}"
            )
        if self.route is None:
            return self
        owners = set(self.owners.owners)
        for receiver in sorted(Router(self.route).receivers()):
            if receiver not in owners:
                raise ValueError(
                    f"route: receiver {receiver!r} is not an owner; owners: {', '.join(sorted(owners)) or 'none'}"
                )
        stack = [self.route]
        while stack:
            spec = stack.pop()
            for name in (spec.mute_time_intervals or []) + (spec.active_time_intervals or []):
                if name not in intervals:
                    raise ValueError(
                        f"route: time interval {name!r} is not defined; time_intervals: "
                        f"{', '.join(sorted(intervals)) or 'none'}"
                    )
            stack.extend(spec.routes)
        return self

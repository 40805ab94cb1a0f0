"""The owners registry: who leads each metric or complaint category, how to reach them, and how to escalate.

Operators name a lead department and named people per metric (the domain
brief's "named owner"). An *owner* entry matches alerts by label matchers
(``metric="sms_delivery_success_rate"``, ``category="network"``) and names its
department, people, IM groups and escalation chain. People carry a phone, IM
groups and a language (``zh`` or ``en``); an escalation chain is a list of
steps: ``notify`` people and groups, ``wait`` a while, ``notify_oncall`` of a
rotation, and a final ``repeat`` (at most N times) of the chain so far.

Secrets (robot keys, signing secrets) are never in the file: an IM group names
the environment variable that holds them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from alerting.routing.matchers import Matcher, matches_all
from core.durations import parse_duration
from core.settings import Section

_PHONE = re.compile(r"^\+?\d{6,15}$")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class Person(Section):
    """Someone who receives alerts."""

    name: str = Field(min_length=1, description="Name shown in messages and on the ack page, e.g. 李伟")
    phone: str = Field(description="Mobile number for SMS, digits with an optional +, e.g. 8613800000001")
    language: Literal["zh", "en"] = Field(default="zh", description="Language of this person's messages")
    im_groups: list[str] = Field(default_factory=list, description="IM groups this person is @-mentioned in")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not _PHONE.match(value):
            raise ValueError(f"phone {value!r} must be 6-15 digits with an optional leading + (e.g. 8613800000001)")
        return value


class ImGroup(Section):
    """An IM group reached through its robot."""

    kind: Literal["wecom", "dingtalk", "feishu", "slack"] = Field(description="The robot's vendor")
    url: str | None = Field(default=None, description="The vendor's base URL (default: the vendor's own)")
    token_env: str = Field(description="Environment variable holding the robot's key / access token / webhook path")
    secret_env: str | None = Field(default=None, description="Environment variable holding the signing secret")
    language: Literal["zh", "en"] = Field(default="zh", description="Language of the group's messages")

    @field_validator("token_env", "secret_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV.match(value):
            raise ValueError(f"{value!r} must be an environment variable name (A-Z, 0-9, _), e.g. TW_WECOM_NOC_KEY")
        return value


class Notify(Section):
    """Escalation step: message these people (SMS) and groups (IM)."""

    people: list[str] = Field(default_factory=list, description="People (keys of alerting.people)")
    groups: list[str] = Field(default_factory=list, description="IM groups (keys of alerting.im_groups)")


class Step(Section):
    """One escalation step: exactly one of notify, wait, notify_oncall, repeat."""

    notify: Notify | None = Field(default=None, description="Message people and groups")
    wait: str | None = Field(default=None, description="Wait this long (e.g. 15m) for an acknowledgement")
    notify_oncall: str | None = Field(default=None, description="Message whoever is on call in this rotation")
    repeat: int | None = Field(default=None, ge=1, le=10, description="Run the chain again, at most N more times")

    @model_validator(mode="after")
    def _one(self) -> Step:
        given = [n for n in ("notify", "wait", "notify_oncall", "repeat") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"a step is exactly one of notify, wait, notify_oncall, repeat; this one has {given}")
        if self.wait is not None:
            parse_duration(self.wait)
        return self


class Rotation(Section):
    """An on-call rotation: people take turns, one shift each, from ``start``."""

    people: list[str] = Field(min_length=1, description="People in turn order")
    shift: str = Field(default="7d", description="Length of a shift (e.g. 1d, 7d)")
    start: datetime = Field(description="When the first person's first shift began (with a time zone)")

    def on_call(self, now: datetime) -> str:
        """Who is on call at ``now``."""
        shifts = int((now - self.start).total_seconds() // parse_duration(self.shift))
        return self.people[shifts % len(self.people)]


class Owner(Section):
    """The lead department and people of the alerts its matchers match."""

    matchers: list[str] = Field(min_length=1, description='Alerts it owns: e.g. [metric="sms_delivery_success_rate"]')
    department: str = Field(min_length=1, description="Lead department, e.g. 短信中心 (SMS centre)")
    people: list[str] = Field(min_length=1, description="Named owners (keys of alerting.people), first is the lead")
    groups: list[str] = Field(default_factory=list, description="IM groups told of every alert it owns")
    escalation: str | None = Field(default=None, description="Escalation chain (key of alerting.escalations)")
    explanation: str = Field(default="", description="Script for hotline agents while an incident it owns is open")

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            Matcher.parse(text)
        return value

    def owns(self, labels: Mapping[str, str]) -> bool:
        """Whether this owner's matchers all match."""
        return matches_all([Matcher.parse(m) for m in self.matchers], labels)


class OwnersRegistry(Section):
    """People, IM groups, rotations, escalation chains and owners (checked against each other)."""

    people: dict[str, Person] = Field(default_factory=dict, description="People by id, e.g. li.wei")
    im_groups: dict[str, ImGroup] = Field(default_factory=dict, description="IM groups by name")
    rotations: dict[str, Rotation] = Field(default_factory=dict, description="On-call rotations by name")
    escalations: dict[str, list[Step]] = Field(default_factory=dict, description="Escalation chains by name")
    owners: dict[str, Owner] = Field(default_factory=dict, description="Owners by name; the first that matches owns")

    @model_validator(mode="after")
    def _references(self) -> OwnersRegistry:
        def check(kind: str, names: list[str], known: Mapping[str, object], where: str) -> None:
            for name in names:
                if name not in known:
                    listed = ", ".join(sorted(known)) or "none"
                    raise ValueError(f"{where}: unknown {kind} {name!r}; known: {listed}")

        for pid, person in self.people.items():
            check("IM group", person.im_groups, self.im_groups, f"people.{pid}.im_groups")
        for rid, rotation in self.rotations.items():
            check("person", rotation.people, self.people, f"rotations.{rid}.people")
        for eid, steps in self.escalations.items():
            for i, step in enumerate(steps):
                if step.notify is not None:
                    check("person", step.notify.people, self.people, f"escalations.{eid}.{i}.notify.people")
                    check("IM group", step.notify.groups, self.im_groups, f"escalations.{eid}.{i}.notify.groups")
                if step.notify_oncall is not None:
                    check("rotation", [step.notify_oncall], self.rotations, f"escalations.{eid}.{i}.notify_oncall")
                if step.repeat is not None and i != len(steps) - 1:
                    raise ValueError(f"escalations.{eid}.{i}: repeat must be the last step")
                if step.repeat is not None and not any(s.wait is not None for s in steps):
                    raise ValueError(
                        f"escalations.{eid}: a chain that repeats needs a wait step, or it repeats at once"
                    )
        for oid, owner in self.owners.items():
            check("person", owner.people, self.people, f"owners.{oid}.people")
            check("IM group", owner.groups, self.im_groups, f"owners.{oid}.groups")
            if owner.escalation is not None:
                check("escalation chain", [owner.escalation], self.escalations, f"owners.{oid}.escalation")
        return self

    def owner_of(self, labels: Mapping[str, str]) -> tuple[str, Owner] | None:
        """The first owner whose matchers match (its name and entry), or None."""
        for name, owner in self.owners.items():
            if owner.owns(labels):
                return name, owner
        return None

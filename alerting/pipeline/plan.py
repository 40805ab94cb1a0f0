"""Who is told what: the notifications of a group flush, an escalation step, or a person's transition.

A receiver (an owner) is told through its people (SMS, each in their own
language, under the SMS budget) and its IM groups (everything, with its people
@-mentioned). The outbox payload is the rendered message; a phone number is
looked up only when it is sent, so the ledger names people, not numbers.
Quiet hours (``alerting.quiet_hours``) keep non-critical alerts off SMS; IM
groups still get them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from alerting.ack_links import AckLinks
from alerting.ledger import Alert, Notification
from alerting.notify.base import Message
from alerting.owners import Owner
from alerting.pipeline.budget import BudgetUse, capacity_of, day_start, decide, template_of
from alerting.pipeline.escalate import Target
from alerting.render import AlertView, Language, render, render_group
from alerting.settings import AlertingSettings
from core.durations import parse_duration

#: Outbox channels.
SMS, SMS_DIGEST, IM = "sms", "sms_digest", "im"
#: How many SMS a channel or recipient has had since a time (the ledger's outbox counts them).
CountQueued = Callable[[str, datetime, "str | None"], int]


def payload_of(message: Message, mentions: Sequence[str] = ()) -> dict[str, Any]:
    """A message as the outbox keeps it (no phone number: ``mentions`` are person ids)."""
    fields = asdict(message)
    return {k: fields[k] for k in ("title", "text", "link", "severity")} | {"mentions": list(mentions)}


class Planner:
    """Builds notifications from the alerting settings (see the module docstring)."""

    def __init__(self, settings: AlertingSettings, links: AckLinks | None, sms_channel: str) -> None:
        self.settings = settings
        self.links = links
        self.sms_channel = sms_channel

    def view(self, alert: Alert, comment: str = "") -> AlertView:
        """The facts of ``alert`` a message is made of."""
        labels = {k: str(v) for k, v in alert.labels.items()}
        notes = alert.annotations or {}
        owned = self.settings.owners.owner_of(labels)
        department, lead = "", ""
        if owned is not None:
            department = owned[1].department
            person = self.settings.owners.people.get(owned[1].people[0])
            lead = person.name if person is not None else owned[1].people[0]
        area = {k: v for k, v in labels.items() if k in ("region", "cell_id", "channel", "kind", "category")}
        expected = alert.expected if alert.expected is not None else alert.value
        return AlertView(
            alert_id=str(alert.id),
            status=alert.status,
            severity=str(notes.get("severity", labels.get("severity", "warning"))),
            metric=labels.get("metric", ""),
            area=area,
            value=alert.value,
            expected=expected,
            lower=float(notes.get("lower", expected)),
            upper=float(notes.get("upper", expected)),
            started_at=alert.started_at,
            department=department,
            lead=lead,
            scenario=labels.get("scenario"),
            comment=comment,
        )

    def _link(self, alert: Alert, person: str | None, now: datetime) -> str | None:
        if self.links is None:
            return None
        expires = int((now + timedelta(seconds=parse_duration(self.settings.api.link_ttl))).timestamp())
        return self.links.url(str(alert.id), "ack", expires, person=person)

    def _sms(self, person_id: str, alerts: Sequence[Alert], now: datetime, count: CountQueued) -> list[Notification]:
        person = self.settings.owners.people.get(person_id)
        if person is None or self.settings.sms.gateway == "none":
            return []
        severity = _worst(alerts)
        quiet = self.settings.quiet_hours
        if quiet is not None and severity != "critical" and self._interval(quiet, now):
            return []
        top = _top(alerts)
        message = render_group([self.view(a) for a in alerts], person.language, self._link(top, person_id, now), key="")
        decision = decide(
            self.settings.sms_budget,
            self.sms_channel,
            severity,
            now,
            self.sms_sent_today(now, count),
            count(SMS, now - timedelta(hours=1), person_id),
        )
        payload = payload_of(message) | ({"budget": decision.reason} if decision.reason else {})
        if decision.action == "digest":
            return [Notification(person_id, SMS_DIGEST, payload, not_before=decision.reopens_at)]
        return [Notification(person_id, SMS, payload)]

    def sms_sent_today(self, now: datetime, count: CountQueued) -> int:
        """The alert SMS counted against the SMS channel's budget on ``now``'s calendar day (the budget's count)."""
        return count(SMS, day_start(now, self.settings.sms_budget.location), None)

    def sms_budgets(self, now: datetime, count: CountQueued) -> list[BudgetUse]:
        """The budget of every SMS channel the config knows on ``now``'s day: the one people's SMS go through
        (unless ``alerting.sms.gateway`` is none), with what :func:`decide` counts, and each other sender id of
        ``sms_budget.per_channel``, through which nothing is sent (0)."""
        budget = self.settings.sms_budget
        day = day_start(now, budget.location).date()
        channels = set(budget.per_channel)
        if self.settings.sms.gateway != "none":
            channels.add(self.sms_channel)
        found = []
        for channel in sorted(channels):
            sent = self.sms_sent_today(now, count) if channel == self.sms_channel else 0
            found.append(BudgetUse(channel, day, template_of(day), capacity_of(budget, channel, day), sent))
        return found

    def _im(self, group: str, alerts: Sequence[Alert], mention: Sequence[str], now: datetime) -> list[Notification]:
        settings = self.settings.owners.im_groups.get(group)
        if settings is None:
            return []
        language: Language = settings.language
        message = render_group([self.view(a) for a in alerts], language, self._link(_top(alerts), None, now), key="")
        members = [p for p in mention if group in self.settings.owners.people[p].im_groups]
        return [Notification(group, IM, payload_of(message, members))]

    def for_receiver(
        self, receiver: str, alerts: Sequence[Alert], now: datetime, count: CountQueued
    ) -> list[Notification]:
        """A group flush to ``receiver`` (an owner name): its people by SMS and its IM groups."""
        owner = self.settings.owners.owners.get(receiver)
        if owner is None or not alerts:
            return []
        found: list[Notification] = []
        for person in owner.people:
            found += self._sms(person, alerts, now, count)
        for group in owner.groups:
            found += self._im(group, alerts, owner.people, now)
        return found

    def for_targets(
        self, alert: Alert, targets: Sequence[Target], now: datetime, count: CountQueued
    ) -> list[Notification]:
        """An escalation step: people by SMS, groups by IM (the alert's owner's people @-mentioned)."""
        owner = self.owner(alert)
        found: list[Notification] = []
        for target in targets:
            if target.kind == "person":
                found += self._sms(target.who, [alert], now, count)
            else:
                found += self._im(target.who, [alert], owner.people if owner else [], now)
        return found

    def for_person(self, alert: Alert, by: str, transition: Literal["acknowledged", "resolved"]) -> list[Notification]:
        """A person acknowledged or resolved ``alert`` (given as it was before): its owner's IM groups are told
        who did, with the alert in its new status."""
        owner = self.owner(alert)
        if owner is None:
            return []
        person = self.settings.owners.people.get(by)
        name = person.name if person is not None else by
        view = replace(self.view(alert), status=transition)
        found = []
        for group in owner.groups:
            settings = self.settings.owners.im_groups.get(group)
            if settings is None:
                continue
            message = render(view, settings.language, None, key="")
            text = f"{name} 已处理：{message.text}" if settings.language == "zh" else f"{name}: {message.text}"
            payload = payload_of(Message("", message.title, text, severity=message.severity))
            found.append(Notification(group, IM, payload))
        return found

    def owner(self, alert: Alert) -> Owner | None:
        """The owner of ``alert``, if any."""
        owned = self.settings.owners.owner_of({k: str(v) for k, v in alert.labels.items()})
        return owned[1] if owned is not None else None

    def _interval(self, name: str, now: datetime) -> bool:
        return any(t.name == name and t.contains(now) for t in self.settings.time_intervals)


_RANK = {"critical": 0, "major": 1, "warning": 2, "info": 3}


def _severity(alert: Alert) -> str:
    return alert.severity


def _worst(alerts: Sequence[Alert]) -> str:
    return min((_severity(a) for a in alerts), key=lambda s: _RANK.get(s, 9))


def _top(alerts: Sequence[Alert]) -> Alert:
    return min(alerts, key=lambda a: (a.status == "resolved", _RANK.get(_severity(a), 9), a.id))

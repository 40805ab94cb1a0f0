"""What happens as time passes: due groups are flushed, due escalation steps run, acknowledgements time out.

Each step reads the ledger and writes its notifications and new state in one
transaction, so a restart resumes exactly where the ledger says. The order
of a group flush is Alertmanager's: the group's members, minus those muted
by a silence or an inhibit rule, compared with what the group last sent; a
route muted by its time intervals sends nothing until it is active again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from alerting.ledger import Alert, Ledger, Notification, Silence
from alerting.ledger.groups import Group
from alerting.ledger.silences import matches
from alerting.pipeline.escalate import Cursor, Target, advance
from alerting.pipeline.group import flush_reason
from alerting.pipeline.plan import Planner
from alerting.routing.inhibit import Inhibitor
from alerting.routing.routes import Route, Router
from alerting.settings import AlertingSettings


@dataclass
class ScheduleCounts:
    """What the schedule did (this process)."""

    flushes: int = 0
    muted: int = 0
    escalations: int = 0
    ack_timeouts: int = 0


@dataclass(frozen=True)
class Muting:
    """The active silences and the open alerts' labels (inhibit-rule sources) at one step."""

    silences: Sequence[Silence]
    open_labels: Sequence[Mapping[str, str]]


def _routes(root: Route) -> dict[str, Route]:
    found, stack = {}, [root]
    while stack:
        route = stack.pop()
        found[route.path] = route
        stack.extend(route.children)
    return found


class Schedule:
    """Runs the time-driven stages over the ledger (see the module docstring)."""

    def __init__(self, ledger: Ledger, planner: Planner) -> None:
        self.ledger = ledger
        self.counts = ScheduleCounts()
        self.reconfigure(planner)

    def reconfigure(self, planner: Planner) -> None:
        """Plan with new settings from the next tick on."""
        self.planner = planner
        settings: AlertingSettings = planner.settings
        self.settings = settings
        self.routes = _routes(Router(settings.route_tree()).root)
        self.inhibitor = Inhibitor(settings.inhibit_rules)

    def tick(self, now: datetime) -> None:
        """Run everything due at ``now``."""
        self.expire_acks(now)
        self.escalate(now)
        self.flush_groups(now)

    # -- acknowledgement timeouts -------------------------------------------------------
    def expire_acks(self, now: datetime) -> None:
        """Acknowledged alerts past their deadline fire again; their escalation resumes now."""
        self.counts.ack_timeouts += len(self.ledger.expire_acks(now))

    # -- escalation ------------------------------------------------------------------------
    def escalate(self, now: datetime) -> None:
        """Run the due steps of every firing alert's escalation chain."""
        due = self.ledger.due_escalations(now)
        if not due:
            return
        muting = self._muting(now)
        for alert in due:
            with self.ledger.transaction():
                self._escalate(alert, now, muting)

    def _escalate(self, alert: Alert, now: datetime, muting: Muting) -> None:
        owners = self.settings.owners
        owner = self.planner.owner(alert)
        chain = owners.escalations.get(owner.escalation) if owner and owner.escalation else None
        if not chain or alert.next_escalation_at is None:
            self.ledger.set_escalation(alert.id, alert.escalation_step, None, now)
            return
        cursor = Cursor(alert.escalation_step, alert.escalation_repeats, alert.next_escalation_at.timestamp())
        targets, following = advance(chain, cursor, now.timestamp(), owners.rotations)
        if owner is not None:
            # The owner's people and groups were told by the group's first notification: the chain's
            # first pass does not tell them again before its first wait (a repeat does, even in the same tick).
            first_wait = next((i for i, step in enumerate(chain) if step.wait is not None), len(chain))
            covered = {("person", p) for p in owner.people} | {("group", g) for g in owner.groups}
            targets = [t for t in targets if t.repeat > 0 or t.step > first_wait or (t.kind, t.who) not in covered]
        if self._muted(alert, muting):
            targets = []
        notify: list[Notification] = []
        steps: dict[int, int] = {}  # chain step (from 1, as in the history comment) → people or groups it told
        for target in targets:
            told = self.planner.for_targets(alert, [target], now, self.ledger.count_queued)
            notify += told
            if told:
                steps[target.step + 1] = steps.get(target.step + 1, 0) + 1
        step = following.step if following else cursor.step
        repeats = following.repeats if following else cursor.repeats
        next_at = datetime.fromtimestamp(following.due_at, tz=UTC) if following else None
        comment = "escalation: " + ", ".join(_who(t) for t in targets) if targets else None
        self.ledger.set_escalation(
            alert.id, step, next_at, now, repeats=repeats, notify=notify, comment=comment, steps=steps
        )
        self.counts.escalations += bool(notify)

    # -- groups ----------------------------------------------------------------------------
    def flush_groups(self, now: datetime) -> None:
        """Notify every due group whose (unmuted) alerts changed, or that is due a repeat."""
        groups = self.ledger.due_groups(now)
        if not groups:
            return
        muting = self._muting(now)
        for group in groups:
            with self.ledger.transaction():
                self._flush(group, now, muting)

    def _flush(self, group: Group, now: datetime, muting: Muting) -> None:
        route = self.routes.get(group.route)
        if route is not None and self._route_muted(route, now):
            self.counts.muted += 1
            self.ledger.flush_group(group, now, group.sent, ())
            return
        alerts = {key: self.ledger.alert(int(key)) for key in group.members}
        visible: dict[str, str] = {}
        drop: list[str] = []
        for key, status in group.members.items():
            alert = alerts[key]
            muted = self._muted(alert, muting)
            if status == "resolved":
                # A resolution is told only to those who were told of the alert.
                if group.sent.get(key) == "firing" and not muted:
                    visible[key] = "resolved"
                else:
                    drop.append(key)
            elif not muted:
                visible[key] = "firing"
        last = group.last_sent_at.timestamp() if group.last_sent_at else None
        reason = flush_reason(visible, group.sent, last, now.timestamp(), group.repeat_interval_s)
        notify = []
        if reason is not None:
            shown = [alerts[key] for key in visible]
            notify = self.planner.for_receiver(group.receiver, shown, now, self.ledger.count_queued)
            drop += [key for key, status in visible.items() if status == "resolved"]
            self.counts.flushes += 1
        self.ledger.flush_group(group, now, visible, notify, drop)

    def _muting(self, now: datetime) -> Muting:
        """What can mute an alert at ``now``, read once per step: the active silences and the open alerts."""
        open_labels = [_labels(a) for a in self.ledger.alerts() if a.status != "resolved"]
        return Muting(self.ledger.silences(now, "active"), open_labels)

    def _muted(self, alert: Alert, muting: Muting) -> bool:
        labels = _labels(alert)
        if any(all(matches(m, labels) for m in s.matchers) for s in muting.silences):
            return True
        return self.inhibitor.inhibited(labels, muting.open_labels)

    def _route_muted(self, route: Route, now: datetime) -> bool:
        intervals = {t.name: t for t in self.settings.time_intervals}
        if any(intervals[name].contains(now) for name in route.mute_time_intervals if name in intervals):
            return True
        active = [intervals[name] for name in route.active_time_intervals if name in intervals]
        return bool(active) and not any(t.contains(now) for t in active)


def _labels(alert: Alert) -> dict[str, str]:
    return {k: str(v) for k, v in alert.labels.items()}


def _who(target: Target) -> str:
    return f"{target.who} (step {target.step + 1})"

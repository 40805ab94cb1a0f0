"""What the demo shows of people being told: SMS at the fake SMSC, IM robot messages, acknowledgements.

:class:`MessageWatcher` polls the fake SMSC's log (``KannelServer.received_messages``), the local IM robot
server and the ledger's transitions, and prints each new SMS (receiver masked, text, the ack link in it), IM
message (robot, text) and transition made by a person ("alert 3 acknowledged by 李伟 via sms_link at
10:42:07 (comment)"); it appends each IM message to a JSON-lines file, the robots' inbox. No phone number is
printed unmasked; a label value (``channel=106900001``, a sender id) and a link are left as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console

from alerting.ledger import SYSTEM, Ledger
from alerting.ledger.feed import TransitionRow
from alerting.settings import AlertingSettings
from core.privacy import mask_msisdn
from devstack.im_robot_server import ImRobotServer, Received
from devstack.kannel_server import KannelServer, ReceivedSms
from telewatch.demo_console import AlertingCounters, clock_text

#: A phone-like run of digits that is not part of a word, a label value or a link.
_PHONE = re.compile(r"(?<![A-Za-z0-9_=/.+\-])\+?\d{7,15}(?![A-Za-z0-9_])")
_INDENT = "  "


def masked(text: str) -> str:
    """``text`` with every phone number masked (``@8613800000001`` → ``@861*****0001``)."""
    return _PHONE.sub(lambda m: mask_msisdn(m.group(0)), text)


@dataclass(frozen=True)
class AckLink:
    """An ack link an SMS carried: who it acts for, and the URL."""

    person: str
    url: str


@dataclass(frozen=True)
class PersonTransition:
    """A transition a person made, with their comment."""

    row: TransitionRow
    name: str
    comment: str | None


class MessageWatcher:
    """Prints messages as they arrive and people's transitions as the ledger records them (module docstring)."""

    def __init__(
        self,
        console: Console,
        settings: AlertingSettings,
        ledger: Ledger,
        kannel: KannelServer | None,
        robots: ImRobotServer | None,
        inbox: Path,
    ) -> None:
        self.console = console
        self.settings = settings
        self.ledger = ledger
        self.kannel = kannel
        self.robots = robots
        self.inbox = inbox
        self._links = re.compile(re.escape(settings.api.public_url) + r"/a/[A-Za-z0-9_.\-]+")
        self._names = {p.phone.lstrip("+"): p.name for p in settings.owners.people.values()}
        self._people = {key: p.name for key, p in settings.owners.people.items()}
        #: Messages already at the fake SMSC before the demo (a Kannel left running) are not this run's.
        self._sms_before = len(kannel.received_messages()) if kannel is not None else 0
        self._im_before = len(robots.received) if robots is not None else 0
        self._last_transition = self._last_id()
        self.sms: list[ReceivedSms] = []
        self.im: list[Received] = []
        self.links: list[AckLink] = []
        self.transitions: list[PersonTransition] = []
        self.opened = 0
        inbox.parent.mkdir(parents=True, exist_ok=True)
        inbox.write_text("", encoding="utf-8")

    def _last_id(self) -> int:
        last = 0
        while rows := self.ledger.transitions_after(last):
            last = rows[-1].id
        return last

    @property
    def counters(self) -> AlertingCounters:
        acks = sum(t.row.to_status == "acknowledged" for t in self.transitions)
        return AlertingCounters(alerts=self.opened, sms=len(self.sms), im=len(self.im), acknowledged=acks)

    async def run(self, done: asyncio.Event, every_s: float = 1.0) -> None:
        """Poll every ``every_s`` seconds until ``done`` is set."""
        while not done.is_set():
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), every_s)

    async def poll(self) -> None:
        """Print what arrived and what people did since the last poll."""
        sms, transitions = await asyncio.to_thread(self._read)
        # A person's transition comes before the messages it causes (and after the SMS with its link).
        for transition in transitions:
            self._show_transition(transition)
        for message in sms:
            self._show_sms(message)
        if self.robots is not None:
            fresh = self.robots.received[self._im_before + len(self.im) :]
            for received in fresh:
                self._show_im(received)

    def _read(self) -> tuple[list[ReceivedSms], list[PersonTransition]]:
        sms: list[ReceivedSms] = []
        if self.kannel is not None:
            sms = self.kannel.received_messages()[self._sms_before + len(self.sms) :]
        found = []
        for row in self.ledger.transitions_after(self._last_transition):
            self._last_transition = row.id
            if row.from_status is None:
                self.opened += 1
            if row.by == SYSTEM or row.via == "auto":
                continue
            made = (row.at, row.by, row.to_status)
            history = self.ledger.history(row.alert_id)
            comment = next((h.comment for h in reversed(history) if (h.at, h.by, h.to_status) == made), None)
            found.append(PersonTransition(row, self._people.get(row.by, row.by), comment))
        return sms, found

    def _show_sms(self, message: ReceivedSms) -> None:
        self.sms.append(message)
        name = self._names.get(message.receiver.lstrip("+"))
        who = f"{name} {mask_msisdn(message.receiver)}" if name else mask_msisdn(message.receiver)
        parts = f", {message.parts} parts" if message.parts > 1 else ""
        links = self._links.findall(message.text)
        lines = [f"{clock_text(time.time())} SMS to {who} at the fake SMSC (from {message.sender}{parts}):"]
        lines += [_INDENT + masked(line) for line in message.text.splitlines() if line and line not in links]
        for url in links:
            self.links.append(AckLink(name or mask_msisdn(message.receiver), url))
            lines.append(f"{_INDENT}ack link for {self.links[-1].person}: {url}")
        self._print(lines)

    def _show_im(self, received: Received) -> None:
        self.im.append(received)
        mentions = f", @ {', '.join(mask_msisdn(m) for m in received.mentions)}" if received.mentions else ""
        at = datetime.now().astimezone().isoformat()
        entry: dict[str, object] = {"at": at, "vendor": received.vendor, "robot": received.robot}
        entry |= {"text": received.text, "mentions": list(received.mentions)}
        with self.inbox.open("a", encoding="utf-8") as out:  # before the console line: a reader may follow it
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
        lines = [f"{clock_text(time.time())} IM to {received.robot} ({received.vendor} robot{mentions}):"]
        lines += [_INDENT + masked(line) for line in received.text.splitlines() if line]
        self._print(lines)

    def _show_transition(self, transition: PersonTransition) -> None:
        self.transitions.append(transition)
        row = transition.row
        comment = f" ({masked(transition.comment)})" if transition.comment else ""
        at = clock_text(row.at.timestamp())
        self._print([f"alert {row.alert_id} {row.to_status} by {transition.name} via {row.via} at {at}{comment}"])

    def _print(self, lines: list[str]) -> None:
        self.console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)

    async def summary(self, api_url: str, links_outlive_demo: bool) -> list[str]:
        """The end-of-demo lines: alerts opened, messages sent per channel, what arrived, the ack links."""
        outbox = await asyncio.to_thread(self.ledger.outbox_counts)
        channels = sorted({channel for _, channel in outbox})
        per_channel = []
        for channel in channels:
            states = {state: n for (state, c), n in outbox.items() if c == channel}
            others = ", ".join(f"{n} {state}" for state, n in sorted(states.items()) if state != "sent")
            per_channel.append(f"{channel} {states.get('sent', 0)}" + (f" ({others})" if others else ""))
        acks = sum(t.row.to_status == "acknowledged" for t in self.transitions)
        lines = [
            f"alerting: {self.opened} alerts opened, {acks} acknowledged by people; messages sent: "
            f"{', '.join(per_channel) or 'none'}; {len(self.sms)} SMS at the fake SMSC, {len(self.im)} IM messages "
            f"at the local robots (their inbox: {self.inbox})"
        ]
        if self.links:
            after = (
                "after the demo, `telewatch api serve` with the same config and secret opens them"
                if links_outlive_demo
                else "they are signed with this run's secret: they open only while the demo runs"
            )
            lines.append(f"ack links (open one in a browser while the demo's API runs at {api_url}; {after}):")
            lines += [f"{_INDENT}{link.person}: {link.url}" for link in self.links]
        return lines

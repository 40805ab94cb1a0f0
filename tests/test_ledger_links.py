"""Single-use ack links in the ledger, on SQLite and PostgreSQL: used once, never burnt by a refused
transition, and one transition however many requests race with one link."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from alerting.ledger import InvalidTransition, Ledger, Transition, UnknownAlert
from alerting.ledger.links import LinkUse, LinkUsed

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LABELS = {"metric": "sms_delivery_success_rate", "region": "north", "severity": "major"}
HOUR = timedelta(hours=1)


def firing(ledger: Ledger) -> int:
    return ledger.observe("fp-links", LABELS, 0.6, T0, expected=0.97).alert.id


def test_a_link_is_used_once(ledger: Ledger) -> None:
    alert_id = firing(ledger)
    assert ledger.link_use("d1") is None
    assert ledger.use_link("d1", alert_id, "view", "li.wei", T0) is True
    assert ledger.use_link("d1", alert_id, "view", "zhang.min", T0 + HOUR) is False
    assert ledger.link_use("d1") == LinkUse("d1", alert_id, "view", T0, "li.wei")
    with pytest.raises(UnknownAlert):
        ledger.use_link("d2", 999_999, "ack", "li.wei", T0)


def test_transition_by_link_uses_the_link_with_the_transition(ledger: Ledger) -> None:
    alert_id = firing(ledger)
    done = ledger.transition_by_link("d1", alert_id, "ack", "li.wei", T0 + HOUR, timedelta(minutes=30), "on it")
    assert done.alert.status == "acknowledged" and done.alert.ack_deadline == T0 + HOUR + timedelta(minutes=30)
    assert (done.entry.by, done.entry.via, done.entry.comment) == ("li.wei", "sms_link", "on it")
    with pytest.raises(LinkUsed, match="used already") as used:
        ledger.transition_by_link("d1", alert_id, "resolve", "li.wei", T0 + 2 * HOUR, HOUR)
    assert used.value.use == LinkUse("d1", alert_id, "ack", T0 + HOUR, "li.wei")
    assert ledger.alert(alert_id).status == "acknowledged" and len(ledger.history(alert_id)) == 2


def test_a_refused_transition_does_not_burn_the_link(ledger: Ledger) -> None:
    alert_id = firing(ledger)
    ledger.resolve(alert_id, "zhang.min", "api", T0 + HOUR)
    with pytest.raises(InvalidTransition):
        ledger.transition_by_link("d1", alert_id, "ack", "li.wei", T0 + 2 * HOUR, HOUR)
    assert ledger.link_use("d1") is None and len(ledger.history(alert_id)) == 2
    with pytest.raises(UnknownAlert):
        ledger.transition_by_link("d2", 999_999, "ack", "li.wei", T0, HOUR)
    assert ledger.link_use("d2") is None


def test_racing_uses_of_one_link_make_one_transition(ledger: Ledger) -> None:
    alert_id = firing(ledger)
    start = threading.Barrier(6)
    done: list[Transition] = []
    refused: list[BaseException] = []

    def use(action: str) -> None:
        start.wait()
        try:
            done.append(
                ledger.transition_by_link("d1", alert_id, action, "li.wei", T0 + HOUR, HOUR)  # type: ignore[arg-type]
            )
        except LinkUsed as error:
            refused.append(error)

    threads = [threading.Thread(target=use, args=(a,)) for a in ("ack", "resolve") * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(done) == 1 and len(refused) == 5
    assert [e.via for e in ledger.history(alert_id)] == ["auto", "sms_link"]
    assert ledger.alert(alert_id).status == done[0].alert.status

"""The alert ledger on SQLite and on a real PostgreSQL 15 started by devstack: the same tests on both."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alerting.ledger import (
    SYSTEM,
    InvalidTransition,
    Ledger,
    LedgerError,
    Matcher,
    NotClaimed,
    Notification,
    SchemaTooNew,
    UnknownAlert,
    UnknownKey,
)
from alerting.ledger.migrate import current, head
from alerting.ledger.schema import api_tokens, metadata
from devstack.postgres_server import PG_BIN_ENV, RUN_USER, PostgresServer
from devstack.process import MissingDependency, free_port, pid_alive, port_is_open
from fixtures.ledger_db import fresh_pg_database, pg_home

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LABELS = {
    "metric": "sms_success_rate",
    "series": "sms/north/c17",
    "region": "north",
    "cell": "c17",
    "severity": "major",
}
ALICE_SMS = Notification("alice", "sms", {"text": "SMS success rate low in north"})
OPS_IM = Notification("ops-room", "im", {"text": "SMS success rate low in north"})


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def firing(ledger: Ledger, fingerprint: str = "fp-sms-north-c17", value: float = 71.5) -> int:
    return ledger.observe(fingerprint, LABELS, value, T0, expected=98.0, notify=[ALICE_SMS]).alert.id


def steps(ledger: Ledger, alert_id: int) -> list[tuple[Any, ...]]:
    return [(e.seq, e.from_status, e.to_status, e.at, e.by, e.via, e.comment) for e in ledger.history(alert_id)]


# -- alerts and history ---------------------------------------------------------------------------


def test_lifecycle_and_history(ledger: Ledger) -> None:
    alert_id = firing(ledger)
    ledger.comment(alert_id, "alice", "im", "looking at the SMSC", at(1))
    acked = ledger.ack(alert_id, "alice", "sms_link", at(2), timedelta(minutes=30))
    assert acked.alert.status == "acknowledged" and acked.alert.ack_deadline == at(32)
    again = ledger.ack(alert_id, "bob", "im", at(10), timedelta(minutes=30), comment="still on it")
    assert again.alert.ack_deadline == at(40)
    done = ledger.resolve(alert_id, "carol", "api", at(20), comment="SMSC restarted")
    assert done.alert.status == "resolved" and done.alert.resolved_at == at(20) and done.alert.ack_deadline is None
    assert steps(ledger, alert_id) == [
        (1, None, "firing", T0, SYSTEM, "auto", None),
        (2, None, None, at(1), "alice", "im", "looking at the SMSC"),
        (3, "firing", "acknowledged", at(2), "alice", "sms_link", None),
        (4, "acknowledged", "acknowledged", at(10), "bob", "im", "still on it"),
        (5, "acknowledged", "resolved", at(20), "carol", "api", "SMSC restarted"),
    ]
    alert = ledger.alert(alert_id)
    assert alert.labels == LABELS and alert.started_at == T0 and alert.started_at.tzinfo is not None
    with pytest.raises(
        InvalidTransition, match=rf"alert {alert_id} \(fp-sms-north-c17\) is resolved.*resolved -> acknowledged"
    ):
        ledger.ack(alert_id, "dave", "im", at(21), timedelta(minutes=5))
    with pytest.raises(InvalidTransition, match="resolved -> resolved"):
        ledger.resolve(alert_id, "dave", "api", at(21))
    with pytest.raises(UnknownAlert, match="no alert with id 999999"):
        ledger.resolve(999999, "dave", "api", at(21))
    with pytest.raises(ValueError, match="naive datetime"):
        ledger.comment(alert_id, "dave", "api", "late", datetime(2026, 3, 1, 9, 0))
    assert len(ledger.history(alert_id)) == 5


def test_dedup_by_fingerprint(ledger: Ledger) -> None:
    first = ledger.observe("fp-a", LABELS, 80.0, T0, expected=98.0, notify=[ALICE_SMS])
    assert first.new and first.keys == (f"alert:{first.alert.id}:1:sms:alice",)
    second = ledger.observe("fp-a", LABELS, 60.0, at(1), notify=[ALICE_SMS])
    third = ledger.observe("fp-a", LABELS, 75.0, at(2), expected=97.0, notify=[ALICE_SMS])
    assert not second.new and not third.new and second.keys == third.keys == ()
    alert = third.alert
    assert alert.id == first.alert.id and alert.status == "firing"
    assert (alert.value, alert.peak, alert.expected) == (75.0, 60.0, 97.0)
    assert (alert.started_at, alert.last_seen, alert.duration_s) == (T0, at(2), 120.0)
    assert len(ledger.history(alert.id)) == 1 and len(ledger.outbox_items()) == 1
    other = ledger.observe("fp-b", LABELS, 1.0, at(3))
    assert other.new and other.alert.id != alert.id
    assert [a.fingerprint for a in ledger.alerts("firing")] == ["fp-a", "fp-b"]


def test_new_episode_after_resolve(ledger: Ledger) -> None:
    old = firing(ledger, "fp-x")
    ledger.resolve(old, "alice", "im", at(5))
    assert ledger.open_alert("fp-x") is None
    back = ledger.observe("fp-x", LABELS, 50.0, at(9), notify=[ALICE_SMS])
    assert back.new and back.alert.id != old and back.alert.started_at == at(9)
    assert ledger.alert(old).status == "resolved"
    assert ledger.open_alert("fp-x") == back.alert
    assert [(e.seq, e.to_status) for e in ledger.history(back.alert.id)] == [(1, "firing")]


def test_auto_resolve_after_normal_windows(ledger: Ledger) -> None:
    alert_id = firing(ledger, "fp-n")
    assert ledger.record_normal("fp-n", at(1), resolve_after=3) is None
    assert ledger.record_normal("fp-n", at(2), resolve_after=3) is None
    ledger.observe("fp-n", LABELS, 70.0, at(3))  # anomalous again: the count starts over
    assert ledger.alert(alert_id).normal_windows == 0
    assert ledger.record_normal("fp-n", at(4), resolve_after=3) is None
    assert ledger.record_normal("fp-n", at(5), resolve_after=3) is None
    done = ledger.record_normal("fp-n", at(6), resolve_after=3, notify=[OPS_IM])
    assert done is not None and done.alert.status == "resolved" and done.alert.resolved_at == at(6)
    assert (done.entry.by, done.entry.via, done.entry.comment) == (SYSTEM, "auto", "series normal for 3 windows")
    assert done.keys == (f"alert:{alert_id}:2:im:ops-room",)
    assert ledger.record_normal("fp-n", at(7), resolve_after=3) is None


def test_ack_timeout_returns_to_firing(ledger: Ledger) -> None:
    alert_id = ledger.observe("fp-t", LABELS, 70.0, T0, escalate_at=at(5)).alert.id
    assert ledger.due_escalations(at(5))[0].id == alert_id
    ledger.set_escalation(alert_id, 1, at(15), at(5))
    ledger.ack(alert_id, "alice", "sms_link", at(6), timedelta(minutes=10))
    assert ledger.due_escalations(at(30)) == []  # acknowledged: escalation paused
    ledger.ack(alert_id, "alice", "im", at(12), timedelta(minutes=10))  # re-ack: deadline 22
    assert ledger.expire_acks(at(21)) == []
    [back] = ledger.expire_acks(at(22), notify=lambda alert: [ALICE_SMS, OPS_IM])
    assert back.alert.status == "firing" and back.alert.ack_deadline is None
    assert (back.entry.from_status, back.entry.to_status, back.entry.by, back.entry.via) == (
        "acknowledged",
        "firing",
        SYSTEM,
        "auto",
    )
    assert back.alert.escalation_step == 1 and back.alert.next_escalation_at == at(22)
    assert [a.id for a in ledger.due_escalations(at(22))] == [alert_id]
    assert sorted(back.keys) == [f"alert:{alert_id}:4:im:ops-room", f"alert:{alert_id}:4:sms:alice"]
    assert ledger.expire_acks(at(60)) == []


def test_silences(ledger: Ledger) -> None:
    north = [Matcher("region", "north"), Matcher("cell", "c1[0-9]", is_regex=True)]
    active = ledger.create_silence(north, T0, at(60), "alice", "SMSC maintenance", T0)
    pending = ledger.create_silence([Matcher("region", "south")], at(30), at(90), "bob", "planned", T0)
    not_major = ledger.create_silence([Matcher("severity", "major", is_equal=False)], T0, at(60), "bob", "", T0)
    assert {s.id for s in ledger.silences(at(10), "active")} == {active.id, not_major.id}
    assert [s.id for s in ledger.silences(at(10), "pending")] == [pending.id]
    assert [s.id for s in ledger.silenced_by(LABELS, at(10))] == [active.id]
    assert ledger.silenced_by({**LABELS, "cell": "c2"}, at(10)) == []
    assert [s.id for s in ledger.silenced_by({"region": "east", "severity": "warning"}, at(10))] == [not_major.id]
    ended = ledger.expire_silence(active.id, at(20))
    assert ended.ends_at == at(20) and ended.matchers == tuple(north) and ended.state(at(20)) == "expired"
    never = ledger.expire_silence(pending.id, at(20))
    assert never.state(at(40)) == "expired"
    assert {s.id for s in ledger.silences(at(20), "expired")} == {active.id, pending.id}
    assert ledger.silenced_by(LABELS, at(21)) == []
    with pytest.raises(LedgerError, match=f"silence {active.id} already expired"):
        ledger.expire_silence(active.id, at(25))
    with pytest.raises(LedgerError, match="bad regex"):
        ledger.create_silence([Matcher("cell", "c[", is_regex=True)], T0, at(5), "bob", "", T0)
    with pytest.raises(LedgerError, match="at least one matcher"):
        ledger.create_silence([], T0, at(5), "bob", "", T0)
    assert len(ledger.silences(at(20))) == 3


# -- outbox ------------------------------------------------------------------------------------------------


def test_outbox_idempotency(ledger: Ledger) -> None:
    assert ledger.enqueue("k-1", ALICE_SMS, T0) is True
    assert ledger.enqueue("k-1", Notification("mallory", "sms"), at(1)) is False
    [item] = ledger.outbox_items()
    assert (item.key, item.recipient, item.state, item.attempts) == ("k-1", "alice", "pending", 0)
    alert_id = ledger.observe("fp-o", LABELS, 1.0, T0, notify=[ALICE_SMS, ALICE_SMS, OPS_IM]).alert.id
    assert sorted(i.key for i in ledger.outbox_items(alert_id)) == [
        f"alert:{alert_id}:1:im:ops-room",
        f"alert:{alert_id}:1:sms:alice",
    ]


def test_transition_and_outbox_are_one_transaction(ledger: Ledger) -> None:
    alert_id = firing(ledger)
    poisoned = Notification("bob", "sms", {"text": object()})  # cannot be stored: fails after the alert update
    with pytest.raises((TypeError, sa.exc.StatementError)):
        ledger.ack(alert_id, "alice", "im", at(1), timedelta(minutes=5), notify=[OPS_IM, poisoned])
    assert ledger.alert(alert_id).status == "firing" and ledger.alert(alert_id).ack_deadline is None
    assert len(ledger.history(alert_id)) == 1
    assert [i.key for i in ledger.outbox_items()] == [f"alert:{alert_id}:1:sms:alice"]
    with pytest.raises((TypeError, sa.exc.StatementError)):
        ledger.observe("fp-new", LABELS, 1.0, at(1), notify=[poisoned])
    assert ledger.open_alert("fp-new") is None and len(ledger.alerts()) == 1
    assert ledger.ack(alert_id, "alice", "im", at(2), timedelta(minutes=5), notify=[OPS_IM]).entry.seq == 2


def test_claim_due_attempts_and_dead_letters(ledger: Ledger) -> None:
    for i, minute in enumerate([0, 1, 2, 30]):
        ledger.enqueue(f"k-{i}", Notification(f"r{i}", "sms"), at(minute))
    claimed = ledger.claim_due(at(5), 2, "w1")
    assert [(c.key, c.state, c.claimed_by) for c in claimed] == [("k-0", "sending", "w1"), ("k-1", "sending", "w1")]
    assert [c.key for c in ledger.claim_due(at(5), 10, "w2")] == ["k-2"]  # k-3 is not due yet
    assert ledger.claim_due(at(5), 10, "w3") == []
    sent = ledger.record_attempt("k-0", "sent", "HTTP 202", at(6), vendor_id="v-0")
    assert (sent.state, sent.attempts, sent.vendor_id) == ("sent", 1, "v-0")
    failed = ledger.record_attempt("k-1", "retry", "HTTP 503", at(6), next_attempt_at=at(8))
    assert (failed.state, failed.next_attempt_at, failed.attempts) == ("failed", at(8), 1)
    dead = ledger.record_attempt("k-2", "permanent", "HTTP 400 bad number", at(6))
    assert (dead.state, dead.dead_reason) == ("dead", "HTTP 400 bad number")
    assert ledger.claim_due(at(7), 10, "w1") == []
    [retry] = ledger.claim_due(at(8), 10, "w2")
    assert retry.key == "k-1" and retry.claimed_by == "w2"
    gave_up = ledger.record_attempt("k-1", "retry", "timeout", at(9))
    assert gave_up.state == "dead" and gave_up.dead_reason == "no further attempt after 2: timeout"
    assert [(a.attempt, a.outcome, a.detail, a.worker_id) for a in ledger.attempts("k-1")] == [
        (1, "retry", "HTTP 503", "w1"),
        (2, "retry", "timeout", "w2"),
    ]
    assert [d.key for d in ledger.dead_letters()] == ["k-1", "k-2"]
    with pytest.raises(NotClaimed, match="'k-0' is sent, not sending"):
        ledger.record_attempt("k-0", "sent", "again", at(10))
    with pytest.raises(UnknownKey, match="'nope'"):
        ledger.record_attempt("nope", "sent", "", at(10))
    [stale] = ledger.claim_due(at(31), 10, "w1")  # k-3, then w1 dies while sending
    assert stale.key == "k-3"
    assert ledger.claim_due(at(35), 10, "w2", lease=timedelta(minutes=5)) == []
    assert [c.claimed_by for c in ledger.claim_due(at(36), 10, "w2", lease=timedelta(minutes=5))] == ["w2"]


def test_receipts(ledger: Ledger) -> None:
    ledger.enqueue("k-r", ALICE_SMS, T0)
    ledger.claim_due(T0, 1, "w1")
    ledger.record_attempt("k-r", "sent", "queued", at(1), vendor_id="kannel-42")
    by_vendor = ledger.record_receipt("kannel-42", "delivered", "DLR 1", at(2))
    assert by_vendor.key == "k-r"
    ledger.record_receipt("other-7", "failed", "DLR 16", at(3))
    ledger.record_receipt("kannel-42", "delivered", "DLR 1 again", at(4), key="k-r")
    assert [(r.status, r.detail, r.received_at) for r in ledger.receipts(key="k-r")] == [
        ("delivered", "DLR 1", at(2)),
        ("delivered", "DLR 1 again", at(4)),
    ]
    assert [r.key for r in ledger.receipts(vendor_id="other-7")] == [None]
    with pytest.raises(UnknownKey, match="'k-missing'"):
        ledger.record_receipt("v", "delivered", "", at(5), key="k-missing")


def test_claimers_never_share_a_row(db_url: str) -> None:
    """Two workers with their own connections claim concurrently until the outbox is empty."""
    with Ledger.open(db_url) as first, Ledger.open(db_url) as second:
        keys = {f"k-{i:03d}" for i in range(120)}
        for key in sorted(keys):
            first.enqueue(key, ALICE_SMS, T0)
        got: dict[str, list[str]] = {"a": [], "b": []}
        start = threading.Barrier(2)

        def drain(ledger: Ledger, worker: str) -> None:
            start.wait(10)
            while batch := ledger.claim_due(at(1), 7, worker):
                got[worker] += [item.key for item in batch]

        threads = [threading.Thread(target=drain, args=(ledger, w)) for ledger, w in ((first, "a"), (second, "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        claimed = got["a"] + got["b"]
        assert sorted(claimed) == sorted(keys)  # every row once: none twice, none lost
        assert {i.claimed_by for i in first.outbox_items()} <= {"a", "b"}


def test_postgres_claim_skips_rows_locked_by_another_worker(pg_server: PostgresServer) -> None:
    """While worker a's claim transaction holds its rows, worker b gets other rows at once (SKIP LOCKED)."""
    url = fresh_pg_database(pg_server)
    with Ledger.open(url) as a, Ledger.open(url) as b:
        for i in range(8):
            a.enqueue(f"k-{i}", ALICE_SMS, at(i))
        locked, release = threading.Event(), threading.Event()

        def hold_after_select(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if threading.current_thread().name == "worker-a" and statement.lstrip().startswith("SELECT"):
                locked.set()
                release.wait(20)

        sa.event.listen(a.engine, "after_cursor_execute", hold_after_select)
        results: dict[str, list[str]] = {}

        def claim(ledger: Ledger, worker: str) -> None:
            results[worker] = [item.key for item in ledger.claim_due(at(10), 4, worker)]

        worker_a = threading.Thread(target=claim, args=(a, "a"), name="worker-a")
        worker_a.start()
        try:
            assert locked.wait(20)
            worker_b = threading.Thread(target=claim, args=(b, "b"))
            worker_b.start()
            worker_b.join(20)
            assert not worker_b.is_alive(), "worker b waited for worker a's locks instead of skipping them"
        finally:
            release.set()
            worker_a.join(20)
        assert results["a"] == ["k-0", "k-1", "k-2", "k-3"]
        assert results["b"] == ["k-4", "k-5", "k-6", "k-7"]


def test_postgres_two_workers_open_one_alert_per_fingerprint(pg_server: PostgresServer) -> None:
    """Worker a sees no open alert; b opens one meanwhile; a's insert then meets b's alert and updates it."""
    url = fresh_pg_database(pg_server)
    with Ledger.open(url) as a, Ledger.open(url) as b:
        looked, release = threading.Event(), threading.Event()

        def hold_after_first_look(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if threading.current_thread().name == "worker-a" and "FROM alerts" in statement and not looked.is_set():
                looked.set()
                release.wait(20)

        sa.event.listen(a.engine, "after_cursor_execute", hold_after_first_look)
        seen: list[Any] = []
        worker_a = threading.Thread(
            target=lambda: seen.append(a.observe("fp-race", LABELS, 55.0, at(1), notify=[OPS_IM])), name="worker-a"
        )
        worker_a.start()
        try:
            assert looked.wait(20)
            opened = b.observe("fp-race", LABELS, 60.0, T0, notify=[ALICE_SMS])
        finally:
            release.set()
            worker_a.join(20)
        assert opened.new and len(seen) == 1 and not seen[0].new
        [alert] = b.alerts()
        assert alert.id == opened.alert.id and (alert.value, alert.peak, alert.last_seen) == (55.0, 60.0, at(1))
        assert len(b.history(alert.id)) == 1 and [i.recipient for i in b.outbox_items()] == ["alice"]


def test_workers_migrating_at_once(db_url: str) -> None:
    """Several workers opening a new database at the same moment: one migrates, the others wait and find it done."""
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def open_ledger() -> None:
        start.wait(10)
        try:
            Ledger.open(db_url).close()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=open_ledger, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(t.is_alive() for t in threads), "migrating workers deadlocked"
    assert errors == []
    with Ledger.open(db_url) as ledger, ledger.engine.connect() as conn:
        assert current(conn) == (head(),)


# -- tokens ---------------------------------------------------------------------------------------------


def test_tokens(ledger: Ledger) -> None:
    token = ledger.create_token("grafana", ["read"], T0)
    admin = ledger.create_token("ops-cli", ["write", "admin"], T0)
    with ledger.transaction() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(api_tokens).order_by(api_tokens.c.id))]
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(value) or admin in str(value) for row in rows for value in row.values())
    found = ledger.verify_token(token, "read")
    assert found is not None and (found.name, found.scopes) == ("grafana", ("read",))
    assert ledger.verify_token(token, "write") is None
    assert ledger.verify_token(admin, "read") is not None and ledger.verify_token(admin, "admin") is not None
    assert ledger.verify_token(token + "x", "read") is None
    assert ledger.revoke_token("grafana", at(1)) is True
    assert ledger.verify_token(token, "read") is None
    assert ledger.revoke_token("grafana", at(2)) is False
    with pytest.raises(LedgerError, match="'ops-cli' exists already"):
        ledger.create_token("ops-cli", ["read"], T0)
    with pytest.raises(LedgerError, match="scopes must be some of read, write, admin"):
        ledger.create_token("x", ["root"], T0)  # type: ignore[list-item]
    assert [(t.name, t.revoked_at) for t in ledger.tokens()] == [("grafana", at(1)), ("ops-cli", None)]


# -- migrations -------------------------------------------------------------------------------------------


def test_migrations_build_the_schema_and_refuse_a_newer_one(db_url: str) -> None:
    with Ledger.open(db_url) as ledger:
        alert_id = firing(ledger)
        with ledger.engine.connect() as conn:
            assert current(conn) == (head(),)
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    with Ledger.open(db_url) as ledger:  # reopening migrates nothing and keeps the data
        assert ledger.alert(alert_id).fingerprint == "fp-sms-north-c17"
        with ledger.transaction() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaTooNew, match=rf"schema revision 9999, newer than this telewatch knows \(head {head()}\)"):
        Ledger.open(db_url)


# -- the devstack server -----------------------------------------------------------------------------------


def test_postgres_server_runs_as_user_and_stops_by_pid() -> None:
    home = pg_home()
    server = PostgresServer(home, port=free_port(), durable=False)
    try:
        server.start()
        pid = server.pid()
        assert pid is not None and pid_alive(pid) and server.pidfile.read_text().strip() == str(pid)
        assert server.status().running and server.endpoint == f"127.0.0.1:{server.port}"
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
            conn.execute("CREATE TABLE kept (n int)")
        if os.geteuid() == 0:
            assert (server.data / "PG_VERSION").owner() == RUN_USER
        assert server.stop() is True
        assert not pid_alive(pid) and not port_is_open(server.port) and server.pid() is None
        server.start()  # the data folder is reused, not initialised again
        with psycopg.connect(server.conninfo()) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_postgres_install_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(PG_BIN_ENV, str(tmp_path))
    with pytest.raises(MissingDependency, match=r"apt-get install postgresql-15"):
        PostgresServer(tmp_path).install()

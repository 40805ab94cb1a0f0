"""The REST API over a real ledger (SQLite and PostgreSQL) through aiohttp's test server: alerts with filters,
transitions and their history, bodies refused with the field named, token authentication and scopes."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from alerting.ledger import SYSTEM, Ledger
from core.privacy import mask_msisdn
from fixtures.api import CUSTOMER, PHONES, T0, Clock, Plan, context, seed, served, tokens


async def test_alerts_are_listed_newest_first_with_every_filter_and_paging(ledger: Ledger) -> None:
    ids = seed(ledger)
    ledger.ack(ids["drop"], "zhang.min", "im", T0 + timedelta(minutes=30), timedelta(minutes=30))
    token = tokens(ledger).read
    async with served(context(ledger)) as api:

        async def listed(query: str) -> list[int]:
            status, answer = await api.get(f"/api/v1/alerts{query}", token)
            assert status == 200, answer
            return [alert["id"] for alert in answer["alerts"]]

        assert await listed("") == [ids["south"], ids["drop"], ids["sms"]]
        assert await listed("?status=acknowledged") == [ids["drop"]]
        assert await listed("?status=firing") == [ids["south"], ids["sms"]]
        assert await listed("?metric=call_drop_rate") == [ids["south"], ids["drop"]]
        assert await listed("?region=north") == [ids["drop"], ids["sms"]]
        assert await listed("?region=north&severity=critical") == [ids["drop"]]
        assert await listed("?metric=call_drop_rate&region=north&status=firing") == []
        assert await listed("?since=2026-12-05T09:10:00%2B08:00") == [ids["south"], ids["drop"]]
        assert await listed("?limit=1&offset=1") == [ids["drop"]]
        status, page = await api.get("/api/v1/alerts?limit=2&region=north", token)
        assert status == 200
        assert (page["total"], page["limit"], page["offset"], len(page["alerts"])) == (2, 2, 0, 2)
        first = page["alerts"][0]
        assert first["labels"] == {
            "metric": "call_drop_rate",
            "severity": "critical",
            "region": "north",
            "cell_id": "c042",
        }
        assert first["status"] == "acknowledged" and first["ack_deadline"] == "2026-12-05T02:00:00Z"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("?limit=1001", "'limit'"),
        ("?limit=0", "'limit'"),
        ("?offset=-1", "'offset'"),
        ("?status=open", "'status'"),
        ("?since=yesterday", "'since'"),
        ("?since=2026-12-05T09:00:00", "'since'"),  # no zone
        ("?since=0001-01-01T00:00:00%2B05:00", "'since': the time is out of range"),
        ("?region=a%00b", "'region': must not contain NUL characters"),
        ("?stauts=firing", "'stauts' is not known"),
        ("?status=firing&status=resolved", "'status' is given 2 times"),
    ],
)
async def test_a_bad_filter_is_refused_with_400_naming_it(ledger: Ledger, query: str, named: str) -> None:
    token = tokens(ledger).read
    async with served(context(ledger)) as api:
        status, answer = await api.get(f"/api/v1/alerts{query}", token)
    assert status == 400 and named in answer["error"], answer


async def test_an_alert_with_its_history_and_unknown_or_malformed_ids(ledger: Ledger) -> None:
    ids = seed(ledger)
    ledger.comment(ids["sms"], "li.wei", "im", f"customer {CUSTOMER} reports no SMS", T0 + timedelta(minutes=5))
    token = tokens(ledger).read
    async with served(context(ledger)) as api:
        status, detail = await api.get(f"/api/v1/alerts/{ids['sms']}", token)
        assert status == 200
        assert detail["alert"]["id"] == ids["sms"] and detail["alert"]["value"] == 0.62
        assert [(e["seq"], e["to_status"], e["by"], e["via"]) for e in detail["history"]] == [
            (1, "firing", SYSTEM, "auto"),
            (2, None, "li.wei", "im"),
        ]
        assert detail["history"][1]["comment"] == "customer 138****1234 reports no SMS"
        status, history = await api.get(f"/api/v1/alerts/{ids['sms']}/history", token)
        assert status == 200 and history["history"] == detail["history"]
        assert await api.get("/api/v1/alerts/999999", token) == (404, {"error": "no alert with id 999999"})
        assert (await api.get("/api/v1/alerts/999999/history", token))[0] == 404
        status, answer = await api.get("/api/v1/alerts/abc", token)
        assert status == 400 and "'id'" in answer["error"]
        status, answer = await api.get("/api/v1/alerts/99999999999999999999", token)
        assert status == 400 and "'id'" in answer["error"]


async def test_ack_resolve_and_comment_are_recorded_via_api_with_who_and_why(ledger: Ledger) -> None:
    ids = seed(ledger)
    keys = tokens(ledger)
    clock, plan = Clock(), Plan()
    async with served(context(ledger, clock, plan)) as api:
        path = f"/api/v1/alerts/{ids['sms']}"
        status, acked = await api.post(f"{path}/ack", keys.write, {"by": "li.wei", "comment": "switching to gw-2"})
        assert status == 200, acked
        assert acked["alert"]["status"] == "acknowledged"
        assert acked["alert"]["ack_deadline"] == "2026-12-05T02:30:00Z"  # now (T0+1h) + ack_timeout 30m
        assert acked["entry"] == {
            "seq": 2,
            "from_status": "firing",
            "to_status": "acknowledged",
            "at": "2026-12-05T02:00:00Z",
            "by": "li.wei",
            "via": "api",
            "comment": "switching to gw-2",
        }
        assert acked["notifications_queued"] == 1
        clock.now += timedelta(minutes=5)
        status, comment = await api.post(f"{path}/comments", keys.write, {"by": "li.wei", "text": f"call {CUSTOMER}"})
        assert status == 201 and comment["comment"] == "call 138****1234" and comment["via"] == "api"
        clock.now += timedelta(minutes=5)
        status, resolved = await api.post(f"{path}/resolve", keys.admin, {"by": "zhang.min"})
        assert status == 200 and resolved["alert"]["status"] == "resolved"
        assert resolved["alert"]["resolved_at"] == "2026-12-05T02:10:00Z"

        status, again = await api.post(f"{path}/resolve", keys.write, {"by": "zhang.min"})
        assert status == 409
        assert again["error"] == f"alert {ids['sms']} (fp-sms) is resolved: cannot resolve it (resolved -> resolved)"
        status, late = await api.post(f"{path}/ack", keys.write, {"by": "li.wei"})
        assert status == 409 and "cannot ack it" in late["error"]
        status, unknown = await api.post("/api/v1/alerts/424242/ack", keys.write, {"by": "li.wei"})
        assert status == 404 and "424242" in unknown["error"]

    history = ledger.history(ids["sms"])
    assert [(e.from_status, e.to_status, e.by, e.via, e.comment) for e in history] == [
        (None, "firing", SYSTEM, "auto", None),
        ("firing", "acknowledged", "li.wei", "api", "switching to gw-2"),
        (None, None, "li.wei", "api", f"call {CUSTOMER}"),
        ("acknowledged", "resolved", "zhang.min", "api", None),
    ]
    assert plan.calls[:2] == [(ids["sms"], "acknowledged", "li.wei"), (ids["sms"], "resolved", "zhang.min")]
    queued = ledger.outbox_items(ids["sms"])
    assert [(item.history_seq, item.recipient, item.channel) for item in queued] == [
        (2, "li.wei", "sms"),
        (4, "li.wei", "sms"),
    ]


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({}, 422, "body field 'by' is required"),
        ({"by": ""}, 422, "'by'"),
        ({"by": "   "}, 422, "'by'"),
        ({"by": "x" * 201}, 422, "'by'"),
        ({"by": 7}, 422, "'by'"),
        ({"by": "li.wei", "coment": "typo"}, 422, "'coment' is not known"),
        ({"by": "li\x00wei"}, 422, "'by': must not contain NUL characters"),
        ({"by": "li.wei", "comment": "x\x00"}, 422, "'comment': must not contain NUL characters"),
        (["li.wei"], 400, "must be a JSON object"),
        (b"{by: li.wei}", 400, "not valid JSON"),
    ],
)
async def test_a_bad_body_is_refused_naming_the_field(ledger: Ledger, body: object, status: int, named: str) -> None:
    alert_id = seed(ledger)["sms"]
    token = tokens(ledger).write
    async with served(context(ledger)) as api:
        path = f"/api/v1/alerts/{alert_id}/ack"
        if isinstance(body, bytes):
            answer = await api.post(path, token, raw=body)
        else:
            answer = await api.post(path, token, body)
    assert answer[0] == status and named in answer[1]["error"], answer
    assert ledger.alert(alert_id).status == "firing"


async def test_writes_need_a_write_token_and_reads_a_live_one(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    alert_id = seed(ledger)["sms"]
    keys = tokens(ledger)
    body = {"by": "li.wei"}
    caplog.set_level(logging.DEBUG)
    async with served(context(ledger)) as api:
        path = f"/api/v1/alerts/{alert_id}/ack"
        status, answer = await api.post(path, None, body)
        assert status == 401 and "Authorization: Bearer" in answer["error"] and "--scope write" in answer["error"]
        async with api.client.post(path, json=body) as raw:
            assert raw.headers["WWW-Authenticate"].startswith("Bearer")
        status, answer = await api.post(path, "tw_not-a-token", body)
        assert status == 401 and "unknown or revoked" in answer["error"]
        status, answer = await api.post(path, keys.read, body)
        assert status == 403 and "'dashboard' has scope read" in answer["error"] and "needs write" in answer["error"]
        assert (await api.get("/api/v1/alerts", None))[0] == 401
        assert (await api.get("/api/v1/silences", "garbage"))[0] == 401
        assert (await api.get("/api/v1/alerts", keys.read))[0] == 200
        assert ledger.alert(alert_id).status == "firing"

        assert (await api.post(path, keys.write, body))[0] == 200
        assert (await api.post(path, keys.admin, body))[0] == 200

        assert ledger.revoke_token("noc-bot", T0)
        status, answer = await api.post(path, keys.write, body)
        assert status == 401 and "revoked" in answer["error"]
        assert (await api.get("/api/v1/alerts", keys.write))[0] == 401

        for open_path in ("/health", "/metrics", "/openapi.json"):
            assert (await api.get(open_path))[0] == 200, open_path
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "'ops-admin'" in logged and "'noc-bot'" in logged  # log lines name the token
    for secret in (keys.read, keys.write, keys.admin):
        assert secret not in logged


async def test_unknown_paths_and_methods_answer_json(ledger: Ledger) -> None:
    token = tokens(ledger).read
    async with served(context(ledger)) as api:
        status, answer = await api.get("/api/v1/nothing-here", token)
        assert status == 404 and "/openapi.json" in answer["error"]
        status, answer = await api.call("PUT", "/api/v1/alerts", token)
        assert status == 405 and "allowed: GET" in answer["error"]


async def test_answers_mask_phone_numbers_in_labels_and_text(ledger: Ledger) -> None:
    labels = {"metric": "complaint_count", "region": "north", "caller": PHONES[1]}
    alert_id = ledger.observe("fp-caller", labels, 9, T0).alert.id
    ledger.comment(alert_id, "li.wei", "im", f"rang {PHONES[0]}", T0)
    token = tokens(ledger).read
    headers = {"Authorization": f"Bearer {token}"}
    async with served(context(ledger)) as api, api.client.get(f"/api/v1/alerts/{alert_id}", headers=headers) as raw:
        text = await raw.text()
    assert raw.status == 200
    assert PHONES[0] not in text and PHONES[1] not in text
    assert mask_msisdn(PHONES[1]) in text and f"rang {mask_msisdn(PHONES[0])}" in text

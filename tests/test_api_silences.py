"""Silences through the API over a real ledger: create with Alertmanager matchers, list by state, expire; a bad
matcher or window is refused naming it; what a created silence mutes is what its matchers say."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerting.ledger import Ledger
from fixtures.api import DROP_LABELS, SMS_LABELS, SOUTH_LABELS, Clock, context, served, tokens


async def test_create_list_and_expire_a_silence(ledger: Ledger) -> None:
    keys = tokens(ledger)
    clock = Clock()
    body = {
        "matchers": ['region="north"', 'metric=~"call_.*"', 'cell_id!="c1"'],
        "duration": "2h",
        "created_by": "zhang.min",
        "comment": "maintenance CR-1207, questions to 13812341234",
    }
    async with served(context(ledger, clock)) as api:
        status, made = await api.post("/api/v1/silences", keys.write, body)
        assert status == 201, made
        assert made["matchers"] == body["matchers"] and made["state"] == "active"
        assert (made["starts_at"], made["ends_at"]) == ("2026-12-05T02:00:00Z", "2026-12-05T04:00:00Z")
        assert made["created_by"] == "zhang.min" and made["comment"] == "maintenance CR-1207, questions to 138****1234"

        # What it mutes is what its matchers say (the ledger applies them).
        assert [s.id for s in ledger.silenced_by(DROP_LABELS, clock.now)] == [made["id"]]
        assert ledger.silenced_by(SMS_LABELS, clock.now) == []  # metric does not match call_.*
        assert ledger.silenced_by(SOUTH_LABELS, clock.now) == []  # region south
        assert ledger.silenced_by(DROP_LABELS | {"cell_id": "c1"}, clock.now) == []

        clock.now += timedelta(minutes=1)
        status, later = await api.post(
            "/api/v1/silences",
            keys.admin,
            {
                "matchers": ['severity="minor"'],
                "starts_at": "2026-12-05T12:00:00+08:00",
                "ends_at": "2026-12-05T14:00:00+08:00",
                "created_by": "li.wei",
                "comment": "night work",
            },
        )
        assert status == 201 and later["state"] == "pending" and later["starts_at"] == "2026-12-05T04:00:00Z"

        async def ids(query: str = "") -> list[str]:
            status, answer = await api.get(f"/api/v1/silences{query}", keys.read)
            assert status == 200, answer
            return [s["id"] for s in answer["silences"]]

        assert await ids() == [made["id"], later["id"]]
        assert await ids("?state=active") == [made["id"]]
        assert await ids("?state=pending") == [later["id"]]
        assert await ids("?state=expired") == []

        clock.now += timedelta(minutes=29)
        status, expired = await api.call("DELETE", f"/api/v1/silences/{made['id']}", keys.write)
        assert status == 200 and expired["state"] == "expired" and expired["ends_at"] == "2026-12-05T02:30:00Z"
        assert await ids("?state=expired") == [made["id"]]
        assert ledger.silenced_by(DROP_LABELS, clock.now) == []

        status, again = await api.call("DELETE", f"/api/v1/silences/{made['id']}", keys.write)
        assert status == 409 and "already expired" in again["error"]
        status, unknown = await api.call("DELETE", "/api/v1/silences/no-such-silence", keys.write)
        assert status == 404 and "no-such-silence" in unknown["error"]
        assert (await api.call("DELETE", f"/api/v1/silences/{later['id']}", keys.read))[0] == 403
        assert (await api.call("DELETE", f"/api/v1/silences/{later['id']}"))[0] == 401
        status, answer = await api.get("/api/v1/silences?state=gone", keys.read)
        assert status == 400 and "'state'" in answer["error"]


@pytest.mark.parametrize(
    ("matchers", "named"),
    [
        (['region="north"', "region"], "matchers[1]: matcher 'region'"),
        (['metric=~"("'], "bad regular expression"),
        (['9region="north"'], "matchers[0]"),
    ],
)
async def test_a_bad_matcher_is_refused_with_400_naming_it(ledger: Ledger, matchers: list[str], named: str) -> None:
    token = tokens(ledger).write
    body = {"matchers": matchers, "duration": "1h", "created_by": "li.wei", "comment": "x"}
    async with served(context(ledger)) as api:
        status, answer = await api.post("/api/v1/silences", token, body)
    assert status == 400 and named in answer["error"], answer
    assert ledger.silences(Clock()()) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"duration": None}, "give either ends_at or duration"),
        ({"ends_at": "2026-12-05T05:00:00Z"}, "give either ends_at or duration"),
        ({"duration": "forever"}, "'duration'"),
        ({"duration": "0"}, "must end after it starts"),
        ({"duration": "999999999d"}, "'duration': too long"),
        ({"duration": None, "ends_at": "2026-12-05T01:30:00Z"}, "must end after it starts"),
        ({"duration": None, "starts_at": "2026-12-05T00:00:00Z", "ends_at": "2026-12-05T01:30:00Z"}, "is past"),
        ({"duration": None, "ends_at": "2026-12-05T05:00:00"}, "'ends_at'"),  # no zone
        ({"matchers": []}, "'matchers'"),
        ({"comment": ""}, "'comment'"),
        ({"created_by": None}, "'created_by'"),
    ],
)
async def test_a_bad_window_or_field_is_refused_naming_it(
    ledger: Ledger, change: dict[str, object], named: str
) -> None:
    token = tokens(ledger).write
    body: dict[str, object] = {"matchers": ['region="north"'], "duration": "1h", "created_by": "li.wei", "comment": "x"}
    body = {k: v for k, v in (body | change).items() if v is not None}
    async with served(context(ledger)) as api:
        status, answer = await api.post("/api/v1/silences", token, body)
    assert status == 422 and named in answer["error"], answer
    assert ledger.silences(Clock()()) == []

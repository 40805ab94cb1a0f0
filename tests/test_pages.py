"""The pages over a real ledger (SQLite and PostgreSQL) through aiohttp's test client and the API's app: the ack
page of a signed link (read-only GET, single-use POST, refusals), the incident board and the hotline page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from alerting.ack_links import AckLinks
from alerting.api.app import build_app
from alerting.api.context import ApiContext
from alerting.ledger import SYSTEM, Ledger
from fixtures.pages import (
    CUSTOMER,
    LONG_DIGITS,
    PHONES,
    T0,
    Clock,
    Plan,
    context,
    drop_alert,
    link,
    sms_alert,
)

EN = {"Accept-Language": "en-US,en;q=0.9"}


@asynccontextmanager
async def served(ctx: ApiContext) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(build_app(ctx))) as client:
        yield client


async def fetch(client: TestClient[web.Request, web.Application], path: str, **kwargs: object) -> tuple[int, str]:
    async with client.get(path, **kwargs) as response:  # type: ignore[arg-type]
        return response.status, await response.text()


async def post(
    client: TestClient[web.Request, web.Application], path: str, data: dict[str, str], **kwargs: object
) -> tuple[int, str]:
    async with client.post(path, data=data, **kwargs) as response:  # type: ignore[arg-type]
        return response.status, await response.text()


def link_state(ledger: Ledger, alert_id: int) -> tuple[str, int]:
    return ledger.alert(alert_id).status, len(ledger.history(alert_id))


# -- the ack page ------------------------------------------------------------------------------------------


async def test_get_shows_the_alert_and_changes_nothing(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = sms_alert(ledger)
    path = link(ctx, alert_id)
    async with served(ctx) as client:
        for _ in range(2):  # an IM app's prefetch, then the person
            status, html = await fetch(client, path)
            assert status == 200
            for shown in (
                "SMS delivery success rate",
                "0.62",
                "0.97",
                "0.95–0.99",
                "-36%",
                "短信中心 李伟",
                "region=north",
            ):
                assert shown in html
            assert "<svg" in html and 'name="action" value="ack"' in html and 'value="resolve"' in html
    assert link_state(ledger, alert_id) == ("firing", 1)
    assert ledger.link_use(AckLinks.digest(path.rsplit("/", 1)[1])) is None


async def test_an_alert_without_an_expected_value_has_no_chart(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = sms_alert(ledger, expected=None)
    async with served(ctx) as client:
        status, html = await fetch(client, link(ctx, alert_id))
    assert status == 200 and "<svg" not in html and "No expected value was recorded" in html


async def test_post_acknowledges_once_in_the_persons_name(ledger: Ledger) -> None:
    clock, plan = Clock(), Plan()
    ctx = context(ledger, clock, plan)
    alert_id = sms_alert(ledger)
    path = link(ctx, alert_id)
    async with served(ctx) as client:
        status, html = await post(client, path, {"action": "ack", "comment": "switching to the backup SMSC"})
        assert status == 200 and "Acknowledged" in html and "李伟" in html
        alert = ledger.alert(alert_id)
        assert alert.status == "acknowledged" and alert.ack_deadline == clock.now + timedelta(minutes=30)
        last = ledger.history(alert_id)[-1]
        assert (last.by, last.via, last.comment, last.at) == (
            "li.wei",
            "sms_link",
            "switching to the backup SMSC",
            clock.now,
        )
        assert plan.calls == [(alert_id, "acknowledged", "li.wei")]
        assert [(i.recipient, i.history_seq) for i in ledger.outbox_items(alert_id)] == [("sms-centre", last.seq)]
        clock.now += timedelta(minutes=5)
        for again in (fetch(client, path), post(client, path, {"action": "resolve"})):
            status, html = await again
            assert status == 410 and "李伟" in html and "2026-12-05 09:20" in html and "acknowledged" in html
    assert link_state(ledger, alert_id) == ("acknowledged", 2)


async def test_resolve_through_the_link(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = sms_alert(ledger)
    async with served(ctx) as client:
        status, html = await post(client, link(ctx, alert_id), {"action": "resolve", "comment": ""})
    assert status == 200 and "resolved by 李伟" in html
    assert ledger.alert(alert_id).status == "resolved" and ledger.history(alert_id)[-1].comment is None


async def test_forged_expired_and_malformed_links_are_refused(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = sms_alert(ledger)
    ack_body = link(ctx, alert_id).rsplit("/", 1)[1].split(".")[0]
    view_mac = link(ctx, alert_id, "view").rsplit("/", 1)[1].split(".")[1]
    refused = {
        f"/a/{ack_body}.{view_mac}": "signature does not match",  # a view link turned into an ack link
        "/a/" + AckLinks(b"x" * 32, "").token(str(alert_id), "ack", 2**40, "li.wei"): "signature does not match",
        link(ctx, alert_id, ttl_h=-1): "expired",
        "/a/not-a-token": "not one telewatch made",
    }
    async with served(ctx) as client:
        for path, why in refused.items():
            answers = (await fetch(client, path, headers=EN), await post(client, path, {"action": "ack"}, headers=EN))
            for status, html in answers:
                assert status == 403 and why in html and "Link refused" in html
    assert link_state(ledger, alert_id) == ("firing", 1)


async def test_a_resolved_alert_answers_409_and_does_not_burn_the_link(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = sms_alert(ledger)
    ledger.resolve(alert_id, "zhang.min", "api", T0 + timedelta(minutes=15))
    path = link(ctx, alert_id)
    async with served(ctx) as client:
        status, html = await post(client, path, {"action": "ack"}, headers=EN)
        assert status == 409 and "is resolved: it cannot be acknowledged" in html
        status, html = await fetch(client, path)
        assert status == 200 and "nothing to do" in html and 'name="action"' not in html
    assert ledger.link_use(AckLinks.digest(path.rsplit("/", 1)[1])) is None


async def test_a_double_post_of_one_link_makes_one_transition(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = sms_alert(ledger)
    path = link(ctx, alert_id)
    async with served(ctx) as client:
        answers = await asyncio.gather(*(post(client, path, {"action": a}) for a in ("ack", "resolve", "ack")))
    assert sorted(status for status, _ in answers) == [200, 410, 410]
    people = [e for e in ledger.history(alert_id) if e.via == "sms_link"]
    assert (
        len(people) == 1
        and ledger.alert(alert_id).status
        == {"ack": "acknowledged", "resolve": "resolved"}[
            ledger.link_use(AckLinks.digest(path.rsplit("/", 1)[1])).action  # type: ignore[union-attr]
        ]
    )


async def test_cross_site_posts_are_refused_same_origin_ones_pass(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = sms_alert(ledger)
    path = link(ctx, alert_id)
    async with served(ctx) as client:
        for headers in (
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Origin": "https://evil.example"},
        ):
            status, html = await post(client, path, {"action": "ack"}, headers={**headers, **EN})
            assert status == 403 and "Cross-site submission refused" in html
        assert link_state(ledger, alert_id) == ("firing", 1)
        own = str(client.make_url("/").origin())
        status, _ = await post(
            client, path, {"action": "ack"}, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"}
        )
        assert status == 200 and ledger.alert(alert_id).status == "acknowledged"


async def test_a_view_link_shows_but_cannot_act_and_unknown_actions_are_refused(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = sms_alert(ledger)
    async with served(ctx) as client:
        view = link(ctx, alert_id, "view")
        status, html = await fetch(client, view)
        assert status == 200 and "for viewing only" in html and "<form" not in html
        assert (await post(client, view, {"action": "ack"}))[0] == 403
        assert (await post(client, link(ctx, alert_id, "resolve"), {"action": "ack"}))[0] == 403
        assert (await post(client, link(ctx, alert_id), {"action": "delete"}))[0] == 400
        assert (await fetch(client, link(ctx, 999_999)))[0] == 404
    assert link_state(ledger, alert_id) == ("firing", 1)


async def test_a_link_naming_nobody_acts_as_ack_link_and_pages_follow_the_persons_language(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = drop_alert(ledger)
    async with served(ctx) as client:
        status, html = await fetch(client, link(ctx, alert_id, person="zhang.min"), headers=EN)
        assert status == 200 and "掉话率" in html and "确认（我来处理）" in html  # zhang.min reads Chinese
        status, html = await post(client, link(ctx, alert_id, person=None), {"action": "ack"}, headers=EN)
    assert status == 200 and "Acknowledged" in html
    assert ledger.history(alert_id)[-1].by == "ack-link"


async def test_pages_escape_what_they_show_and_carry_no_script(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id = ledger.observe(
        "fp-x", {"metric": "network_kpi", "region": "<script>alert(1)</script>"}, 1.0, T0
    ).alert.id
    ledger.comment(alert_id, "<b>mallory</b>", "api", "<img src=x onerror=alert(2)>", T0)
    async with served(ctx) as client, client.get(link(ctx, alert_id)) as response:
        html = await response.text()
        csp = response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "same-origin" and response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "<script>" not in html and "&lt;script&gt;" in html and "<img" not in html and "&lt;b&gt;mallory" in html


# -- privacy -----------------------------------------------------------------------------------------------


async def test_no_phone_number_appears_on_any_page(ledger: Ledger) -> None:
    ctx = context(ledger)
    alert_id, drop_id = sms_alert(ledger), drop_alert(ledger)
    ledger.comment(alert_id, "li.wei", "im", f"customer {CUSTOMER} and +{PHONES[1]} complain", T0)
    ledger.comment(drop_id, f"+{CUSTOMER}", "api", "caller", T0)
    token = ledger.create_token("noc", ["read"], T0)
    async with served(ctx) as client:
        used = link(ctx, alert_id)
        pages = [await fetch(client, used)]
        pages.append(await post(client, used, {"action": "ack", "comment": f"called {CUSTOMER} back"}))
        pages.append(await fetch(client, used))  # 410
        pages.append(await fetch(client, link(ctx, drop_id, person="zhang.min")))
        pages.append(await fetch(client, f"/board?token={token}"))
        pages.append(await fetch(client, "/hotline?region=north", headers={"Authorization": f"Bearer {token}"}))
    assert [status for status, _ in pages] == [200, 200, 410, 200, 200, 200]
    assert "138****1234" in pages[0][1] and "138****1234" in pages[3][1]
    for _, html in pages:
        assert not LONG_DIGITS.findall(html), LONG_DIGITS.findall(html)
    assert CUSTOMER not in (ledger.history(alert_id)[-1].comment or "")  # a typed number is stored masked too


# -- the board and the hotline page --------------------------------------------------------------------------


async def test_board_and_hotline_need_a_read_token(ledger: Ledger) -> None:
    ctx = context(ledger)
    token = ledger.create_token("wall", ["read"], T0)
    revoked = ledger.create_token("gone", ["admin"], T0)
    ledger.revoke_token("gone", T0)
    async with served(ctx) as client:
        for page in ("/board", "/hotline?region=north"):
            for headers, query in (({}, ""), ({"Authorization": "Bearer nope"}, ""), ({}, f"&token={revoked}")):
                async with client.get(
                    page + ("?" if "?" not in page else "") + query, headers={**headers, **EN}
                ) as response:
                    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
                    assert "read token" in await response.text()
            assert (await fetch(client, page, headers={"Authorization": f"Bearer {token}"}))[0] == 200
            sep = "&" if "?" in page else "?"
            assert (await fetch(client, f"{page}{sep}token={token}"))[0] == 200


async def test_the_board_lists_open_alerts_by_severity_then_age_with_who_acknowledged(ledger: Ledger) -> None:
    clock = Clock()
    ctx = context(ledger, clock)
    sms_id, drop_id = sms_alert(ledger), drop_alert(ledger, minutes=10)
    gone = ledger.observe("fp-gone", {"metric": "call_setup_success_rate", "severity": "critical"}, 0.5, T0).alert.id
    ledger.resolve(gone, SYSTEM, "auto", T0 + timedelta(minutes=1))
    ledger.ack(sms_id, "li.wei", "sms_link", T0 + timedelta(minutes=5), timedelta(minutes=30))
    token = ledger.create_token("wall", ["read"], T0)
    async with served(ctx) as client:
        status, html = await fetch(client, f"/board?token={token}&lang=en")
    assert status == 200 and '<meta http-equiv="refresh" content="30">' in html and "2 open alerts" in html
    assert html.index(f'data-alert="{drop_id}"') < html.index(f'data-alert="{sms_id}"')  # critical before major
    assert f'data-alert="{gone}"' not in html
    sms_row = html[html.index(f'data-alert="{sms_id}"') :]
    assert "acknowledged" in sms_row[:300] and '<td class="acked-by">李伟</td>' in sms_row
    assert "0.62 / 0.97" in sms_row and "20m" in sms_row and "短信中心 李伟" in sms_row
    drop_row = html[html.index(f'data-alert="{drop_id}"') : html.index(f'data-alert="{sms_id}"')]
    assert "call drop rate" in drop_row and "cell_id=c042" in drop_row and "10m" in drop_row


async def test_the_hotline_page_shows_the_script_for_the_callers_region(ledger: Ledger) -> None:
    ctx = context(ledger)
    sms_alert(ledger)
    drop_alert(ledger)
    token = ledger.create_token("hotline", ["read"], T0)
    async with served(ctx) as client:
        status, form = await fetch(client, f"/hotline?token={token}")
        assert status == 200 and 'name="region"' in form and '<option value="north">' in form
        status, html = await fetch(client, f"/hotline?token={token}&region=north&cell=c042&lang=zh")
        assert status == 200 and "north c042 的故障 2 条" in html
        assert "该区域通话质量下降，工程师正在处理。" in html and "短信通道故障" in html
        assert f'name="token" value="{token}"' in html  # the next lookup keeps the token
        status, html = await fetch(client, f"/hotline?token={token}&region=north&cell=c999&lang=en")
        assert "1 incidents in north c999" in html and "通话质量" not in html  # another cell: only the SMS one
        status, html = await fetch(client, f"/hotline?token={token}&region=south&lang=en")
        assert "No customer-impacting incident in south now" in html and "短信通道故障" not in html

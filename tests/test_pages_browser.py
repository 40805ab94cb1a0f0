"""The pages in a real browser: Debian's Chromium driven by Playwright against the API's app on a free port,
over a SQLite ledger. An SMS ack link on a phone (read, comment, acknowledge, then used and forged links), the
incident board and the hotline lookup.

Chromium comes from Debian (``./dev setup`` installs it as root); Playwright's own browser download is not used.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from alerting.api.app import start
from alerting.api.context import ApiContext
from alerting.ledger import Ledger
from fixtures.pages import T0, context, drop_alert, link, sms_alert

PHONE = {"width": 390, "height": 844}
INSTALL = "install Debian's chromium: `./dev setup` as root, or `apt-get install --no-install-recommends chromium`"


@dataclass
class Served:
    """The API's app serving a ledger at ``base``."""

    base: str
    ledger: Ledger
    ctx: ApiContext


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The app on a free port, its event loop in a thread of its own (Playwright's sync API wants this one)."""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    ctx = context(ledger)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="pages-server", daemon=True)
    thread.start()
    runner, port = asyncio.run_coroutine_threadsafe(start(ctx, "127.0.0.1", 0), loop).result(30)
    try:
        yield Served(f"http://127.0.0.1:{port}", ledger, ctx)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        ledger.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(f"no chromium on PATH: {INSTALL}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"] if os.geteuid() == 0 else []
        )
        yield launched
        launched.close()


def open_page(browser: Browser, **options: object) -> tuple[Page, list[str]]:
    """A new page and the console errors it logs (a Content-Security-Policy violation would be one; the
    refusal pages' own 4xx statuses are expected and left out)."""
    page = browser.new_context(locale="en-US", **options).new_page()  # type: ignore[arg-type]
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource: the server responded"):
            errors.append(message.text)

    page.on("console", on_console)
    return page, errors


def test_an_ack_link_on_a_phone_acknowledges_once(served: Served, browser: Browser) -> None:
    alert_id = sms_alert(served.ledger)
    url = served.base + link(served.ctx, alert_id)
    page, errors = open_page(browser, viewport=PHONE, is_mobile=True, has_touch=True)

    response = page.goto(url)
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_have_text("SMS delivery success rate")
    expect(page.locator("#value")).to_have_text("0.62")
    expect(page.locator("#expected")).to_have_text("0.97")
    expect(page.locator("svg")).to_be_visible()
    expect(page.locator("svg")).to_contain_text("Expected 0.97")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    assert page.locator("button.ack").evaluate("e => getComputedStyle(e).minHeight") == "48px"  # inline CSS applied
    assert served.ledger.alert(alert_id).status == "firing"  # opening the page changed nothing

    page.fill("#comment", "switching to the backup SMSC")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("h1")).to_have_text("Acknowledged")
    expect(page.locator("main")).to_contain_text(f"Alert #{alert_id} (SMS delivery success rate) acknowledged by 李伟")
    alert, last = served.ledger.alert(alert_id), served.ledger.history(alert_id)[-1]
    assert alert.status == "acknowledged"
    assert (last.by, last.via, last.comment) == ("li.wei", "sms_link", "switching to the backup SMSC")

    response = page.goto(url)
    assert response is not None and response.status == 410
    expect(page.locator("h1")).to_have_text("Link already used")
    expect(page.locator("main")).to_contain_text("by 李伟 (acknowledged)")

    body, mac = url.rsplit("/", 1)[1].split(".")
    response = page.goto(f"{served.base}/a/{body}.{mac[::-1]}")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Link refused")
    expect(page.locator("main")).to_contain_text("signature does not match")
    assert errors == []


def test_the_board_shows_who_acknowledged(served: Served, browser: Browser) -> None:
    sms_id, drop_id = sms_alert(served.ledger), drop_alert(served.ledger)
    served.ledger.ack(sms_id, "li.wei", "sms_link", T0 + timedelta(minutes=5), timedelta(minutes=30))
    token = served.ledger.create_token("wall", ["read"], T0)
    page, errors = open_page(browser, viewport={"width": 1280, "height": 800})

    response = page.goto(f"{served.base}/board")
    assert response is not None and response.status == 401
    expect(page.locator("h1")).to_have_text("Token required")

    page.goto(f"{served.base}/board?token={token}")
    expect(page.locator("h1")).to_have_text("Incident board")
    assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "30"
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-alert", str(drop_id))  # critical first
    acked = page.locator(f'tr[data-alert="{sms_id}"]')
    expect(acked).to_contain_text("acknowledged")
    expect(acked.locator("td.acked-by")).to_have_text("李伟")
    expect(acked).to_contain_text("0.62 / 0.97")
    assert errors == []


def test_the_hotline_page_shows_the_script_for_a_region(served: Served, browser: Browser) -> None:
    drop_alert(served.ledger)
    token = served.ledger.create_token("hotline", ["read"], T0)
    page, errors = open_page(browser, viewport=PHONE, is_mobile=True)

    page.goto(f"{served.base}/hotline?token={token}")
    expect(page.locator("h1")).to_have_text("Hotline lookup")
    page.fill("#region", "north")
    page.fill("#cell", "c042")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator(".incident .script")).to_contain_text("该区域通话质量下降，工程师正在处理。")
    expect(page.locator(".incident h1")).to_have_text("掉话率")
    expect(page.locator("main")).to_contain_text("1 incidents in north c042")

    page.fill("#region", "south")
    page.fill("#cell", "")
    page.get_by_role("button", name="Look up").click()  # the token rides along in the form
    expect(page.locator("main")).to_contain_text("No customer-impacting incident in south now")
    assert errors == []

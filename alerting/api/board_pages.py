"""The NOC incident board (``/board``) and the hotline page (``/hotline``), for holders of a read token.

Both need an API token with the ``read`` scope, given as ``?token=`` (so a wall
screen or a bookmark can carry it; the pages send no Referer elsewhere) or as
``Authorization: Bearer``; without one they answer 401. Kept simple on
purpose: no login, no cookies.

- ``/board``: open alerts (firing, acknowledged), most severe then oldest
  first, with status, metric, area, value against expected, age, owner and
  who acknowledged; it reloads itself every 30 s.
- ``/hotline?region=R&cell=C``: the customer-impacting incidents where a
  caller is (``alerting.hotline.lookup``) with the explanation script to read.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from alerting.api.auth import bearer
from alerting.api.context import ApiContext
from alerting.api.page_render import notice, page
from alerting.api.page_text import TEXT, Language, pick_language
from alerting.api.page_views import AlertFacts, board_order, facts, local_time
from alerting.api.queries import hotline_alerts
from alerting.hotline import Incident, lookup


def given_token(request: web.Request) -> str | None:
    """The token in ``Authorization: Bearer`` or else in ``?token=``."""
    return bearer(request) or request.query.get("token") or None


class BoardPages:
    """The handlers of ``/board`` and ``/hotline`` over one context."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    async def _refusal(self, request: web.Request, lang: Language) -> web.Response | None:
        token = given_token(request)
        if token is not None and await asyncio.to_thread(self.ctx.ledger.verify_token, token, "read") is not None:
            return None
        t = TEXT[lang]
        headers = {"WWW-Authenticate": 'Bearer realm="telewatch"'}
        return notice(lang, 401, t["unauthorized"], t["unauthorized_text"], headers=headers)

    @staticmethod
    def _lang(request: web.Request) -> Language:
        return pick_language(request.headers.get("Accept-Language"), request.query.get("lang"))

    async def board(self, request: web.Request) -> web.Response:
        """GET /board."""
        lang = self._lang(request)
        refused = await self._refusal(request, lang)
        if refused is not None:
            return refused
        now = self.ctx.clock()
        rows = await asyncio.to_thread(self._rows, lang)
        t = TEXT[lang]
        count, refreshed = t["open_alerts"].format(n=len(rows)), t["refresh"].format(now=local_time(now))
        return page("board.html", lang, rows=rows, count=count, refreshed=refreshed)

    def _rows(self, lang: Language) -> list[AlertFacts]:
        ledger, now = self.ctx.ledger, self.ctx.clock()
        found = sorted([*ledger.alerts("firing"), *ledger.alerts("acknowledged")], key=board_order)
        return [facts(a, ledger.history(a.id), self.ctx.settings.owners, lang, now) for a in found]

    async def hotline(self, request: web.Request) -> web.Response:
        """GET /hotline?region=R&cell=C."""
        lang = self._lang(request)
        refused = await self._refusal(request, lang)
        if refused is not None:
            return refused
        region, cell = request.query.get("region", "").strip(), request.query.get("cell", "").strip()
        regions, incidents = await asyncio.to_thread(self._lookup, region, cell or None)
        where = " ".join(v for v in (region, cell) if v)
        t = TEXT[lang]
        key = "incidents" if incidents else "no_incidents"
        values: dict[str, Any] = {
            "region": region,
            "cell": cell,
            "regions": regions,
            "incidents": incidents,
            "summary": t[key].format(n=len(incidents), where=where),
            "token": request.query.get("token", ""),  # kept in the form only when it came in the address
            "asked_lang": request.query.get("lang", "") if request.query.get("lang") in ("zh", "en") else "",
        }
        return page("hotline.html", lang, **values)

    def _lookup(self, region: str, cell: str | None) -> tuple[list[str], list[Incident]]:
        owners = self.ctx.settings.owners
        found = hotline_alerts(self.ctx.ledger, owners, self.ctx.clock())
        regions = sorted({a.labels["region"] for a in found if "region" in a.labels})
        return regions, lookup(found, owners, region, cell) if region else []

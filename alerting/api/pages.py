"""The pages people open: the ack page of a signed link, the NOC incident board and the hotline page.

Server-rendered HTML for phones and wall screens: jinja2 templates with
autoescaping, styles inline, no script and nothing loaded from elsewhere. No
subscriber number appears: people are shown by name, and free text typed by
people passes through :func:`core.privacy.mask_numbers_in_text`.

- ``GET /a/{token}``, ``POST /a/{token}``: :mod:`alerting.api.ack_page`.
- ``GET /board``, ``GET /hotline``: :mod:`alerting.api.board_pages` (a read token required).
"""

from __future__ import annotations

from aiohttp import web

from alerting.api.ack_page import AckPage
from alerting.api.board_pages import BoardPages
from alerting.api.context import ApiContext


def add_pages(app: web.Application, ctx: ApiContext) -> None:
    """Register the HTML pages on ``app``."""
    ack, boards = AckPage(ctx), BoardPages(ctx)
    app.router.add_get("/a/{token}", ack.show)
    app.router.add_post("/a/{token}", ack.act)
    app.router.add_get("/board", boards.board)
    app.router.add_get("/hotline", boards.hotline)

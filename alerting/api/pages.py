"""The pages people open (ack page, incident board, hotline page): being built, see ``add_pages``."""

from __future__ import annotations

from aiohttp import web

from alerting.api.context import ApiContext


def add_pages(app: web.Application, ctx: ApiContext) -> None:
    """Register the HTML pages on ``app`` (none yet: the pages are the next change)."""

"""Rendering a page: the jinja2 templates (autoescaped), the headers every page carries, refusals and notices."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from alerting.api.page_text import TEXT, Language

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

#: No script, no outside resource; the link's token never leaves in a Referer; nothing is cached.
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}


def page(
    template: str, lang: Language, status: int = 200, headers: Mapping[str, str] | None = None, **values: Any
) -> web.Response:
    """A page from ``template`` in ``lang`` (the template gets ``lang``, the words ``t`` and ``values``)."""
    html = _TEMPLATES.get_template(template).render(lang=lang, t=TEXT[lang], **values)
    return web.Response(
        text=html, status=status, content_type="text/html", charset="utf-8", headers={**HEADERS, **(headers or {})}
    )


def notice(
    lang: Language,
    status: int,
    heading: str,
    message: str,
    *,
    tone: str = "",
    detail: str = "",
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A page with one message: a refusal (``tone`` empty), information (``info``) or a confirmation (``ok``)."""
    return page("notice.html", lang, status, headers, heading=heading, message=message, tone=tone, detail=detail)

"""The page of a signed ack link, ``/a/{token}``: the alert, and buttons to acknowledge or resolve it once.

``GET`` only reads (IM apps and mail scanners prefetch links). ``POST`` (a form:
``action`` = ack | resolve, optional ``comment``) uses the link and makes the
transition in one ledger transaction, in the name of the person the link was
sent to, via ``sms_link``. The token authorises; a POST a browser marks as sent
from another site (``Sec-Fetch-Site``, else ``Origin``) is refused.

A forged, malformed or expired link gets 403, a used one 410 (when and by
whom), an alert that cannot make the change (already resolved) 409.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from aiohttp import web
from yarl import URL

from alerting.ack_links import AckLinks, LinkClaim, LinkRefused
from alerting.api.context import ApiContext
from alerting.api.page_render import notice, page
from alerting.api.page_text import TEXT, Language, pick_language
from alerting.api.page_views import facts, local_time, person_name, pick
from alerting.ledger import Alert, HistoryEntry, InvalidTransition, Transition, UnknownAlert
from alerting.ledger.links import LinkAction, LinkUse, LinkUsed
from alerting.render import STATUS
from core.durations import parse_duration
from core.privacy import mask_numbers_in_text

#: What each kind of link lets its person do.
ALLOWED: dict[str, tuple[LinkAction, ...]] = {"ack": ("ack", "resolve"), "resolve": ("resolve",), "view": ()}
#: Who the ledger names when a link names nobody.
ANONYMOUS = "ack-link"
#: The longest comment kept.
COMMENT_CHARS = 1000
_DONE: dict[str, tuple[str, str]] = {"ack": ("确认", "acknowledged"), "resolve": ("解决", "resolved")}


def cross_site(request: web.Request, public_url: str) -> bool:
    """Whether the browser says this request comes from another site (requests without those headers pass)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin is not None and origin not in {str(request.url.origin()), str(URL(public_url).origin())}


class AckPage:
    """The two handlers of ``/a/{token}`` over one context."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def _lang(self, request: web.Request, claim: LinkClaim | None = None) -> Language:
        person = self.ctx.settings.owners.people.get(claim.person) if claim and claim.person else None
        return person.language if person is not None else pick_language(request.headers.get("Accept-Language"))

    def _verify(self, request: web.Request) -> tuple[str, LinkClaim, int | None]:
        token = request.match_info["token"]
        claim = self.ctx.links.verify(token, now=self.ctx.clock().timestamp())
        return AckLinks.digest(token), claim, int(claim.alert_id) if claim.alert_id.isdigit() else None

    def _name(self, who: str) -> str:
        return person_name(self.ctx.settings.owners, who)

    def _not_found(self, lang: Language, alert_id: object) -> web.Response:
        t = TEXT[lang]
        return notice(lang, 404, t["not_found"], t["not_found_text"].format(id=alert_id))

    def _used(self, lang: Language, use: LinkUse) -> web.Response:
        t, action = TEXT[lang], _DONE.get(use.action, (use.action, use.action))
        when, who = local_time(use.used_at), self._name(use.used_by)
        message = t["used"].format(when=when, who=who, action=action[0 if lang == "zh" else 1])
        return notice(lang, 410, t["used_title"], message, tone="info")

    async def show(self, request: web.Request) -> web.Response:
        """GET: the alert and its buttons; changes nothing."""
        try:
            digest, claim, alert_id = self._verify(request)
        except LinkRefused as refused:
            lang = self._lang(request)
            return notice(lang, 403, TEXT[lang]["refused"], str(refused))
        lang = self._lang(request, claim)
        if alert_id is None:
            return self._not_found(lang, claim.alert_id)
        try:
            use, alert, history = await asyncio.to_thread(self._read, digest, alert_id)
        except UnknownAlert:
            return self._not_found(lang, alert_id)
        if use is not None:
            return self._used(lang, use)
        shown = facts(alert, history, self.ctx.settings.owners, lang, self.ctx.clock())
        return page("alert.html", lang, a=shown, actions=ALLOWED[claim.action])

    def _read(self, digest: str, alert_id: int) -> tuple[LinkUse | None, Alert, list[HistoryEntry]]:
        ledger = self.ctx.ledger
        return ledger.link_use(digest), ledger.alert(alert_id), ledger.history(alert_id)

    async def act(self, request: web.Request) -> web.Response:
        """POST: use the link to acknowledge or resolve, once."""
        lang = self._lang(request)
        t = TEXT[lang]
        if cross_site(request, self.ctx.settings.api.public_url):
            return notice(lang, 403, t["cross_site"], t["cross_site_text"])
        try:
            digest, claim, alert_id = self._verify(request)
        except LinkRefused as refused:
            return notice(lang, 403, t["refused"], str(refused))
        lang = self._lang(request, claim)
        t = TEXT[lang]
        if alert_id is None:
            return self._not_found(lang, claim.alert_id)
        form = await request.post()
        action, comment = form.get("action"), form.get("comment")
        if not isinstance(action, str) or action not in ALLOWED[claim.action]:
            return notice(lang, 403 if action in _DONE else 400, t["bad_action"], t["bad_action_text"])
        text = mask_numbers_in_text(comment.strip()[:COMMENT_CHARS]) if isinstance(comment, str) else ""
        by = claim.person or ANONYMOUS
        act: LinkAction = "ack" if action == "ack" else "resolve"
        try:
            done = await asyncio.to_thread(self._act, digest, alert_id, act, by, self.ctx.clock(), text or None)
        except LinkUsed as used:
            return self._used(lang, used.use)
        except UnknownAlert:
            return self._not_found(lang, alert_id)
        except InvalidTransition as invalid:
            status = pick(STATUS, invalid.status, lang)
            words = _DONE[act][0 if lang == "zh" else 1]
            return notice(lang, 409, t["conflict"], t["conflict_text"].format(id=alert_id, status=status, action=words))
        return self._done(lang, act, done)

    def _act(
        self, digest: str, alert_id: int, action: LinkAction, by: str, now: datetime, comment: str | None
    ) -> Transition:
        ctx = self.ctx
        alert = ctx.ledger.alert(alert_id)
        notify = ctx.plan(alert, "acknowledged" if action == "ack" else "resolved", by)
        ack_timeout = timedelta(seconds=parse_duration(ctx.settings.ack_timeout))
        return ctx.ledger.transition_by_link(digest, alert_id, action, by, now, ack_timeout, comment, notify)

    def _done(self, lang: Language, action: LinkAction, done: Transition) -> web.Response:
        t = TEXT[lang]
        shown = facts(done.alert, (), self.ctx.settings.owners, lang, self.ctx.clock())
        deadline = local_time(done.alert.ack_deadline) if done.alert.ack_deadline else "–"
        values = {"who": self._name(done.entry.by), "id": done.alert.id, "metric": shown.metric, "deadline": deadline}
        return notice(lang, 200, t[f"done_{action}"], t[f"done_{action}_text"].format(**values), tone="ok")

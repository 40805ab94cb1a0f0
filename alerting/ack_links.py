"""Short signed one-click links: ``/a/<token>`` acknowledges or resolves one alert, until it expires, once.

The token is ``base64url(alert_id | action | expiry [| person]) . base64url(HMAC-SHA256(secret, that))``,
truncated to 16 bytes of MAC (128 bits: enough against forgery, short enough for an SMS); to keep it short,
the action is one letter (a, r, v) and the expiry (Unix seconds) is in base 36. ``person`` is who
the link was sent to (a person id of the owners registry): the ack page acts in their name. Verification
checks the MAC in constant time, then the expiry; single use is the ledger's job (it records the token's
digest when the link is used and refuses it the second time).

>>> links = AckLinks(b"k" * 32, "https://tw.example/a/")
>>> url = links.url("A7", "ack", expires_at=2_000_000_000, person="li.wei")
>>> token = url.rsplit("/", 1)[1]
>>> len(token), len(links.token("123456", "resolve", expires_at=2_000_000_000, person="zhang.min"))
(47, 57)
>>> links.verify(token, now=1_900_000_000)
LinkClaim(alert_id='A7', action='ack', expires_at=2000000000, person='li.wei')
>>> links.verify(token, now=2_000_000_001)
Traceback (most recent call last):
...
alerting.ack_links.LinkRefused: the link expired at 2033-05-18 03:33 UTC; open the alert from the incident board
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Action = Literal["ack", "resolve", "view"]
_ACTIONS: tuple[Action, ...] = ("ack", "resolve", "view")
_CODES: dict[str, Action] = {action[0]: action for action in _ACTIONS}
_MAC_BYTES = 16


class LinkRefused(ValueError):
    """A link that is forged, malformed, expired or (said by the ledger) already used."""


@dataclass(frozen=True)
class LinkClaim:
    """What a valid link allows."""

    alert_id: str
    action: Action
    expires_at: int
    #: Who the link was sent to (a person id), when the link names one.
    person: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _base36(number: int) -> str:
    if number < 0:
        raise ValueError(f"an expiry is a Unix time, not {number}")
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if not number:
            return digits


class AckLinks:
    """Signs and verifies links with one secret (at least 32 bytes, from the environment, never logged)."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        if len(secret) < 32:
            raise ValueError("the ack-link secret must be at least 32 bytes (e.g. from `openssl rand -hex 32`)")
        self._secret = secret
        self.base_url = base_url

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def token(self, alert_id: str, action: Action, expires_at: int, person: str | None = None) -> str:
        """The token of a link (``person``: who it is sent to; the MAC covers it)."""
        if "|" in alert_id or action not in _ACTIONS:
            raise ValueError(f"cannot sign alert id {alert_id!r} with action {action!r}")
        if person is not None and ("|" in person or not person):
            raise ValueError(f"cannot sign person {person!r}: a person id is not empty and has no '|'")
        fields = [alert_id, action[0], _base36(expires_at), *([person] if person is not None else [])]
        body = "|".join(fields).encode()
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def url(self, alert_id: str, action: Action, expires_at: int, person: str | None = None) -> str:
        """The full link."""
        return self.base_url + self.token(alert_id, action, expires_at, person)

    def verify(self, token: str, now: float) -> LinkClaim:
        """The claim of a genuine, unexpired token; :class:`LinkRefused` otherwise."""
        try:
            body_part, mac_part = token.split(".")
            body, mac = _unb64(body_part), _unb64(mac_part)
        except ValueError:
            raise LinkRefused("the link is not one telewatch made; open the alert from the incident board") from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise LinkRefused("the link's signature does not match; open the alert from the incident board")
        try:
            alert_id, code, expiry, *person = body.decode().split("|")
            action, expires_at = _CODES[code], int(expiry, 36)
        except (KeyError, ValueError):  # signed by us, in a format this telewatch does not read
            raise LinkRefused(
                "the link's format is not one this telewatch reads; open the alert from the incident board"
            ) from None
        if now > expires_at:
            when = datetime.fromtimestamp(expires_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise LinkRefused(f"the link expired at {when}; open the alert from the incident board")
        return LinkClaim(alert_id, action, expires_at, person[0] if person else None)

    @staticmethod
    def digest(token: str) -> str:
        """What the ledger stores to refuse a second use (not the token itself)."""
        return hashlib.sha256(token.encode()).hexdigest()

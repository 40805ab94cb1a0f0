"""API tokens: only a SHA-256 of each token is stored; scopes read < write < admin."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from alerting.ledger.base import LedgerBase, aware
from alerting.ledger.errors import LedgerError
from alerting.ledger.models import ApiToken, Scope
from alerting.ledger.schema import SCOPES, api_tokens

#: A scope grants itself and every scope below it.
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}


def token_hash(token: str) -> str:
    """The stored form of a token: its SHA-256 in hex (tokens are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _token(row: sa.Row[Any]) -> ApiToken:
    return ApiToken(row.name, tuple(row.scopes), row.created_at, row.revoked_at)


class TokensMixin(LedgerBase):
    """The API-token part of :class:`alerting.ledger.Ledger`."""

    def create_token(self, name: str, scopes: Sequence[Scope], now: datetime) -> str:
        """Create a token and return it; this is the only time the token itself is seen."""
        unknown = [s for s in scopes if s not in _RANK]
        if not scopes or unknown:
            raise LedgerError(f"token {name!r}: scopes must be some of {', '.join(SCOPES)} (got {list(scopes)})")
        token = f"tw_{secrets.token_urlsafe(32)}"
        values = {"name": name, "token_hash": token_hash(token), "scopes": list(scopes), "created_at": aware(now)}
        try:
            with self.transaction() as conn:
                conn.execute(sa.insert(api_tokens).values(**values))
        except sa.exc.IntegrityError as err:
            raise LedgerError(f"a token named {name!r} exists already; revoke it or choose another name") from err
        return token

    def verify_token(self, token: str, scope: Scope) -> ApiToken | None:
        """The token's record when it exists, is not revoked and grants ``scope``; else None."""
        query = sa.select(api_tokens).where(api_tokens.c.token_hash == token_hash(token))
        with self.transaction() as conn:
            row = conn.execute(query).first()
        if row is None or row.revoked_at is not None:
            return None
        granted = max(_RANK[s] for s in row.scopes)
        return _token(row) if granted >= _RANK[scope] else None

    def revoke_token(self, name: str, now: datetime) -> bool:
        """Revoke the named token; return False when there is no such live token."""
        query = (
            sa.update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=aware(now))
        )
        with self.transaction() as conn:
            return bool(conn.execute(query).rowcount == 1)

    def tokens(self) -> list[ApiToken]:
        """Every token's record (never the token), oldest first."""
        with self.transaction() as conn:
            return [_token(row) for row in conn.execute(sa.select(api_tokens).order_by(api_tokens.c.id))]

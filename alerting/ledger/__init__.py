"""The alert ledger: alerts and their history, silences, the notification outbox, API tokens.

One database (SQLite embedded, PostgreSQL for several workers), migrated by
versioned alembic revisions when :meth:`Ledger.open` runs.
"""

from alerting.ledger.alerts import Observed, outbox_key
from alerting.ledger.errors import (
    InvalidTransition,
    LedgerError,
    NotClaimed,
    SchemaTooNew,
    UnknownAlert,
    UnknownKey,
)
from alerting.ledger.models import (
    SYSTEM,
    Alert,
    ApiToken,
    Attempt,
    HistoryEntry,
    Matcher,
    Notification,
    OutboxItem,
    Receipt,
    Silence,
    Transition,
)
from alerting.ledger.store import Ledger, make_engine

__all__ = [
    "SYSTEM",
    "Alert",
    "ApiToken",
    "Attempt",
    "HistoryEntry",
    "InvalidTransition",
    "Ledger",
    "LedgerError",
    "Matcher",
    "NotClaimed",
    "Notification",
    "Observed",
    "OutboxItem",
    "Receipt",
    "SchemaTooNew",
    "Silence",
    "Transition",
    "UnknownAlert",
    "UnknownKey",
    "make_engine",
    "outbox_key",
]

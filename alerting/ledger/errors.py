"""What the ledger refuses, each with a message that names the thing refused."""

from __future__ import annotations


class LedgerError(RuntimeError):
    """Base of every ledger error."""


class SchemaTooNew(LedgerError):
    """The database was migrated by a newer telewatch than this one."""


class UnknownAlert(LedgerError):
    """No alert has this id."""


class InvalidTransition(LedgerError):
    """The alert's status does not allow this change."""

    def __init__(self, alert_id: int, fingerprint: str, status: str, target: str, action: str) -> None:
        super().__init__(f"alert {alert_id} ({fingerprint}) is {status}: cannot {action} it ({status} -> {target})")
        self.alert_id = alert_id
        self.status = status
        self.target = target


class UnknownKey(LedgerError):
    """No outbox row has this idempotency key."""


class NotClaimed(LedgerError):
    """An attempt was recorded for an outbox row that is not being sent."""

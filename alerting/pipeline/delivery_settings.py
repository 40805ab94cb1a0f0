"""``alerting.delivery``: how often and how long a notification is retried before it is a dead letter."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from core.durations import parse_duration
from core.settings import Section


class DeliverySettings(Section):
    """Retries with exponential backoff and jitter; every attempt is kept in the ledger."""

    max_attempts: int = Field(default=8, ge=1, le=100, description="Attempts before a notification is a dead letter")
    backoff_initial: str = Field(default="5s", description="Wait after the first failed attempt")
    backoff_max: str = Field(default="10m", description="Longest wait between two attempts")
    lease: str = Field(default="2m", description="A claimed notification whose worker died is claimable after this")
    batch: int = Field(default=50, ge=1, le=1000, description="Notifications claimed at once")
    poll_every: str = Field(default="1s", description="How often the outbox is looked at when idle")

    @field_validator("backoff_initial", "backoff_max", "lease", "poll_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> DeliverySettings:
        if parse_duration(self.backoff_max) < parse_duration(self.backoff_initial):
            raise ValueError("backoff_max must be at least backoff_initial")
        return self

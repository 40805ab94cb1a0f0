"""``alerting.api``: where the API listens, the public address in links, and the ack-link secret's variable."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from core.durations import parse_duration
from core.settings import Section

_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class ApiSettings(Section):
    """The REST API, the ack page, the incident board and the hotline page (one aiohttp server)."""

    host: str = Field(default="127.0.0.1", description="Address the API listens on (0.0.0.0 in a container)")
    port: int = Field(default=18090, ge=1, le=65535, description="Port the API listens on")
    public_url: str = Field(
        default="http://127.0.0.1:18090",
        description="The API's address as phones and Kannel reach it: ack links and delivery-receipt URLs start here",
    )
    link_ttl: str = Field(default="24h", description="How long a signed ack link in a message stays valid")
    link_secret_env: str = Field(
        default="TW_ACK_LINK_SECRET",
        description="Environment variable holding the ack-link signing secret (at least 32 bytes; never logged)",
    )

    @field_validator("link_ttl")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("link_secret_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not _ENV.match(value):
            raise ValueError(f"{value!r} must be an environment variable name (A-Z, 0-9, _), e.g. TW_ACK_LINK_SECRET")
        return value

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"public_url {value!r} must start with http:// or https:// and a host, e.g. https://tw.example.net"
            )
        return value.rstrip("/")

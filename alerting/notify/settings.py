"""``alerting.sms``: the SMS gateway people's phones are reached through (Kannel, a generic HTTP gateway, or none)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from core.settings import Section

_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV.match(value):
        raise ValueError(f"{value!r} must be an environment variable name (A-Z, 0-9, _), e.g. TW_KANNEL_PASSWORD")
    return value


class KannelSettings(Section):
    """A sendsms-user of a Kannel smsbox (configure ``concatenation = true`` and ``max-messages`` there)."""

    url: str | None = Field(
        default=None, description="smsbox sendsms URL; default: the devstack's http://127.0.0.1:<kannel_sendsms_port>"
    )
    username: str = Field(default="telewatch-concat", description="sendsms-user username")
    password_env: str = Field(default="TW_KANNEL_PASSWORD", description="Environment variable with its password")
    sender: str = Field(default="10690000", description="Sender id (from) shown on phones")
    max_parts: int = Field(default=10, ge=1, le=255, description="Kannel's max-messages for this user")
    delivery_receipts: bool = Field(default=True, description="Ask Kannel for receipts (dlr-mask 31) at the API")

    @field_validator("password_env")
    @classmethod
    def _env(cls, value: str) -> str:
        _env_name(value)
        return value


class HttpSmsSettings(Section):
    """A generic HTTP SMS gateway: a URL and a JSON body template."""

    url: str = Field(description="The gateway's send URL")
    method: Literal["POST", "PUT", "GET"] = Field(default="POST", description="HTTP method")
    fields: dict[str, Any] = Field(
        default_factory=lambda: {"to": "{to}", "text": "{text}", "id": "{key}"},
        description="Body fields; {to} {text} {key} {title} {link} {severity} are filled in",
    )
    auth_header: str | None = Field(default=None, description="Header carrying the credential, e.g. Authorization")
    auth_env: str | None = Field(default=None, description="Environment variable with that header's value")
    id_field: str | None = Field(default=None, description="Field of the JSON answer holding the message id")
    max_parts: int = Field(default=10, ge=1, le=255, description="Most SMS parts one message may take")

    @model_validator(mode="after")
    def _auth(self) -> HttpSmsSettings:
        _env_name(self.auth_env)
        if (self.auth_header is None) != (self.auth_env is None):
            raise ValueError("set both auth_header and auth_env, or neither")
        return self


class SmsSettings(Section):
    """Which SMS gateway is used."""

    gateway: Literal["kannel", "http", "none"] = Field(
        default="kannel", description="kannel, http (a generic gateway) or none (IM groups only)"
    )
    kannel: KannelSettings = Field(default_factory=KannelSettings, description="The Kannel account")
    http: HttpSmsSettings | None = Field(default=None, description="The generic gateway (gateway: http)")

    @model_validator(mode="after")
    def _complete(self) -> SmsSettings:
        if self.gateway == "http" and self.http is None:
            raise ValueError("gateway: http needs an http: section with at least url")
        return self

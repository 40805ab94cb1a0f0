"""The configured destinations: the SMS gateway and one robot per IM group, built from settings and secrets.

Secrets come from the environment variables the config names; a destination
whose secret is missing is not built, and :meth:`Channels.problems` says which
variable to set (the delivery stage records a message for it as undeliverable
with that reason instead of losing it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alerting.notify.base import Notifier
from alerting.notify.dingtalk import DINGTALK_URL, DingTalkNotifier
from alerting.notify.feishu import FEISHU_URL, FeishuNotifier
from alerting.notify.http_sms import HttpSmsNotifier
from alerting.notify.kannel import KannelNotifier
from alerting.notify.slack import SLACK_URL, SlackNotifier
from alerting.notify.wecom import WECOM_URL, WeComNotifier
from alerting.owners import ImGroup
from alerting.settings import AlertingSettings

#: The receipt endpoint of the API, under ``alerting.api.public_url``.
KANNEL_RECEIPTS_PATH = "/api/v1/receipts/kannel"


@dataclass
class Channels:
    """The SMS notifier (None: no gateway) and the IM robots by group name, with what could not be built."""

    sms: Notifier | None = None
    im: dict[str, Notifier] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Why some destinations are missing (each names the variable to set)."""
        return [f"{name}: {why}" for name, why in sorted(self.missing.items())]

    async def close(self) -> None:
        """Close every notifier's connections."""
        for notifier in [*([self.sms] if self.sms else []), *self.im.values()]:
            await notifier.close()


#: The vendor of an attempt that no notifier could take (no gateway, a robot whose secret is not set).
NO_VENDOR = "none"


def vendor_of(notifier: Notifier | None) -> str:
    """The vendor a notifier sends through, named as the config names it: ``alerting.sms.gateway`` (``kannel``,
    ``http``) or an IM group's ``kind`` (``wecom``, ``dingtalk``, ``feishu``, ``slack``); ``none`` without one."""
    if notifier is None:
        return NO_VENDOR
    return notifier.kind.removeprefix("sms_")


def _robot(name: str, group: ImGroup, env: Mapping[str, str]) -> Notifier | str:
    token = env.get(group.token_env)
    if not token:
        return f"environment variable {group.token_env} (the robot's key/token) is not set"
    secret = env.get(group.secret_env) if group.secret_env else None
    if group.secret_env and not secret:
        return f"environment variable {group.secret_env} (the robot's signing secret) is not set"
    if group.kind == "wecom":
        return WeComNotifier(name, token, base_url=group.url or WECOM_URL)
    if group.kind == "dingtalk":
        return DingTalkNotifier(name, token, secret, base_url=group.url or DINGTALK_URL)
    if group.kind == "feishu":
        return FeishuNotifier(name, token, secret, base_url=group.url or FEISHU_URL)
    return SlackNotifier(name, token, base_url=group.url or SLACK_URL)


def build_channels(
    settings: AlertingSettings,
    env: Mapping[str, str],
    *,
    kannel_url: str,
    kannel_password: str | None = None,
    receipt_secret: bytes | None = None,
) -> Channels:
    """Build every destination of ``settings`` (``kannel_url``/``kannel_password``: where the gateway is when the
    config leaves it to the local stack)."""
    channels = Channels()
    sms = settings.sms
    if sms.gateway == "kannel":
        kannel = sms.kannel
        password = env.get(kannel.password_env) or kannel_password
        if not password:
            channels.missing["sms"] = f"environment variable {kannel.password_env} (Kannel password) is not set"
        else:
            receipts = settings.api.public_url + KANNEL_RECEIPTS_PATH if kannel.delivery_receipts else None
            channels.sms = KannelNotifier(
                "kannel",
                kannel.url or kannel_url,
                kannel.username,
                password,
                sender=kannel.sender,
                dlr_base_url=receipts,
                max_parts=kannel.max_parts,
                receipt_secret=receipt_secret,
            )
    elif sms.gateway == "http" and sms.http is not None:
        http = sms.http
        auth = None
        if http.auth_header and http.auth_env:
            value = env.get(http.auth_env)
            if not value:
                channels.missing["sms"] = f"environment variable {http.auth_env} ({http.auth_header}) is not set"
            auth = (http.auth_header, value or "")
        if "sms" not in channels.missing:
            channels.sms = HttpSmsNotifier(
                "http-sms", http.url, method=http.method, fields=http.fields, auth_header=auth,
                id_field=http.id_field, max_parts=http.max_parts,
            )  # fmt: skip
    for name, group in settings.owners.im_groups.items():
        built = _robot(name, group, env)
        if isinstance(built, str):
            channels.missing[f"im:{name}"] = built
        else:
            channels.im[name] = built
    return channels

"""What a person reads: one alert transition as a short message, in Chinese or English.

A message says what, where, how far from normal, since when, how bad, the
correlated complaint scenario when there is one, who leads, and the signed
link to acknowledge. Free text (a person's comment) passes through the
subscriber-number mask, so a number typed into a comment never reaches a
phone; labels are telewatch's own (region, cell, channel sender ids) and stay.

>>> from datetime import datetime, timezone
>>> view = AlertView("A7", "firing", "critical", "sms_delivery_success_rate", {"channel": "106900001"},
...     0.62, 0.97, 0.95, 0.99, datetime(2026, 12, 5, 9, 40, tzinfo=timezone.utc), "短信中心", "李伟",
...     scenario="reminder.billing_sms_missing")
>>> m = render(view, "zh", "https://tw.example/a/T", key="A7:1:li.wei:sms")
>>> m.title
'[严重] 短信送达率 异常 channel=106900001'
>>> print(m.text)
短信送达率 0.62，正常 0.97（0.95–0.99），自 12-05 17:40 起。关联投诉：账单提醒短信未收到。负责：短信中心 李伟。
>>> render(view, "en", None, key="k").title
'[CRITICAL] SMS delivery success rate anomalous channel=106900001'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from alerting.notify.base import Message
from core.privacy import mask_numbers_in_text

Language = Literal["zh", "en"]

METRIC_NAMES: dict[str, tuple[str, str]] = {
    "call_setup_success_rate": ("呼叫建立成功率", "call setup success rate"),
    "call_drop_rate": ("掉话率", "call drop rate"),
    "call_setup_time_p95": ("呼叫建立时延 P95", "call setup time p95"),
    "sms_delivery_success_rate": ("短信送达率", "SMS delivery success rate"),
    "sms_delivery_latency_p95": ("短信送达时延 P95", "SMS delivery latency p95"),
    "network_kpi": ("网络指标", "network KPI"),
    "complaint_count": ("投诉量", "complaints"),
}
SCENARIOS: dict[str, tuple[str, str]] = {
    "network.no_signal": ("无信号", "no signal"),
    "network.call_drop": ("通话掉线", "calls dropping"),
    "network.slow_data": ("上网慢", "slow data"),
    "network.cannot_call": ("无法拨打", "cannot call"),
    "reminder.billing_sms_missing": ("账单提醒短信未收到", "billing SMS not received"),
    "reminder.balance_alert_late": ("余额提醒延迟", "balance alert late"),
    "activation.code_not_received": ("验证码未收到", "activation code not received"),
}
SEVERITY: dict[str, tuple[str, str]] = {
    "warning": ("警告", "WARNING"),
    "major": ("重要", "MAJOR"),
    "critical": ("严重", "CRITICAL"),
    "info": ("提示", "INFO"),
}
STATUS: dict[str, tuple[str, str]] = {
    "firing": ("异常", "anomalous"),
    "acknowledged": ("已确认", "acknowledged"),
    "resolved": ("已恢复", "resolved"),
}
#: Times in messages are local to the operator.
ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class AlertView:
    """The alert facts a message is made of."""

    alert_id: str
    status: Literal["firing", "acknowledged", "resolved"]
    severity: str
    metric: str
    area: Mapping[str, str]
    value: float
    expected: float
    lower: float
    upper: float
    started_at: datetime
    department: str
    lead: str
    scenario: str | None = None
    comment: str = ""


def _pick(table: Mapping[str, tuple[str, str]], key: str, language: Language) -> str:
    names = table.get(key)
    return key if names is None else names[0 if language == "zh" else 1]


def render(view: AlertView, language: Language, link: str | None, *, key: str, to: str | None = None) -> Message:
    """The message for one recipient (``key``: the ledger's idempotency key; ``to``: an SMS number)."""
    zh = language == "zh"
    metric = _pick(METRIC_NAMES, view.metric, language)
    area = " ".join(f"{k}={v}" for k, v in sorted(view.area.items()))
    title = f"[{_pick(SEVERITY, view.severity, language)}] {metric} {_pick(STATUS, view.status, language)} {area}"
    since = view.started_at.astimezone(ZONE).strftime("%m-%d %H:%M")
    numbers = f"{view.value:.4g}", f"{view.expected:.4g}", f"{view.lower:.4g}", f"{view.upper:.4g}"
    if zh:
        text = f"{metric} {numbers[0]}，正常 {numbers[1]}（{numbers[2]}–{numbers[3]}），自 {since} 起。"
    else:
        text = f"{metric} {numbers[0]}, normally {numbers[1]} ({numbers[2]}–{numbers[3]}), since {since} (UTC+8)."
    if view.scenario:
        scenario = _pick(SCENARIOS, view.scenario, language)
        text += f"关联投诉：{scenario}。" if zh else f" Related complaints: {scenario}."
    text += f"负责：{view.department} {view.lead}。" if zh else f" Lead: {view.department}, {view.lead}."
    if view.comment:  # free text typed by a person: the only place a subscriber number can come from
        comment = mask_numbers_in_text(view.comment)
        text += f"备注：{comment}" if zh else f" Note: {comment}"
    return Message(
        key=key,
        title=title,
        text=text,
        link=link,
        to=to,
        severity=view.severity,
    )


def render_group(
    views: Sequence[AlertView], language: Language, link: str | None, *, key: str, to: str | None = None
) -> Message:
    """One message for a group's alerts: the single alert's message, or a count and one short line per alert."""
    if len(views) == 1:
        return render(views[0], language, link, key=key, to=to)
    zh = language == "zh"
    ranked = sorted(views, key=lambda v: (_RANK.get(v.severity, 9), v.status == "resolved"))
    top = ranked[0]
    firing = sum(v.status != "resolved" for v in views)
    metric = _pick(METRIC_NAMES, top.metric, language)
    severity = _pick(SEVERITY, top.severity, language)
    if zh:
        title = f"[{severity}] {metric} 等 {len(views)} 条告警（{firing} 条未恢复）"
    else:
        title = f"[{severity}] {len(views)} alerts, {firing} open: {metric} and more"
    lines = []
    for view in ranked:
        area = " ".join(f"{k}={v}" for k, v in sorted(view.area.items()))
        name = _pick(METRIC_NAMES, view.metric, language)
        status = _pick(STATUS, view.status, language)
        lines.append(f"{name} {area} {view.value:.4g}（{view.expected:.4g}）{status}" if zh else
                     f"{name} {area} {view.value:.4g} (normally {view.expected:.4g}) {status}")  # fmt: skip
    lead = f"负责：{top.department} {top.lead}。" if zh else f"Lead: {top.department}, {top.lead}."
    return Message(key=key, title=title, text="\n".join([*lines, lead]), link=link, to=to, severity=top.severity)


_RANK = {"critical": 0, "major": 1, "warning": 2, "info": 3}

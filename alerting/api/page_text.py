"""The words of the pages, in Chinese and English, and how a request's language is chosen.

>>> pick_language("en-US,en;q=0.9,zh-CN;q=0.8"), pick_language("zh-CN,zh;q=0.9"), pick_language(None)
('en', 'zh', 'zh')
>>> TEXT["en"]["used"].format(when="12-05 17:40", who="李伟", action="acknowledged")
'This link was used at 12-05 17:40 (UTC+8) by 李伟 (acknowledged).'
"""

from __future__ import annotations

from typing import Literal

Language = Literal["zh", "en"]

TEXT: dict[Language, dict[str, str]] = {
    "zh": {
        "alert": "告警",
        "metric": "指标",
        "area": "范围",
        "status": "状态",
        "severity": "级别",
        "value": "当前值",
        "expected": "预期",
        "peak": "峰值",
        "deviation": "偏离",
        "since": "开始",
        "duration": "持续",
        "owner": "负责",
        "history": "处理记录",
        "chart": "当前值与预期",
        "no_chart": "没有记录预期值，无法画图。",
        "ack": "确认（我来处理）",
        "resolve": "已解决",
        "comment": "备注（可选，勿填客户号码）",
        "view_only": "此链接仅供查看。",
        "closed": "告警已恢复，无需操作。",
        "done_ack": "已确认",
        "done_ack_text": "{who} 已确认告警 #{id}（{metric}）。{deadline} 前未恢复将再次告警。",
        "done_resolve": "已解决",
        "done_resolve_text": "{who} 已将告警 #{id}（{metric}）标记为已解决。",
        "refused": "链接无效",
        "used_title": "链接已使用",
        "used": "此链接已于 {when}（北京时间）由 {who} 使用（{action}）。",
        "conflict": "无法操作",
        "conflict_text": "告警 #{id} 当前{status}，不能再{action}。",
        "not_found": "告警不存在",
        "not_found_text": "没有编号为 {id} 的告警；请从告警看板打开。",
        "cross_site": "拒绝跨站提交",
        "cross_site_text": "此表单只能在本页面提交；请直接打开短信中的链接。",
        "bad_action": "请求无效",
        "bad_action_text": "此链接不能执行该操作。",
        "board": "告警看板",
        "open_alerts": "未恢复告警 {n} 条",
        "no_open": "当前没有未恢复的告警。",
        "age": "已持续",
        "acked_by": "确认人",
        "refresh": "每 30 秒自动刷新；更新于 {now}（北京时间）。",
        "unauthorized": "需要令牌",
        "unauthorized_text": "此页面需要只读令牌：在地址后加 ?token=…，或发送 Authorization: Bearer 头。",
        "hotline": "客服热线查询",
        "region": "区域",
        "cell": "小区（可选）",
        "lookup": "查询",
        "no_incidents": "{where} 当前没有影响用户的故障。",
        "script": "对客户说明：",
        "progress": "进展",
        "department": "负责部门",
        "incidents": "{where} 的故障 {n} 条",
    },
    "en": {
        "alert": "Alert",
        "metric": "Metric",
        "area": "Area",
        "status": "Status",
        "severity": "Severity",
        "value": "Value",
        "expected": "Expected",
        "peak": "Peak",
        "deviation": "Deviation",
        "since": "Since",
        "duration": "Duration",
        "owner": "Owner",
        "history": "History",
        "chart": "Value against expected",
        "no_chart": "No expected value was recorded: no chart.",
        "ack": "Acknowledge",
        "resolve": "Resolve",
        "comment": "Comment (optional; no customer numbers)",
        "view_only": "This link is for viewing only.",
        "closed": "The alert is resolved: nothing to do.",
        "done_ack": "Acknowledged",
        "done_ack_text": "Alert #{id} ({metric}) acknowledged by {who}. It fires again if not resolved by {deadline}.",
        "done_resolve": "Resolved",
        "done_resolve_text": "Alert #{id} ({metric}) resolved by {who}.",
        "refused": "Link refused",
        "used_title": "Link already used",
        "used": "This link was used at {when} (UTC+8) by {who} ({action}).",
        "conflict": "Cannot do that",
        "conflict_text": "Alert #{id} is {status}: it cannot be {action} now.",
        "not_found": "No such alert",
        "not_found_text": "There is no alert #{id}; open it from the incident board.",
        "cross_site": "Cross-site submission refused",
        "cross_site_text": "This form can only be sent from its own page; open the link from the message directly.",
        "bad_action": "Bad request",
        "bad_action_text": "This link does not allow that action.",
        "board": "Incident board",
        "open_alerts": "{n} open alerts",
        "no_open": "No open alerts.",
        "age": "Age",
        "acked_by": "Acknowledged by",
        "refresh": "Refreshes every 30 s; as of {now} (UTC+8).",
        "unauthorized": "Token required",
        "unauthorized_text": "This page needs a read token: add ?token=… to the address or send Authorization: Bearer.",
        "hotline": "Hotline lookup",
        "region": "Region",
        "cell": "Cell (optional)",
        "lookup": "Look up",
        "no_incidents": "No customer-impacting incident in {where} now.",
        "script": "Tell the caller:",
        "progress": "Progress",
        "department": "Department",
        "incidents": "{n} incidents in {where}",
    },
}

VIA: dict[str, tuple[str, str]] = {
    "sms_link": ("短信链接", "SMS link"),
    "im": ("IM", "IM"),
    "api": ("API", "API"),
    "auto": ("自动", "automatic"),
}


def pick_language(accept_language: str | None, asked: str | None = None) -> Language:
    """``asked`` (``?lang=``) when zh or en, else whichever of zh and en ``Accept-Language`` names first (zh)."""
    if asked in ("zh", "en"):
        return "en" if asked == "en" else "zh"
    header = (accept_language or "").lower()
    zh, en = header.find("zh"), header.find("en")
    return "en" if en >= 0 and (zh < 0 or en < zh) else "zh"

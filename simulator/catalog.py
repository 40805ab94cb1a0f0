"""Reference data the simulator draws from: base rates, codes and scenario names.

Numbers are typical for a mature mobile network: call setup success about 98 %,
about 0.7 % of answered calls dropped, SMS delivery about 97 %.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from core.contracts import CallResult, ComplaintCategory, Network, SmsKind, SmsStatus

Role = Literal["calls", "sms", "kpi", "complaints"]
#: The four input roles, in the order the simulator produces them each tick.
ROLES: Final[tuple[Role, ...]] = get_args(Role)

# --- calls -------------------------------------------------------------------------------

NETWORKS: Final[tuple[Network, ...]] = ("2G", "3G", "4G", "5G", "VoLTE")
#: Share of call attempts per network (4G here means circuit-switched fallback).
NETWORK_MIX: Final[tuple[float, ...]] = (0.06, 0.04, 0.30, 0.25, 0.35)
#: Median call setup time per network, in milliseconds (lognormal around it).
SETUP_MEDIAN_MS: Final[tuple[float, ...]] = (3200.0, 2600.0, 2300.0, 900.0, 1200.0)
SETUP_SIGMA: Final = 0.35

CALL_RESULTS: Final[tuple[CallResult, ...]] = ("answered", "no_answer", "busy", "failed", "dropped")
#: Probability that call setup fails (result ``failed``).
SETUP_FAILURE: Final = 0.02
#: Probability that an answered call is dropped.
DROP_RATE: Final = 0.007
#: Outcome of a call whose setup succeeded: answered, no answer, busy.
AFTER_SETUP: Final[tuple[float, float, float]] = (0.80, 0.13, 0.07)
#: Q.850 cause codes per result (code, probability), in ``CALL_RESULTS`` order.
CAUSES: Final[tuple[tuple[tuple[int, float], ...], ...]] = (
    ((16, 1.0),),  # normal call clearing
    ((19, 0.85), (18, 0.15)),  # no answer from user / no user responding
    ((17, 1.0),),  # user busy
    ((34, 0.30), (41, 0.30), (38, 0.20), (27, 0.10), (3, 0.10)),  # no circuit, temporary failure, ...
    ((41, 0.50), (38, 0.30), (47, 0.20)),  # temporary failure, network out of order, resource unavailable
)
CALL_DURATION_MEAN_S: Final = 110.0
DROPPED_DURATION_MEAN_S: Final = 50.0

# --- SMS ---------------------------------------------------------------------------------

SMS_KINDS: Final[tuple[SmsKind, ...]] = ("verification_code", "billing_reminder", "notification", "marketing")
#: Share of each kind in SMS volume on an ordinary day.
SMS_KIND_SHARE: Final[tuple[float, ...]] = (0.35, 0.15, 0.30, 0.20)
#: Share of a kind's traffic a channel carries when that kind is not its main kind (before weights).
OFF_KIND_WEIGHT: Final = 0.05
SMS_STATUSES: Final[tuple[SmsStatus, ...]] = ("delivered", "failed", "expired")
#: Delivery success per kind.
SMS_SUCCESS: Final[tuple[float, ...]] = (0.98, 0.975, 0.975, 0.95)
#: Share of undelivered messages that fail outright (the rest expire).
FAILED_SHARE: Final = 0.7
#: Median submit-to-delivery latency per kind, in milliseconds; verification codes go first.
SMS_LATENCY_MEDIAN_MS: Final[tuple[float, ...]] = (2500.0, 9000.0, 6000.0, 15000.0)
SMS_LATENCY_SIGMA: Final = 0.6
#: Gateway error codes (SMPP ``stat:err``) per status, with probabilities.
SMS_ERRORS: Final[dict[SmsStatus, tuple[tuple[str, float], ...]]] = {
    "failed": (("UNDELIV:001", 0.4), ("UNDELIV:013", 0.2), ("REJECTD:088", 0.2), ("UNDELIV:069", 0.2)),
    "expired": (("EXPIRED:000", 1.0),),
}

# --- network KPIs ------------------------------------------------------------------------

KPIS: Final[tuple[str, ...]] = ("rrc_setup_success_rate", "erab_drop_rate", "prb_utilisation", "volte_mos")

# --- complaints --------------------------------------------------------------------------

CATEGORIES: Final[tuple[ComplaintCategory, ...]] = get_args(ComplaintCategory)
#: Scenario codes per category, with their share of the category's complaints.
SCENARIOS: Final[dict[ComplaintCategory, tuple[tuple[str, float], ...]]] = {
    "installation": (
        ("installation.appointment_missed", 0.4),
        ("installation.delayed", 0.4),
        ("installation.setup_failed", 0.2),
    ),
    "repair": (("repair.not_fixed", 0.4), ("repair.slow_response", 0.4), ("repair.repeat_fault", 0.2)),
    "channel": (
        ("channel.app_login_failed", 0.3),
        ("channel.verification_code_missing", 0.3),
        ("channel.online_payment_failed", 0.2),
        ("channel.hotline_unreachable", 0.2),
    ),
    "reminder": (
        ("reminder.billing_sms_missing", 0.4),
        ("reminder.balance_alert_late", 0.35),
        ("reminder.unwanted_sms", 0.25),
    ),
    "network": (
        ("network.no_signal", 0.25),
        ("network.call_failure", 0.2),
        ("network.call_drop", 0.15),
        ("network.slow_data", 0.3),
        ("network.poor_voice_quality", 0.1),
    ),
    "activation": (
        ("activation.sim_not_active", 0.4),
        ("activation.plan_change_failed", 0.35),
        ("activation.number_porting_delayed", 0.25),
    ),
}
#: Network scenarios customers file when their cell is down.
OUTAGE_SCENARIOS: Final[tuple[str, ...]] = ("network.no_signal", "network.call_failure", "network.call_drop")
#: Leading three digits of mobile numbers (11 digits in all).
MOBILE_PREFIXES: Final[tuple[str, ...]] = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139",
    "150", "151", "152", "155", "156", "157", "158", "159",
    "177", "180", "181", "182", "185", "186", "187", "188", "189", "198", "199",
)  # fmt: skip


def category_of(scenario: str) -> ComplaintCategory | None:
    """The category a scenario code belongs to, or None when it is unknown."""
    for category, scenarios in SCENARIOS.items():
        if any(code == scenario for code, _ in scenarios):
            return category
    return None

"""Messages people read (zh/en, numbers masked) and signed one-click ack links (forged, expired refused)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerting.ack_links import AckLinks, LinkRefused, _b64
from alerting.render import AlertView, render

VIEW = AlertView(
    "A7", "firing", "major", "call_drop_rate", {"region": "north", "cell_id": "c042"}, 0.031, 0.008, 0.002, 0.014,
    datetime(2026, 12, 5, 1, 5, tzinfo=UTC), "无线网络优化中心", "张敏", comment="客户 13812341234 反映掉线",
)  # fmt: skip


def test_a_message_says_what_where_how_far_since_when_who_and_masks_numbers_in_comments() -> None:
    zh = render(VIEW, "zh", "https://tw/a/x", key="k", to="8613800000003")
    assert zh.title == "[重要] 掉话率 异常 cell_id=c042 region=north"
    assert "0.031，正常 0.008（0.002–0.014），自 12-05 09:05 起" in zh.text
    assert "负责：无线网络优化中心 张敏" in zh.text
    assert "138****1234" in zh.text and "13812341234" not in zh.text
    assert zh.to == "8613800000003" and zh.link == "https://tw/a/x"
    en = render(VIEW, "en", None, key="k")
    assert en.title == "[MAJOR] call drop rate anomalous cell_id=c042 region=north"
    assert "normally 0.008 (0.002–0.014), since 12-05 09:05 (UTC+8)" in en.text
    assert "138****1234" in en.text


SECRET = b"s" * 32


def test_a_genuine_link_is_accepted_until_it_expires() -> None:
    links = AckLinks(SECRET, "https://tw/a/")
    token = links.token("A7", "resolve", expires_at=1000)
    claim = links.verify(token, now=999.0)
    assert (claim.alert_id, claim.action) == ("A7", "resolve")
    with pytest.raises(LinkRefused, match="expired"):
        links.verify(token, now=1000.5)


def test_forged_or_tampered_links_are_refused() -> None:
    links = AckLinks(SECRET, "https://tw/a/")
    token = links.token("A7", "view", expires_at=10**10)
    _body, mac = token.split(".")
    forged_body = links.token("A7", "resolve", expires_at=10**10).split(".")[0]
    with pytest.raises(LinkRefused, match="signature"):
        links.verify(f"{forged_body}.{mac}", now=0)  # a view link turned into a resolve link
    with pytest.raises(LinkRefused, match="signature"):
        AckLinks(b"t" * 32, "").verify(token, now=0)  # signed with another secret
    with pytest.raises(LinkRefused, match="not one telewatch made"):
        links.verify("garbage", now=0)
    assert links.digest(token) != token and len(links.digest(token)) == 64


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        AckLinks(b"short", "")


def test_a_link_names_its_recipient_under_the_signature_and_stays_short() -> None:
    links = AckLinks(SECRET, "https://tw/a/")
    token = links.token("123456", "resolve", expires_at=2_000_000_000, person="zhang.min")
    assert len(token) <= 60 and links.verify(token, now=0).person == "zhang.min"
    assert links.verify(links.token("A7", "ack", expires_at=10), now=0).person is None
    mac = token.split(".")[1]
    other_body = links.token("123456", "resolve", expires_at=2_000_000_000, person="li.wei").split(".")[0]
    with pytest.raises(LinkRefused, match="signature"):
        links.verify(f"{other_body}.{mac}", now=0)  # the link sent to zhang.min, claimed for li.wei
    with pytest.raises(ValueError, match="person"):
        links.token("A7", "ack", expires_at=10, person="a|b")
    old = b"A7|ack|2000000000"  # signed by us, in a format this version does not read
    with pytest.raises(LinkRefused, match="format"):
        links.verify(f"{_b64(old)}.{_b64(links._mac(old))}", now=0)

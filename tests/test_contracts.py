"""Event contracts: the documented examples decode, and every kind of bad event is rejected precisely."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from core.codecs import ContractCodec, codec_name, register_codecs
from core.contracts import (
    INPUT_CONTRACTS,
    INTERNAL_CONTRACTS,
    AnomaliesRecord,
    Anomaly,
    CallAttempt,
    Complaint,
    Recovery,
)
from streams.validation import REASONS, EventDecoder, Rejection, dead_letter

DOCS = Path(__file__).resolve().parents[1] / "docs" / "EVENTS.md"
NOW = datetime(2026, 11, 23, 8, 16, tzinfo=UTC).timestamp()


def documented_examples() -> dict[str, bytes]:
    blocks = re.findall(r"```json (\w+)\n(.*?)```", DOCS.read_text(), flags=re.S)
    return {role: body.encode() for role, body in blocks}


def test_every_topic_has_a_documented_example() -> None:
    assert set(documented_examples()) == set(INPUT_CONTRACTS) | set(INTERNAL_CONTRACTS)


@pytest.mark.parametrize("role", sorted(INPUT_CONTRACTS))
def test_documented_input_example_is_accepted(role: str) -> None:
    event = EventDecoder(INPUT_CONTRACTS[role]).decode(documented_examples()[role], NOW)
    assert isinstance(event, INPUT_CONTRACTS[role])


@pytest.mark.parametrize("role", sorted(INTERNAL_CONTRACTS))
def test_documented_internal_example_round_trips_through_faust_codec(role: str) -> None:
    codec = ContractCodec(INTERNAL_CONTRACTS[role])
    record = codec.loads(documented_examples()[role])
    assert isinstance(record, INTERNAL_CONTRACTS[role])
    assert codec.loads(codec.dumps(record)) == record


def test_codecs_are_registered_with_faust() -> None:
    from faust.serializers.codecs import get_codec

    register_codecs()
    codec = get_codec(codec_name("calls"))
    call = codec.loads(documented_examples()["calls"])
    assert isinstance(call, CallAttempt) and call.cell_id == "north-c07"


GOOD_CALL = {
    "ts": "2026-11-23T08:15:02Z",
    "call_id": "c-1",
    "region": "north",
    "cell_id": "north-c07",
    "network": "4G",
    "result": "answered",
    "setup_ms": 1200,
}


def decode_call(payload: bytes) -> CallAttempt | Rejection:
    return EventDecoder(CallAttempt).decode(payload, NOW)


def with_(**changes: object) -> bytes:
    return msgspec.json.encode({**GOOD_CALL, **changes})


def without(name: str) -> bytes:
    return msgspec.json.encode({k: v for k, v in GOOD_CALL.items() if k != name})


BAD_CALLS = [
    (b'{"ts": "2026-11-23T08:15:02Z", "call_id": ', "malformed_json", None, "not valid JSON"),
    (b"\xff\xfe garbage", "malformed_json", None, "not valid JSON"),
    (b"[1, 2]", "not_an_object", None, "JSON object"),
    (without("region"), "missing_field", "$.region", "required field is missing"),
    (without("ts"), "missing_field", "$.ts", "required field is missing"),
    (with_(result="maybe"), "invalid_field", "$.result", "invalid enum value 'maybe'"),
    (with_(setup_ms="fast"), "invalid_field", "$.setup_ms", "expected `int | null`, got `str`"),
    (with_(setup_ms=-5), "invalid_field", "$.setup_ms", ">= 0"),
    (with_(region=""), "invalid_field", "$.region", "length >= 1"),
    (with_(ts="2026-11-23T08:15:02"), "invalid_field", "$.ts", "timezone"),
    (with_(ts="yesterday"), "invalid_field", "$.ts", "invalid rfc3339"),
    (with_(ts="2026-11-23T10:00:00Z"), "clock_skew", "$.ts", "ahead of the receiver's clock"),
]


@pytest.mark.parametrize(("payload", "reason", "field", "detail_part"), BAD_CALLS)
def test_bad_event_is_rejected_with_precise_reason(
    payload: bytes, reason: str, field: str | None, detail_part: str
) -> None:
    rejection = decode_call(payload)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == reason
    assert rejection.reason in REASONS
    assert rejection.field == field
    assert detail_part.lower() in rejection.detail.lower()
    if field:
        assert rejection.detail.startswith(field + ":")


def test_a_batch_decodes_as_its_payloads_one_by_one() -> None:
    good = [with_(call_id=f"c-{i}") for i in range(3)] + [with_(ts="2026-11-23T08:20:00Z")]
    payloads = [good[0], *(case[0] for case in BAD_CALLS), good[1], good[2], good[3]]
    decoder = EventDecoder(CallAttempt)
    batch = decoder.decode_many(payloads, NOW)
    singles = [decoder.decode_stamped(p, NOW) for p in payloads]
    assert batch.rejections == [(i, r) for i, r in enumerate(singles) if isinstance(r, Rejection)]
    assert len(batch.rejections) == len(BAD_CALLS)
    assert batch.positions == [0, len(BAD_CALLS) + 1, len(BAD_CALLS) + 2, len(BAD_CALLS) + 3]
    assert list(zip(batch.events, batch.stamps, strict=True)) == [s for s in singles if not isinstance(s, Rejection)]


def test_small_clock_skew_is_tolerated() -> None:
    assert isinstance(decode_call(with_(ts="2026-11-23T08:20:00Z")), CallAttempt)


def test_unknown_fields_are_ignored() -> None:
    assert isinstance(decode_call(with_(vendor_extra={"a": 1})), CallAttempt)


def test_complaint_subscriber_is_masked_on_arrival() -> None:
    payload = msgspec.json.encode(
        {
            "ts": "2026-11-23T08:15:02Z",
            "ticket_id": "t-1",
            "region": "north",
            "category": "network",
            "scenario": "network.no_signal",
            "subscriber": "13812345678",
        }
    )
    complaint = EventDecoder(Complaint).decode(payload, NOW)
    assert isinstance(complaint, Complaint)
    assert complaint.subscriber == "138****5678"
    assert EventDecoder(Complaint).decode_many([payload], NOW).events[0].subscriber == "138****5678"


def test_dead_letter_keeps_payload_reason_and_position() -> None:
    payload = with_(result="maybe")
    rejection = decode_call(payload)
    assert isinstance(rejection, Rejection)
    letter = dead_letter(rejection, topic="telewatch.calls", partition=2, offset=77, payload=payload, now=NOW)
    assert (letter.topic, letter.partition, letter.offset) == ("telewatch.calls", 2, 77)
    assert letter.reason == "invalid_field" and letter.field == "$.result"
    assert letter.payload.encode() == payload
    assert letter.received_at.timestamp() == NOW


def test_dead_letter_of_binary_payload_is_base64() -> None:
    rejection = decode_call(b"\xff\x00")
    assert isinstance(rejection, Rejection)
    letter = dead_letter(rejection, topic="t", partition=0, offset=0, payload=b"\xff\x00", now=NOW)
    assert letter.payload == "base64:/wA="


def test_documented_recovery_example_decodes_as_a_record_of_the_anomalies_topic() -> None:
    [body] = re.findall(r"```json\n(\{\"kind\": \"recovery\".*?)```", DOCS.read_text(), flags=re.S)
    record = msgspec.json.decode(body.encode(), type=AnomaliesRecord)
    assert isinstance(record, Recovery) and record.normal_windows == 2
    anomaly = msgspec.json.decode(documented_examples()["anomalies"], type=AnomaliesRecord)
    assert isinstance(anomaly, Anomaly)

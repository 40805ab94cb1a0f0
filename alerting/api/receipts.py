"""``/api/v1/receipts/kannel``: Kannel's delivery-report callback, authenticated by the ``sig`` in our dlr-url.

:func:`alerting.notify.registry.build_channels` gives the Kannel notifier
``<alerting.api.public_url>`` + this path as its dlr-url and the ack-link
secret as its ``receipt_secret``; a report without a valid ``sig`` is refused with 401.
"""

from __future__ import annotations

from typing import Any

from alerting.api.errors import ApiError
from alerting.api.operation import Call, Operation
from alerting.api.params import KannelReport, NoBody
from alerting.api.views import ReceiptRecorded
from alerting.notify.dlr import DlrError, ForgedReport, parse_signed_dlr
from alerting.notify.registry import KANNEL_RECEIPTS_PATH

KANNEL_RECEIPTS = KANNEL_RECEIPTS_PATH
#: Shorter receipt secrets are refused (as ack-link secrets are).
MIN_SECRET = 32


async def kannel_receipt(call: Call[KannelReport, NoBody]) -> ReceiptRecorded:
    """Check the report's signature, then keep it in the ledger with the notification it is about."""
    secret = call.ctx.receipt_secret
    if len(secret) < MIN_SECRET:
        raise ApiError(503, "delivery receipts are not accepted: the API was started without a receipt secret")
    query = {name: value for name, value in call.params.model_dump().items() if value is not None}
    try:
        report = parse_signed_dlr(query, secret)
    except ForgedReport as error:
        raise ApiError(401, str(error)) from None
    except DlrError as error:
        raise ApiError(400, str(error)) from None
    status = report.status.name.lower()
    detail = f"DLR {report.status.value} {report.status.meaning}" + (f": {report.answer}" if report.answer else "")
    vendor_id = report.smsc_message_id or report.kannel_id or ""
    await call.db(call.ctx.ledger.record_receipt, vendor_id, status, detail, call.ctx.clock(), key=report.key)
    return ReceiptRecorded(recorded=True, status=status)


OPERATIONS: list[Operation[Any, Any]] = [
    Operation(
        method="GET",
        path=KANNEL_RECEIPTS,
        summary="Kannel delivery report (callback)",
        tag="receipts",
        handler=kannel_receipt,
        params=KannelReport,
        body=NoBody,
        response=ReceiptRecorded,
        errors={
            401: "sig is missing or does not match the key",
            404: "No notification has this key",
            503: "The API has no receipt secret",
        },
        description="Kannel fetches our dlr-url with its escape codes filled in. Authenticated by sig: base64url of "
        'HMAC-SHA256(secret, "dlr|" + key), 16 bytes, where the secret is the ack-link secret.',
    ),
]

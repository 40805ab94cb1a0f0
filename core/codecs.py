"""Faust codecs for the telewatch contracts: JSON on the wire, typed structs in code.

``register_codecs()`` registers one codec per contract under the name
``telewatch.<role>`` (e.g. ``telewatch.metrics``), so a faust topic declares
``value_serializer="telewatch.metrics"`` and its agents receive typed structs.
"""

from __future__ import annotations

from typing import Any

import msgspec
from faust.serializers import codecs

from core.contracts import INPUT_CONTRACTS, INTERNAL_CONTRACTS

_ENCODER = msgspec.json.Encoder()


class ContractCodec(codecs.Codec):
    """Encodes a contract struct as JSON and decodes JSON into that struct (validating it)."""

    def __init__(self, struct_type: type[msgspec.Struct], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.struct_type = struct_type
        self._decoder = msgspec.json.Decoder(struct_type)

    def _dumps(self, obj: Any) -> bytes:
        return _ENCODER.encode(obj)

    def _loads(self, s: bytes) -> Any:
        return self._decoder.decode(s)


def codec_name(role: str) -> str:
    """The registered codec name for a topic role (``calls``, ``metrics``, ...)."""
    return f"telewatch.{role}"


def register_codecs() -> None:
    """Register a codec for every input and internal contract with faust."""
    for role, struct_type in {**INPUT_CONTRACTS, **INTERNAL_CONTRACTS}.items():
        codecs.register(codec_name(role), ContractCodec(struct_type))


def encode(obj: msgspec.Struct) -> bytes:
    """Encode any contract struct as JSON bytes."""
    return _ENCODER.encode(obj)

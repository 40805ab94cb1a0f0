"""Format versions of the state snapshots that stage tables keep in their changelogs.

Every snapshot starts with a header naming its stage and format version. A
worker reads only the version its stages write: a snapshot of another version
(written by a newer or older telewatch) or one without a header is refused
with :class:`StateFormatError`, and the worker stops instead of running on
state it half understands.
"""

from __future__ import annotations

import struct

#: Marks a versioned snapshot.
MAGIC = b"TWS\x01"
_VERSION = struct.Struct(">H")
_HEADER = len(MAGIC) + _VERSION.size

#: Where to look when a snapshot is refused.
_FIX = (
    "run the telewatch version that wrote it, or start from empty state with a new --app-id "
    "(or after deleting the app's changelog topics)"
)


class StateFormatError(RuntimeError):
    """A snapshot of a format this telewatch does not read."""


def seal(version: int, body: bytes) -> bytes:
    """``body`` with the header of format ``version``."""
    return MAGIC + _VERSION.pack(version) + body


def unseal(table: str, version: int, snapshot: bytes) -> bytes:
    """The body of a snapshot of format ``version``; raise :class:`StateFormatError` for any other."""
    if not snapshot.startswith(MAGIC) or len(snapshot) < _HEADER:
        raise StateFormatError(f"table {table}: the snapshot has no format version (written before 0.1); {_FIX}")
    (found,) = _VERSION.unpack_from(snapshot, len(MAGIC))
    if found != version:
        age = "newer" if found > version else "older"
        raise StateFormatError(
            f"table {table}: state format {found} is {age} than the format {version} this telewatch reads; {_FIX}"
        )
    return snapshot[_HEADER:]

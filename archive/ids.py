"""Identifiers.

Messages get time-ordered 64-bit ids: milliseconds since the Unix epoch in the high bits and
22 low bits taken from the message's dedup key. A date range is then an id range on the same
index as the posting lists, and the same message always gets the same id, which makes a
re-import idempotent even before the dedup check.

Every other encrypted row gets a random 62-bit id chosen by the application, because the AAD
that binds a ciphertext to its row must know the row's id before the row is written.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

LOW_BITS = 22
LOW_MASK = (1 << LOW_BITS) - 1
MAX_MS = (1 << (63 - LOW_BITS)) - 1


def random_id() -> int:
    return secrets.randbits(62) | 1


def message_id(sent_at: datetime, dedup_key: bytes) -> int:
    ms = max(0, min(MAX_MS, int(sent_at.timestamp() * 1000)))
    return (ms << LOW_BITS) | (int.from_bytes(dedup_key[:4], "big") & LOW_MASK)


def id_floor(moment: datetime) -> int:
    """Smallest message id at or after ``moment``."""
    return max(0, int(moment.timestamp() * 1000)) << LOW_BITS


def id_time(mid: int) -> datetime:
    return datetime.fromtimestamp((mid >> LOW_BITS) / 1000, tz=UTC)


def month_of(mid: int) -> int:
    moment = id_time(mid)
    return moment.year * 100 + moment.month

"""Hash chaining of audit events, RFC 9162 style.

``leaf_n = SHA-256(0x00 ‖ canonical JSON of event n's stored fields)`` (RFC 9162 §2.1.1, so the
same leaves can later feed a Merkle log) and ``h_n = SHA-256(0x02 ‖ h_{n-1} ‖ leaf_n)``; the
``0x02`` domain byte keeps chain links apart from Merkle interior nodes (``0x01``).
``h_0 = SHA-256(0x02 ‖ "dmvault audit genesis v1")``.

Canonical JSON: sorted keys, compact separators, UTF-8, no floats; 64-bit ids as strings,
bytes as base64, times as fixed-precision UTC strings, and a ``"v"`` schema version.
The query ciphertext is hashed as stored, so shredding the audit key later does not break
verification.

Fields added after v1 (``OPTIONAL_FIELDS``: ``service_events``, the service events folded into a
request's event) are hashed only when set, so the leaves of events written before they existed
are unchanged; a set value is covered like any other field (removing or editing it is caught).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
GENESIS = hashlib.sha256(b"\x02dmvault audit genesis v1").digest()

# The stored fields that the leaf hash covers, in no particular order (keys are sorted).
HASHED_FIELDS = (
    "seq",
    "event_id",
    "ts",
    "request_id",
    "actor_id",
    "actor_name",
    "role",
    "auth_method",
    "credential_id",
    "action",
    "http_method",
    "route",
    "target_type",
    "target_id",
    "query_ct",
    "query_dek_id",
    "result_count",
    "purpose_id",
    "matter_ref",
    "ip",
    "user_agent",
    "outcome",
    "status_code",
    "detail",
)
# Hashed only when set (not None, not empty): see the module docstring.
OPTIONAL_FIELDS = ("service_events",)
_BIG_INTS = {"seq", "event_id", "actor_id", "credential_id", "query_dek_id", "purpose_id"}


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "ts":
        return format_ts(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if name in _BIG_INTS:
        return str(value)
    if isinstance(value, float):
        raise TypeError(f"audit field {name} must not be a float")
    return value


def canonical(fields: Mapping[str, Any]) -> bytes:
    doc = {name: _value(name, fields.get(name)) for name in HASHED_FIELDS}
    for name in OPTIONAL_FIELDS:
        if fields.get(name):
            doc[name] = _value(name, fields[name])
    doc["v"] = SCHEMA_VERSION
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_hash(fields: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(b"\x00" + canonical(fields)).digest()


def link(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x02" + previous + leaf).digest()


@dataclass
class ChainStatus:
    ok: bool
    size: int  # events present
    head: str  # hex chain hash after the last good event
    first_bad_seq: int | None = None
    problem: str = ""
    checkpoints_checked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "head": self.head,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "checkpoints_checked": self.checkpoints_checked,
        }


def iter_events(batch: int = 5000) -> Iterator[dict[str, Any]]:
    from compliance.models import AuditEvent

    last = 0
    columns = [*HASHED_FIELDS, *OPTIONAL_FIELDS, "leaf_hash", "chain_hash"]
    while True:
        rows = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq").values(*columns)[:batch])
        if not rows:
            return
        yield from rows
        last = rows[-1]["seq"]


def verify_chain(checkpoints: list[tuple[int, str]] | None = None) -> ChainStatus:
    """Recompute every leaf and link from genesis; compare with the stored hashes, the chain-head
    row and the given (size, head hex) checkpoints (already signature-checked)."""
    from compliance.models import AuditChainHead

    pairs = sorted(checkpoints or [])
    wanted = {size for size, _ in pairs}
    previous = GENESIS
    expected_seq = 1
    at_size: dict[int, str] = {0: GENESIS.hex()}
    for row in iter_events():
        seq = row["seq"]
        if seq != expected_seq:
            bad = expected_seq if seq > expected_seq else seq
            return ChainStatus(
                False,
                expected_seq - 1,
                previous.hex(),
                bad,
                f"sequence gap: expected seq {expected_seq}, found {seq} (events deleted or reordered)",
            )
        leaf = leaf_hash(row)
        if leaf.hex() != row["leaf_hash"]:
            return ChainStatus(
                False, seq - 1, previous.hex(), seq, f"event seq {seq} was altered (leaf hash mismatch)"
            )
        current = link(previous, leaf)
        if current.hex() != row["chain_hash"]:
            return ChainStatus(
                False,
                seq - 1,
                previous.hex(),
                seq,
                f"event seq {seq} does not link to seq {seq - 1} (chain hash mismatch)",
            )
        if seq in wanted:
            at_size[seq] = current.hex()
        previous = current
        expected_seq += 1
    size = expected_seq - 1
    head_row = AuditChainHead.objects.filter(pk=1).first()
    if head_row is not None and (head_row.seq != size or head_row.head_hash != previous.hex()):
        if head_row.seq > size:
            return ChainStatus(
                False,
                size,
                previous.hex(),
                size + 1,
                f"the chain head records {head_row.seq} events but only {size} remain: events from seq {size + 1} were removed",
            )
        return ChainStatus(
            False,
            size,
            previous.hex(),
            head_row.seq + 1 if head_row.seq < size else size,
            "the chain-head row does not match the recomputed chain",
        )
    for cp_size, cp_head in pairs:
        if cp_size > size:
            return ChainStatus(
                False,
                size,
                previous.hex(),
                size + 1,
                f"a signed checkpoint covers {cp_size} events but only {size} remain: events from seq {size + 1} were removed",
                len(pairs),
            )
        if at_size.get(cp_size) != cp_head:
            return ChainStatus(
                False,
                size,
                previous.hex(),
                cp_size,
                f"the signed checkpoint at size {cp_size} does not match the recomputed chain: history up to seq {cp_size} was rewritten",
                len(pairs),
            )
    return ChainStatus(True, size, previous.hex(), checkpoints_checked=len(pairs))

"""The chain: leaves and links as specified, sealed queries, verification of a clean log."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management import call_command
from django.db import connection

from compliance.audit import Event, open_query, record, verify
from compliance.audit.chain import GENESIS, canonical
from compliance.models import AuditChainHead, AuditEvent
from tests.compliance.audit.helpers import some_events

pytestmark = pytest.mark.django_db


def test_leaf_and_chain_hashes_follow_rfc9162_style() -> None:
    start = AuditChainHead.objects.get(pk=1)
    first, second = some_events(2)
    assert second.seq == first.seq + 1 == start.seq + 2
    stored = AuditEvent.objects.filter(seq=first.seq).values().get()
    leaf = hashlib.sha256(b"\x00" + canonical(stored)).digest()
    assert leaf.hex() == first.leaf_hash
    previous = bytes.fromhex(start.head_hash)
    assert hashlib.sha256(b"\x02" + previous + leaf).hexdigest() == first.chain_hash
    leaf2 = hashlib.sha256(
        b"\x00" + canonical(AuditEvent.objects.filter(seq=second.seq).values().get())
    ).digest()
    assert hashlib.sha256(b"\x02" + bytes.fromhex(first.chain_hash) + leaf2).hexdigest() == second.chain_hash
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.head_hash) == (second.seq, second.chain_hash)


def test_genesis_and_canonical_form() -> None:
    assert hashlib.sha256(b"\x02dmvault audit genesis v1").digest() == GENESIS
    [event] = some_events(1)
    doc = json.loads(canonical(AuditEvent.objects.filter(seq=event.seq).values().get()))
    assert doc["v"] == 1 and doc["seq"] == str(event.seq) and doc["event_id"] == str(event.event_id)
    assert doc["ts"].endswith("Z") and len(doc["ts"]) == len("2025-01-01T00:00:00.000000Z")


def test_queries_are_sealed_and_the_chain_covers_the_ciphertext() -> None:
    event = record(Event(action="message.search", outcome="allowed", query="Zanzibarquokka Bartholomew"))
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM compliance_auditevent WHERE seq = %s", [event.seq])
        row = cur.fetchone()
    assert b"Zanzibarquokka" not in repr(row).encode()
    assert not any(isinstance(c, (bytes, memoryview)) and b"Zanzibar" in bytes(c) for c in row)
    assert open_query(AuditEvent.objects.get(seq=event.seq)) == "Zanzibarquokka Bartholomew"
    assert verify().ok


def test_a_clean_log_verifies(capsys) -> None:
    some_events(5)
    call_command("audit_checkpoint")
    some_events(2)
    status = verify()
    assert status.ok and status.checkpoints_checked == 1
    call_command("verify_audit")
    assert "audit log OK" in capsys.readouterr().out


def test_appends_are_serialized_through_the_head_row() -> None:
    """Every append reads the head under a lock and moves it: seqs are gapless and linked."""
    events = some_events(20)
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + 20))
    if connection.vendor == "postgresql":
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            some_events(1)
        assert any("FOR UPDATE" in q["sql"] for q in ctx.captured_queries)
    else:
        # SQLite: writers are serialized by IMMEDIATE transactions (settings), not row locks.
        from django.conf import settings

        assert connection.vendor == "sqlite"
        assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_verifiers_can_use_only_the_public_key(settings, tmp_path) -> None:
    from compliance.audit.checkpoints import verifier_key

    some_events(2)
    call_command("audit_checkpoint")
    settings.DMVAULT_AUDIT_PUBLIC_KEY = verifier_key()
    settings.DMVAULT_AUDIT_KEY_PATH = tmp_path / "absent.key"
    settings.DMVAULT_AUDIT_KEY_AUTOCREATE = False
    assert verify().ok
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from compliance.audit.checkpoints import key_id, public_key_bytes

    other = Ed25519PrivateKey.generate().public_key()
    import base64

    settings.DMVAULT_AUDIT_PUBLIC_KEY = (
        f"{settings.DMVAULT_AUDIT_ORIGIN}+{key_id(settings.DMVAULT_AUDIT_ORIGIN, other).hex()}+"
        + base64.b64encode(b"\x01" + public_key_bytes(other)).decode()
    )
    status = verify()
    assert not status.ok and "no valid signature" in status.problem

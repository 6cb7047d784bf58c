"""Edits, deletions, reordering, truncation and forged checkpoints are all caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance.audit import verify
from compliance.audit.chain import GENESIS, leaf_hash, link
from compliance.audit.checkpoints import make_note
from compliance.models import AuditEvent
from tests.compliance.audit.helpers import as_attacker, some_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(tmp_path: Path) -> tuple[list[int], Path]:
    """Six events, a checkpoint exported after them, then two more events."""
    events = some_events(6)
    export = tmp_path / "checkpoints.txt"
    call_command("audit_checkpoint", "--export", str(export))
    events += some_events(2)
    assert verify(export.read_text()).ok
    return [e.seq for e in events], export


def _fails(export: Path, needle: str) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit", "--checkpoints", str(export))
    message = str(caught.value)
    assert needle in message, message
    return message


def test_an_edited_event_is_named(log) -> None:
    seqs, export = log
    as_attacker("UPDATE compliance_auditevent SET outcome = 'denied' WHERE seq = %s", params=[seqs[2]])
    _fails(export, f"first bad event: seq {seqs[2]}")


def test_a_deleted_event_is_named(log) -> None:
    seqs, export = log
    as_attacker("DELETE FROM compliance_auditevent WHERE seq = %s", params=[seqs[3]])
    _fails(export, f"first bad event: seq {seqs[3]}")


def test_reordered_events_are_caught(log) -> None:
    seqs, export = log
    a, b = seqs[1], seqs[4]
    as_attacker(
        f"UPDATE compliance_auditevent SET seq = -1 WHERE seq = {a}",
        f"UPDATE compliance_auditevent SET seq = {a} WHERE seq = {b}",
        f"UPDATE compliance_auditevent SET seq = {b} WHERE seq = -1",
    )
    _fails(export, f"first bad event: seq {a}")


def test_a_truncated_tail_is_caught_by_the_head_and_the_checkpoint(log) -> None:
    seqs, export = log
    # Drop the last four events (two of them covered by the exported checkpoint) and rewind the
    # chain head so the database looks consistent on its own.
    keep = seqs[3]
    kept_head = AuditEvent.objects.get(seq=keep).chain_hash
    as_attacker(f"DELETE FROM compliance_auditevent WHERE seq > {keep}")
    _fails(export, f"first bad event: seq {keep + 1}")
    as_attacker(f"UPDATE compliance_auditchainhead SET seq = {keep}, head_hash = '{kept_head}'")
    assert verify().ok is False  # the stored checkpoint still covers seq 6
    as_attacker("DELETE FROM compliance_auditcheckpoint")
    assert verify().ok  # with the database alone, a cleaned-up truncation is invisible…
    message = _fails(export, f"first bad event: seq {keep + 1}")  # …but not to the exported checkpoint
    assert "were removed" in message


def test_emptying_the_table_is_caught(log) -> None:
    _, export = log
    as_attacker("DELETE FROM compliance_auditevent")
    _fails(export, "FAILED")


def test_a_consistently_rewritten_history_is_caught_by_the_exported_checkpoint(log) -> None:
    seqs, export = log
    # The attacker edits event 2 and recomputes every later hash, the head and drops the
    # database checkpoints: the chain is self-consistent, but the signed export disagrees.
    as_attacker(f"UPDATE compliance_auditevent SET actor_name = 'someone-else' WHERE seq = {seqs[1]}")
    previous = GENESIS
    rows = list(AuditEvent.objects.order_by("seq").values())
    for row in rows:
        leaf = leaf_hash(row)
        chained = link(previous, leaf)
        as_attacker(
            "UPDATE compliance_auditevent SET leaf_hash = '{}', chain_hash = '{}' WHERE seq = {}".format(
                leaf.hex(), chained.hex(), row["seq"]
            )
        )
        previous = chained
    as_attacker(
        "UPDATE compliance_auditchainhead SET seq = {}, head_hash = '{}'".format(
            rows[-1]["seq"], previous.hex()
        ),
        "DELETE FROM compliance_auditcheckpoint",
    )
    assert verify().ok  # invisible from inside the database
    _fails(export, "does not match the recomputed chain")


def test_a_forged_checkpoint_is_caught(log, tmp_path: Path) -> None:
    seqs, export = log
    text = export.read_text()
    lines = text.splitlines()
    # 1) alter the size in a genuine note: the signature no longer matches.
    forged = "\n".join([lines[0], str(int(lines[1]) - 1), *lines[2:]]) + "\n"
    bad = tmp_path / "forged.txt"
    bad.write_text(forged)
    _fails(bad, "no valid signature")
    # 2) a note signed with another key.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = make_note(len(seqs), "00" * 32, key=Ed25519PrivateKey.generate())
    bad.write_text(other)
    _fails(bad, "no valid signature")

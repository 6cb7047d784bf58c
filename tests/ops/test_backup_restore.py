"""Backups are encrypted and checked, and a restore replays the erasure and retention ledger, so
an erased subject stays unreadable and expired messages stay deleted after an older backup is
restored, while everyone else stays readable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import DataKey, DataSubject, Message, Participant, Source
from archive.reading import open_messages
from archive.search.service import SearchScope, search
from archive.writer import ArchiveWriter
from compliance.subjects import create_subject, erase_subject
from dmvault.ops import ledger
from dmvault.ops.backup import BackupError, backup, read_manifest, restore

pytestmark = pytest.mark.django_db(transaction=True)

BOB_WORD = "Zanzibarquokka"
ALICE_WORD = "Marmalighthouse"


@pytest.fixture
def world(settings, tmp_path: Path) -> dict[str, object]:
    settings.DMVAULT_LEDGER_PATH = tmp_path / "ledger" / "ledger.jsonl"
    alice = ParsedParticipant("alice-id", "Alicia Vantablack", "alicia.vb", is_owner=True)
    bob = ParsedParticipant("bob-id", "Bartholomew Quince", "bquince")
    msgs = [
        ParsedMessage(
            datetime(2025, 3, 1, 10, i, tzinfo=UTC),
            str(1740823200000 + i * 60000),
            "bob-id" if i % 2 else "alice-id",
            f"{BOB_WORD} secret number {i}" if i % 2 else f"{ALICE_WORD} note number {i}",
            platform_message_id=f"m{i}",
        )
        for i in range(6)
    ]
    source = Source.objects.create(platform="whatsapp", original_sha256="0" * 64, original_size=1)
    ArchiveWriter(source).write(
        [ParsedConversation("whatsapp", "t1", ConversationKind.DIRECT, "Chat", [alice, bob], msgs)]
    )
    Source.objects.filter(id=source.id).update(status=Source.Status.DONE)
    subject = create_subject("Bob the subject")
    senders = dict(Message.objects.values_list("sender_id", "id"))
    by_sender: dict[int, list[int]] = {}
    for sender_id, mid in Message.objects.values_list("sender_id", "id"):
        by_sender.setdefault(sender_id, []).append(mid)
    opened = {m.sender_id: m for m in open_messages(list(senders.values()))}
    bob_participant = next(pid for pid, m in opened.items() if BOB_WORD in m.text)
    alice_participant = next(pid for pid in opened if pid != bob_participant)
    Participant.objects.filter(id=bob_participant).update(subject=subject)
    return {
        "subject": subject.id,
        "bob_ids": sorted(by_sender[bob_participant]),
        "alice_ids": sorted(by_sender[alice_participant]),
    }


def _hits(word: str) -> int:
    return len(search(word, scope=SearchScope.everything()).items)


def test_restore_of_an_older_backup_keeps_the_erased_subject_erased(world, settings, tmp_path: Path) -> None:
    assert _hits(BOB_WORD) == 3 and _hits(ALICE_WORD) == 3
    out = tmp_path / "backup"
    call_command("backup", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {"database.sealed", "blobs.tar.sealed"}
    # Encrypted: neither the words nor the keyring's root key appear in any file of the backup.
    keyring = json.loads(Path(settings.DMVAULT_KEYRING_PATH).read_text())
    root_keys = [k["key"].encode() for k in keyring["keys"]]
    for f in out.iterdir():
        data = f.read_bytes()
        assert BOB_WORD.encode() not in data and ALICE_WORD.encode() not in data
        assert not any(k in data for k in root_keys)

    result = erase_subject(world["subject"], None, two_person=False)
    assert result.done, result.refused
    assert [e["kind"] for e in ledger.read()] == ["erasure"]
    assert _hits(BOB_WORD) == 0

    report = restore(out)
    assert report["replay"]["entries"] == 1
    assert DataSubject.objects.get(id=world["subject"]).erased_at is not None
    assert all(m.erased for m in open_messages(world["bob_ids"]))
    assert not DataKey.objects.filter(
        participant_id__in=Participant.objects.filter(subject_id=world["subject"]).values("id")
    ).exists()
    assert _hits(BOB_WORD) == 0
    alice = open_messages(world["alice_ids"])
    assert all(not m.erased and ALICE_WORD in m.text for m in alice)
    assert _hits(ALICE_WORD) == 3
    # Restoring again is idempotent; the replay appended nothing to the ledger.
    restore(out)
    assert len(ledger.read()) == 1 and ledger.verify() == 1
    assert _hits(BOB_WORD) == 0 and _hits(ALICE_WORD) == 3


def test_restore_of_an_older_backup_keeps_expired_messages_deleted(world, tmp_path: Path) -> None:
    from compliance import retention

    call_command("backup", str(tmp_path / "b"))
    # The messages are from March 2025: a one-year policy run in June 2026 deletes them all.
    retention.create_policy(name="one year", platform="whatsapp", period_days=365)
    result = retention.run(datetime(2026, 6, 1, tzinfo=UTC))
    assert result.counts["messages"] == 6, result.counts
    assert [e["kind"] for e in ledger.read()] == ["retention"]
    assert _hits(BOB_WORD) == 0 and _hits(ALICE_WORD) == 0

    report = restore(tmp_path / "b")
    assert report["replay"]["entries"] == 1
    assert not Message.objects.filter(id__in=world["alice_ids"] + world["bob_ids"]).exists()
    assert _hits(BOB_WORD) == 0 and _hits(ALICE_WORD) == 0


def test_restore_without_erasures_brings_everything_back(world, tmp_path: Path) -> None:
    backup(tmp_path / "b")
    Message.objects.filter(id__in=world["alice_ids"]).update(body_ct=b"")  # damage after the backup
    restore(tmp_path / "b")
    assert all(ALICE_WORD in m.text for m in open_messages(world["alice_ids"]))
    assert _hits(BOB_WORD) == 3


def test_a_tampered_backup_or_ledger_is_refused(world, tmp_path: Path) -> None:
    out = tmp_path / "b"
    backup(out)
    read_manifest(out)
    sealed = out / "database.sealed"
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 1
    sealed.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="does not match"):
        restore(out)
    data[len(data) // 2] ^= 1
    sealed.write_bytes(bytes(data))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["taken_at"] = "2000-01-01T00:00:00+00:00"  # would replay less of the ledger
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="altered"):
        restore(out)
    assert all(ALICE_WORD in m.text for m in open_messages(world["alice_ids"]))


def test_ledger_is_a_hash_chain(settings, tmp_path: Path) -> None:
    settings.DMVAULT_LEDGER_PATH = tmp_path / "l.jsonl"
    ledger.append("erasure", "2025-01-01T00:00:00+00:00", subject_id="1", participants=["2"])
    ledger.append("retention", "2025-01-02T00:00:00+00:00", deleted=ledger.pack_ids([5, 3]), redacted="")
    assert ledger.verify() == 2
    assert ledger.unpack_ids(ledger.read()[1]["deleted"]) == [3, 5]
    lines = (tmp_path / "l.jsonl").read_text().splitlines()
    (tmp_path / "l.jsonl").write_text(lines[1] + "\n")
    with pytest.raises(ledger.LedgerError):
        ledger.verify()

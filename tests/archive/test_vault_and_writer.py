"""The encrypted core: what the writer stores, what can be read back, and what cannot."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from archive import index
from archive.importers.base import (
    ConversationKind,
    ParsedAttachment,
    ParsedConversation,
    ParsedMessage,
    ParsedParticipant,
    ParsedReaction,
)
from archive.models import Attachment, Blob, Conversation, DataSubject, Message, Participant, Source
from archive.reading import open_messages
from archive.search.engine import find_ids
from archive.vault import CiphertextInvalid, KeyDestroyed, Vault, VaultError, get_vault, reset_vault
from archive.vault.operations import roll_wrapping_key, rotate_root, shred_participants
from archive.writer import ArchiveWriter

pytestmark = pytest.mark.django_db(transaction=False)

SECRET_TEXT = "Zanzibarquokka meets at the lighthouse"
OTHER_TEXT = "Quarterly numbers look fine to Mirabelle"


def _conversation(thread: str = "t1", extra: list[ParsedMessage] | None = None) -> ParsedConversation:
    alice = ParsedParticipant("alice-id", "Alicia Vantablack", "alicia.vb", is_owner=True)
    bob = ParsedParticipant("bob-id", "Bartholomew Quince", "bquince")
    msgs = [
        ParsedMessage(
            datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
            "1740823200000",
            "alice-id",
            SECRET_TEXT,
            platform_message_id="m1",
        ),
        ParsedMessage(
            datetime(2025, 3, 1, 10, 5, tzinfo=UTC),
            "1740823500000",
            "bob-id",
            OTHER_TEXT,
            platform_message_id="m2",
            reactions=[ParsedReaction("alice-id", "👍")],
            reply_to="m1",
            attachments=[
                ParsedAttachment(
                    "holiday-secret.jpg",
                    "image/jpeg",
                    open=lambda: __import__("io").BytesIO(b"JPEGSECRETBYTES"),
                )
            ],
        ),
        *(extra or []),
    ]
    return ParsedConversation(
        "whatsapp", thread, ConversationKind.DIRECT, "Chat with Bartholomew Quince", [alice, bob], msgs
    )


def _source() -> Source:
    return Source.objects.create(platform="whatsapp", original_sha256="0" * 64, original_size=1)


def test_writer_stores_messages_that_read_back_and_are_searchable() -> None:
    summary = ArchiveWriter(_source()).write([_conversation()])
    assert (summary.messages, summary.duplicates, summary.attachments) == (2, 0, 1)
    ids = find_ids(["zanzibarquokka"], limit=10)
    assert len(ids) == 1
    [opened] = open_messages(ids)
    assert opened.text == SECRET_TEXT
    both = find_ids(["mirabelle", "quarterly"], limit=10)
    [reply] = open_messages(both)
    assert reply.reactions[0][1] == "👍"
    assert Message.objects.get(id=reply.id).reply_to_id == opened.id
    assert find_ids(["mirabelle", "zanzibarquokka"], limit=10) == []


def test_a_repeated_import_adds_nothing_twice() -> None:
    ArchiveWriter(_source()).write([_conversation()])
    again = ArchiveWriter(_source()).write([_conversation()])
    assert (again.messages, again.duplicates) == (0, 2)
    assert Message.objects.count() == 2
    assert Conversation.objects.count() == 1
    assert Participant.objects.count() == 2


def test_no_plaintext_reaches_the_database_rows() -> None:
    ArchiveWriter(_source()).write([_conversation()])
    needles = [
        b"Zanzibarquokka",
        b"Mirabelle",
        b"Alicia",
        b"Bartholomew",
        b"bquince",
        b"JPEGSECRETBYTES",
        b"holiday-secret",
    ]
    with connection.cursor() as cur:
        tables = connection.introspection.table_names(cur)
        for table in tables:
            cur.execute(f"SELECT * FROM {table}")
            for row in cur.fetchall():
                blob = repr(row).encode() + b"".join(
                    bytes(c) for c in row if isinstance(c, (bytes, memoryview))
                )
                for needle in needles:
                    assert needle not in blob, (table, needle)


def test_blob_bytes_are_encrypted_in_storage() -> None:
    from django.core.files.storage import storages

    ArchiveWriter(_source()).write([_conversation()])
    blob = Blob.objects.get()
    with storages["blobs"].open(blob.storage_name) as fh:
        stored = fh.read()
    assert b"JPEGSECRETBYTES" not in stored
    assert Attachment.objects.get().blob_id == blob.id


def test_a_ciphertext_moved_to_another_row_fails_to_open() -> None:
    ArchiveWriter(_source()).write([_conversation()])
    first, second = Message.objects.order_by("id")
    Message.objects.filter(id=second.id).update(body_ct=first.body_ct, dek_id=first.dek_id)
    with pytest.raises(CiphertextInvalid, match="moved from another row"):
        open_messages([second.id])


def test_root_key_rotation_and_wrapping_key_roll_keep_everything_readable() -> None:
    ArchiveWriter(_source()).write([_conversation()])
    result = rotate_root()
    assert result["wrapping_keys_rewrapped"] == 1
    rolled = roll_wrapping_key()
    assert rolled["data_keys"] >= 3 and rolled["index_keys"] == 1
    reset_vault()
    ids = find_ids(["zanzibarquokka"], limit=5)
    assert open_messages(ids)[0].text == SECRET_TEXT


def test_a_shredded_subject_can_no_longer_be_read_while_others_can() -> None:
    ArchiveWriter(_source()).write([_conversation()])
    bob = Message.objects.get(platform_message_id="m2") if hasattr(Message, "platform_message_id") else None
    ids = sorted(Message.objects.values_list("id", flat=True))
    alice_msg, bob_msg = ids
    bob_sender = Message.objects.get(id=bob_msg).sender_id
    report = shred_participants([bob_sender])
    assert report.data_keys >= 2  # bob's identity and bob's message key
    opened = {m.id: m for m in open_messages(ids)}
    assert opened[bob_msg].erased and opened[bob_msg].text == ""
    assert opened[alice_msg].text == SECRET_TEXT
    bob_row = Participant.objects.get(id=bob_sender)
    with pytest.raises(KeyDestroyed):
        get_vault().open_field(bob_row.dek_id, "participant.identity", bob_row.id, bob_row.identity_ct)
    del bob


def test_a_wrong_keyring_gives_a_clear_error(tmp_path, settings) -> None:
    ArchiveWriter(_source()).write([_conversation()])
    settings.DMVAULT_KEYRING_PATH = tmp_path / "other.json"
    settings.DMVAULT_KEYRING_AUTOCREATE = True
    reset_vault()
    with pytest.raises(CiphertextInvalid, match="does not belong to this database"):
        open_messages(list(Message.objects.values_list("id", flat=True)))


def test_a_missing_keyring_is_a_clear_error_not_garbage(tmp_path, settings) -> None:
    ArchiveWriter(_source()).write([_conversation()])
    settings.DMVAULT_KEYRING_PATH = tmp_path / "absent.json"
    settings.DMVAULT_KEYRING_AUTOCREATE = False
    reset_vault()
    with pytest.raises(VaultError, match="vault init"):
        open_messages(list(Message.objects.values_list("id", flat=True)))


def test_messages_without_platform_ids_keep_identical_repeats() -> None:
    when = datetime(2025, 5, 5, 9, 30, tzinfo=UTC)
    repeats = [ParsedMessage(when, "05/05/2025, 09:30", "bob-id", "ok") for _ in range(3)]
    conv = ParsedConversation(
        "whatsapp", "wa1", ConversationKind.DIRECT, "x", [ParsedParticipant("bob-id")], repeats
    )
    assert ArchiveWriter(_source()).write([conv]).messages == 3
    conv.messages = [ParsedMessage(when, "05/05/2025, 09:30", "bob-id", "ok") for _ in range(4)]
    again = ArchiveWriter(_source()).write([conv])
    assert (again.messages, again.duplicates) == (1, 3)


def test_unicode_folding_in_the_index() -> None:
    extra = [
        ParsedMessage(
            datetime(2025, 3, 2, tzinfo=UTC),
            "x",
            "bob-id",
            "Die STRASSE ist schön ＡＢＣＤ café 🎉",
            platform_message_id="m3",
        )
    ]
    ArchiveWriter(_source()).write([_conversation(extra=extra)])
    for query in (["straße"], ["schon"], ["abcd"], ["CAFÉ".casefold()], ["🎉"]):
        from archive.vault.blind_index import query_terms

        terms = [t for q in query for t in query_terms(q)]
        assert len(find_ids(terms, limit=5)) == 1, query


def test_postings_live_in_monthly_tables() -> None:
    ArchiveWriter(_source()).write([_conversation()])
    assert index.existing_months() == {202503}
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {index.table(202503)}")
        assert cur.fetchone()[0] > 5


def test_an_import_reports_its_months_and_refreshing_their_statistics_works_inside_a_transaction() -> None:
    summary = ArchiveWriter(_source()).write([_conversation()])
    assert summary.months == {202503}
    assert "months" not in summary.as_dict()  # not part of the import's stored summary
    index.refresh_statistics(summary.months)  # the test runs inside a transaction: ANALYZE only
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [index.table(202503)])
            assert cur.fetchone()[0] > 5
        else:  # SQLite keeps no such statistics: nothing to do
            cur.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            assert cur.fetchone()[0] == 0


def _rows(name: str) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {name}")
        return int(cur.fetchone()[0])


def test_a_finished_import_leaves_nothing_staged() -> None:
    ArchiveWriter(_source()).write([_conversation()])
    assert _rows(index.staged_table(202503)) == 0
    assert _rows(index.table(202503)) > 5


def test_an_import_that_dies_before_finishing_is_indexed_by_the_next_writer() -> None:
    # The first writer commits its batch and dies before ``finish``: its postings are staged,
    # so not yet searchable (its source is not done either)...
    dying = ArchiveWriter(_source())
    dying.begin()
    dying.write_conversation(_conversation())
    dying._commit()
    staged, indexed = _rows(index.staged_table(202503)), _rows(index.table(202503))
    if index.stages_postings():
        assert staged > 5 and indexed == 0
        assert find_ids(["zanzibarquokka"], limit=5) == []
    else:  # PostgreSQL writes postings straight into the month's table
        assert staged == 0 and indexed > 5
    # ...and the rerun, which adds no message, merges them.
    again = ArchiveWriter(_source()).write([_conversation()])
    assert again.messages == 0
    assert _rows(index.staged_table(202503)) == 0
    assert _rows(index.table(202503)) == staged + indexed
    assert len(find_ids(["zanzibarquokka"], limit=5)) == 1


def test_removing_a_message_removes_its_staged_postings_too() -> None:
    from archive.ingest import remove_postings

    writer = ArchiveWriter(_source())
    writer.begin()
    writer.write_conversation(_conversation())
    writer._commit()
    ids = list(Message.objects.values_list("id", flat=True))
    remove_postings(ids)
    assert _rows(index.staged_table(202503)) == 0
    assert _rows(index.table(202503)) == 0


def test_a_long_import_merges_a_month_once_it_has_gathered_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "STAGE_MERGE_ROWS", 3)
    writer = ArchiveWriter(_source())
    writer.begin()
    writer.write_conversation(_conversation())
    writer._commit()
    assert _rows(index.staged_table(202503)) == 0
    assert len(find_ids(["zanzibarquokka"], limit=5)) == 1


def test_dropping_a_month_drops_its_staging_table() -> None:
    ArchiveWriter(_source()).write([_conversation()])
    index.drop_partition(202503)
    tables = connection.introspection.table_names()
    assert index.table(202503) not in tables
    assert index.staged_table(202503) not in tables


def test_vault_ciphertexts_carry_row_and_field_in_the_aad() -> None:
    vault = get_vault()
    dek_id, key = vault.data_key("test:aad")
    sealed = Vault.seal(key, dek_id, "message.body", 42, b"hello")
    assert Vault.open(key, dek_id, "message.body", 42, sealed) == b"hello"
    with pytest.raises(CiphertextInvalid):
        Vault.open(key, dek_id, "conversation.title", 42, sealed)
    with pytest.raises(CiphertextInvalid):
        Vault.open(key, dek_id, "message.body", 43, sealed)
    assert json.dumps(DataSubject.__name__)


def test_redaction_at_ingest_covers_earlier_versions_and_shared_links() -> None:
    def hide(text: str) -> str:
        return text.replace("Quokkasecret", "[SECRET]")

    msg = ParsedMessage(
        datetime(2025, 4, 1, tzinfo=UTC),
        "x",
        "bob-id",
        "now fine",
        platform_message_id="e1",
        edited=True,
        previous_versions=["was Quokkasecret"],
        share_url="https://example.com/?t=Quokkasecret",
    )
    conv = ParsedConversation(
        "whatsapp", "redact-1", ConversationKind.DIRECT, "t", [ParsedParticipant("bob-id")], [msg]
    )
    ArchiveWriter(_source(), transform_text=hide).write([conv])
    [opened] = open_messages(list(Message.objects.values_list("id", flat=True)))
    assert opened.previous_versions == ["was [SECRET]"]
    assert "Quokkasecret" not in opened.share_url
    assert find_ids(["quokkasecret"], limit=5) == []

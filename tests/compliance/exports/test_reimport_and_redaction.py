"""Native JSON reimports to the same messages; the redaction policy reaches every format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from archive.models import Attachment, Conversation, Message, Participant, Source
from archive.reading import open_messages
from archive.writer import ArchiveWriter
from compliance.exports.collect import ExportRedactor, Reader, Selection
from compliance.exports.formats.native import read_native
from compliance.exports.redact import ExportPolicy
from tests.compliance.exports.conftest import PHOTO, SECRET_EMAIL, conversations
from tests.compliance.exports.helpers import all_text, produce

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple[Any, ...]]:
    """The archive's messages as a reader sees them, independent of ids."""
    reader = Reader(
        Selection(list(Conversation.objects.values_list("id", flat=True))), ExportRedactor(ExportPolicy())
    )
    out = []
    for conv in reader.conversations():
        texts = {}
        for msg in reader.messages(conv):
            texts[msg.id] = msg.text
            sender = reader.person(msg.sender_id)
            out.append(
                (
                    conv.platform,
                    conv.thread_id,
                    conv.kind,
                    conv.title,
                    msg.sent_at,
                    msg.raw_timestamp,
                    sender.platform_id if sender else None,
                    msg.kind,
                    msg.text,
                    msg.edited,
                    msg.deleted,
                    tuple(msg.previous_versions),
                    msg.share_url,
                    msg.call_duration_s,
                    tuple(tuple(r) for r in msg.reactions),
                    texts.get(msg.reply_to_id) if msg.reply_to_id else None,
                    tuple((a.name, a.content_type, reader.attachment_bytes(a)) for a in msg.attachments),
                )
            )
    return sorted(out, key=lambda r: (r[1], r[4], r[8]))


def test_native_reimport_gives_the_same_messages(
    tmp_path: Path, user: Any, archive_data: dict[str, Any]
) -> None:
    path, _ = produce(tmp_path, user, conversation_ids=archive_data["all"], formats=["native"])
    before = snapshot()
    assert len(before) == 47

    parsed = list(read_native(path))
    assert [c.thread_id for c in parsed] == ["t-bob", "t-group"] or {c.thread_id for c in parsed} == {
        "t-bob",
        "t-group",
    }

    # Empty the archive, then reimport the production through the one write path.
    Attachment.objects.all().delete()
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    Participant.objects.all().delete()
    source = Source.objects.create(
        platform="whatsapp", original_sha256="cd" * 32, original_size=1, status="done"
    )
    summary = ArchiveWriter(source).write(read_native(path))
    assert (summary.messages, summary.attachments) == (47, 1)
    after = snapshot()
    assert after == before
    # And the reimported text is searchable and decrypts through the normal path.
    assert any(
        m.text.startswith("Yes") for m in open_messages(list(Message.objects.values_list("id", flat=True)))
    )


def test_reimport_matches_the_original_importer_input(
    tmp_path: Path, user: Any, archive_data: dict[str, Any]
) -> None:
    path, _ = produce(tmp_path, user, conversation_ids=archive_data["all"], formats=["native"])
    originals = {c.thread_id: c for c in conversations()}
    for conv in read_native(path):
        orig = originals[conv.thread_id]
        assert (conv.platform, conv.kind, conv.title) == (orig.platform, orig.kind, orig.title)
        assert {p.platform_id: p.display_name for p in conv.participants} == {
            p.platform_id: p.display_name for p in orig.participants
        }
        got, want = list(conv.messages), list(orig.messages)
        assert [(m.sent_at, m.sender_id, m.text, m.kind, m.deleted, m.edited) for m in got] == [
            (m.sent_at, m.sender_id, m.text, m.kind, m.deleted, m.edited) for m in want
        ]
        for g, w in zip(got, want, strict=True):
            assert [a.name for a in g.attachments] == [a.name for a in w.attachments]
            for a in g.attachments:
                assert a.open is not None
                with a.open() as fh:
                    assert fh.read() == PHOTO


NEEDLES = [
    "Bartholomew",
    "Quince",
    "bquince",
    "Alicia",
    "Vantablack",
    "alicia.vb",
    SECRET_EMAIL,
    "5551234",
    "t-bob",
]


def test_redaction_reaches_every_format(tmp_path: Path, user: Any, archive_data: dict[str, Any]) -> None:
    policy = {
        "enabled": True,
        "participant_names": "pseudonymize",
        "attachment_names": "redact",
    }
    path, _ = produce(tmp_path, user, conversation_ids=archive_data["all"], redaction=policy)
    texts = all_text(path)
    kinds = {name.split("/")[0] for name in texts}
    assert {
        "native",
        "csv",
        "rsmf",
        "eml",
        "html",
        "pdf",
        "loadfile",
        "attachments",
        "manifest.json",
    } <= kinds
    for name, text in texts.items():
        for needle in NEEDLES:
            assert needle not in text, (name, needle)
    csv_text = texts["csv/messages.csv"]
    assert "Participant 1" in csv_text and "[EMAIL]" in csv_text and "[PHONE]" in csv_text
    assert "[PERSON]" in csv_text  # the participant named inside a message
    assert "[PERSON] passport.png" in csv_text  # the attachment keeps its harmless part and extension


def test_attachment_names_can_be_removed_and_bytes_withheld(
    tmp_path: Path, user: Any, archive_data: dict[str, Any]
) -> None:
    policy = {"enabled": True, "attachment_names": "remove", "attachment_bytes": False, "types": ["EMAIL"]}
    path, _ = produce(tmp_path, user, conversation_ids=archive_data["all"], redaction=policy)
    texts = all_text(path)
    assert not any(name.startswith("attachments/") for name in texts)
    assert all("passport" not in t for t in texts.values())
    assert "[EMAIL]" in texts["csv/messages.csv"]
    assert "5551234" in texts["csv/messages.csv"]  # only the chosen types are redacted
    assert "Bartholomew Quince" in texts["csv/messages.csv"]  # names kept when the policy says so

"""A small archive for the search tests: two finished sources, one running and one failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from archive.importers.base import (
    ConversationKind,
    MessageKind,
    ParsedAttachment,
    ParsedConversation,
    ParsedMessage,
    ParsedParticipant,
)
from archive.models import Conversation, DataSubject, Message, Participant, Source
from archive.writer import ArchiveWriter

ALICE = ParsedParticipant("alice-id", "Alicia Vantablack", "alicia.vb", is_owner=True)
BOB = ParsedParticipant("bob-id", "Bartholomew Quince", "bquince")
CAROL = ParsedParticipant("U-CAROL", "Carol Danvers", "carol")
DAVE = ParsedParticipant("U-DAVE", "Dave Lindqvist", "dave")
EVE = ParsedParticipant("eve-id", "Eve Running", "eve")


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def msg(when: str, sender: str | None, text: str, pid: str, **kw: object) -> ParsedMessage:
    return ParsedMessage(at(when), when, sender, text, platform_message_id=pid, **kw)  # type: ignore[arg-type]


@dataclass
class Archive:
    s_wa: Source
    s_slack: Source
    s_running: Source
    s_failed: Source
    c_wa: Conversation
    c_slack: Conversation
    c_running: Conversation
    c_failed: Conversation
    ids: dict[str, int]  # platform message id -> message id

    def pid(self, platform_id: str) -> int:
        from archive.vault import get_vault

        for platform in ("whatsapp", "slack"):
            row = Participant.objects.filter(
                dedup_key=get_vault().keyed_hash(b"participant", platform, platform_id)
            ).first()
            if row:
                return row.id
        raise KeyError(platform_id)


def _source(platform: str, status: str) -> Source:
    return Source.objects.create(platform=platform, original_sha256="0" * 64, original_size=1, status=status)


def _write(source: Source, conv: ParsedConversation, status: str) -> Conversation:
    ArchiveWriter(source).write([conv])
    Source.objects.filter(id=source.id).update(status=status)
    source.refresh_from_db()
    return Conversation.objects.get(sources=source)


@pytest.fixture
def archive(db: None) -> Archive:
    s_wa = _source("whatsapp", "pending")
    s_slack = _source("slack", "pending")
    s_running = _source("whatsapp", "pending")
    s_failed = _source("slack", "pending")
    subject = DataSubject.objects.create(label_ct=b"x", dek_id=1)
    s_wa.owner = subject
    s_wa.save()
    wa = ParsedConversation(
        "whatsapp",
        "wa-thread",
        ConversationKind.DIRECT,
        "Chat with Bartholomew",
        [ALICE, BOB],
        [
            msg("2025-01-10T09:00:00", "alice-id", "Please send the invoice for March", "m1"),
            msg("2025-01-10T09:05:00", "bob-id", "The invoice was paid yesterday", "m2"),
            msg(
                "2025-01-10T09:10:00",
                "alice-id",
                "Receipt attached",
                "m3",
                attachments=[ParsedAttachment("r.pdf", "application/pdf")],
            ),
            msg("2025-01-11T23:30:00", "bob-id", "Café au lait near the Straße ＡＢＣＤ 🎉", "m4"),
            msg("2025-01-12T08:00:00", "bob-id", "Paid, invoice number seven", "m5"),
            msg(
                "2025-02-01T12:00:00",
                "alice-id",
                "see https://example.com/contract draft",
                "m6",
                edited=True,
                previous_versions=["see the contract"],
            ),
            msg("2025-02-02T12:00:00", "bob-id", "", "m7", deleted=True),
            msg("2025-02-03T12:00:00", "alice-id", "", "m8", kind=MessageKind.CALL, call_duration_s=60),
        ],
        labels=["inbox"],
    )
    slack = ParsedConversation(
        "slack",
        "slack-channel",
        ConversationKind.GROUP,
        "finance",
        [CAROL, DAVE],
        [
            msg("2025-01-10T10:00:00", "U-CAROL", "invoice for the new client", "n1"),
            msg("2025-03-05T10:00:00", "U-DAVE", "Receipt from the hotel", "n2"),
            msg("2025-03-06T10:00:00", "U-CAROL", "Rendez-vous at noon, bring the receipt", "n3"),
        ],
        labels=["archived"],
    )
    running = ParsedConversation(
        "whatsapp",
        "running-thread",
        ConversationKind.DIRECT,
        "x",
        [EVE],
        [msg("2025-01-10T11:00:00", "eve-id", "invoice from a running import", "r1")],
    )
    failed = ParsedConversation(
        "slack",
        "failed-thread",
        ConversationKind.DIRECT,
        "y",
        [EVE],
        [msg("2025-01-10T12:00:00", "eve-id", "invoice from a failed import", "f1")],
    )
    c_wa = _write(s_wa, wa, "done")
    c_slack = _write(s_slack, slack, "done")
    c_running = _write(s_running, running, "running")
    c_failed = _write(s_failed, failed, "failed")
    ids: dict[str, int] = {}
    from archive.vault import get_vault

    vault = get_vault()
    for conv in (wa, slack, running, failed):
        for m in conv.messages:  # type: ignore[attr-defined]
            key = vault.keyed_hash(b"message", conv.platform, conv.thread_id, "id", m.platform_message_id)
            ids[m.platform_message_id] = Message.objects.get(dedup_key=key).id
    Participant.objects.filter(dedup_key=vault.keyed_hash(b"participant", "whatsapp", "alice-id")).update(
        subject=subject
    )
    return Archive(s_wa, s_slack, s_running, s_failed, c_wa, c_slack, c_running, c_failed, ids)

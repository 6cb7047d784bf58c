"""Personas and a small demo-like archive for the UI tests (browser and Django client alike).

The archive: synthetic conversations (``archive.synthetic.Generator``) on several platforms plus
one hand-made WhatsApp thread with what the review pages must show: a card number (redacted, and
revealable by legal), an edit, a deletion, a reaction, a system message and a PNG attachment.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache

from accounts.models import User
from accounts.roles import Role
from archive.importers.base import (
    ConversationKind,
    MessageKind,
    ParsedAttachment,
    ParsedConversation,
    ParsedMessage,
    ParsedParticipant,
    ParsedReaction,
)
from archive.models import Conversation, DataSubject, Message, Source
from archive.synthetic import Generator
from archive.vault import get_vault
from archive.writer import ArchiveWriter

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
# thread with a running loop unless told this is fine (the tests are synchronous code).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple 42"
CARD = "4111 1111 1111 1111"
THREAD_TITLE = "Harbour project"
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
ROLES = {
    "officer": Role.COMPLIANCE_OFFICER,
    "lawyer": Role.LEGAL,
    "admin": Role.ADMIN,
    "auditor": Role.AUDITOR,
    "ingest": Role.INGEST,
}


@dataclass
class DemoArchive:
    source: Source
    thread: Conversation
    card_message: int
    owner: DataSubject


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


def make_users() -> dict[str, User]:
    return {
        name: User.objects.create_user(username=name, password=PASSWORD, role=role, whole_archive=True)
        for name, role in ROLES.items()
    }


def _thread() -> ParsedConversation:
    me = ParsedParticipant("owner", "Alex Archivist", "alex.archivist", is_owner=True)
    ana = ParsedParticipant("ana-1", "Ana Lima", "ana.lima")
    t = lambda minute: datetime(2025, 3, 4, 9, minute, tzinfo=UTC)  # noqa: E731
    msgs = [
        ParsedMessage(
            t(0), "0", None, "Ana Lima created the group", kind=MessageKind.SYSTEM, platform_message_id="h0"
        ),
        ParsedMessage(
            t(1),
            "1",
            "ana-1",
            "Morning! The harbour invoice is attached",
            platform_message_id="h1",
            attachments=[
                ParsedAttachment("harbour.png", "image/png", "harbour.png", len(PNG), lambda: io.BytesIO(PNG))
            ],
        ),
        ParsedMessage(
            t(2),
            "2",
            "owner",
            f"Pay it with card {CARD} please",
            platform_message_id="h2",
            reactions=[ParsedReaction("ana-1", "👍")],
        ),
        ParsedMessage(
            t(3),
            "3",
            "ana-1",
            "Done, the harbour fee is paid",
            platform_message_id="h3",
            edited=True,
            previous_versions=["Done, fee paid"],
        ),
        ParsedMessage(t(4), "4", "owner", "", platform_message_id="h4", deleted=True),
    ]
    return ParsedConversation(
        "whatsapp", "harbour-thread", ConversationKind.DIRECT, THREAD_TITLE, [me, ana], msgs, labels=["inbox"]
    )


def make_archive(messages: int = 400) -> DemoArchive:
    vault = get_vault()
    dek_id, key = vault.data_key("s:e2e-owner")
    owner = DataSubject(dek_id=dek_id)
    owner.label_ct = vault.seal(key, dek_id, "subject.label", owner.id, b"Alex Archivist")
    owner.save(force_insert=True)
    source = Source.objects.create(
        platform="synthetic",
        original_sha256="0" * 64,
        original_size=0,
        owner=owner,
        status=Source.Status.DONE,
        progress=1.0,
    )
    gen = Generator(seed=3, vocab_size=2000)
    convs = list(
        gen.conversations(
            messages,
            conversations=8,
            months=12,
            start=datetime(2024, 6, 1, tzinfo=UTC),
            platforms=["slack", "telegram", "discord", "instagram"],
        )
    )
    summary = ArchiveWriter(source).write([*convs, _thread()])
    source.summary = summary.as_dict()
    source.save(update_fields=["summary"])
    thread = Conversation.objects.get(platform="whatsapp")
    ids = list(Message.objects.filter(conversation=thread).order_by("id").values_list("id", flat=True))
    return DemoArchive(source, thread, ids[2], owner)


@pytest.fixture
def users(db: Any) -> dict[str, User]:
    return make_users()


@pytest.fixture
def demo(db: Any) -> DemoArchive:
    return make_archive()

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from archive.importers.base import (
    ConversationKind,
    MessageKind,
    ParsedAttachment,
    ParsedConversation,
    ParsedMessage,
    ParsedParticipant,
    ParsedReaction,
)
from archive.models import Conversation, Source
from archive.writer import ArchiveWriter

SECRET_EMAIL = "zed.secret@example.org"
PHOTO = b"\x89PNG\r\n\x1a\nPHOTOBYTES-of-the-holiday"


@pytest.fixture(autouse=True)
def _export_keys(settings: Any, tmp_path: Path) -> None:
    settings.DMVAULT_EXPORT_KEY_PATH = tmp_path / "keys" / "export-signing.key"
    settings.DMVAULT_AUDIT_KEY_PATH = tmp_path / "keys" / "audit-signing.key"
    settings.DMVAULT_AUDIT_KEY_AUTOCREATE = True


def conversations() -> list[ParsedConversation]:
    alice = ParsedParticipant("alice-id", "Alicia Vantablack", "alicia.vb", is_owner=True)
    bob = ParsedParticipant("bob-id", "Bartholomew Quince", "bquince")
    carol = ParsedParticipant("carol-id", "Carolina Whitcombe", "cwhit")
    t = lambda d, h, m: datetime(2025, 3, d, h, m, tzinfo=UTC)  # noqa: E731
    first = [
        ParsedMessage(
            t(1, 10, 0), "1", "alice-id", "Morning Bartholomew Quince, are we on?", platform_message_id="m1"
        ),
        ParsedMessage(
            t(1, 10, 5),
            "2",
            "bob-id",
            f"Yes — write to {SECRET_EMAIL} or call +49 171 5551234 😀",
            platform_message_id="m2",
            reply_to="m1",
            reactions=[ParsedReaction("alice-id", "👍", t(1, 10, 6))],
        ),
        ParsedMessage(
            t(1, 11, 0),
            "3",
            "bob-id",
            "photo attached",
            kind=MessageKind.MEDIA,
            platform_message_id="m3",
            attachments=[
                ParsedAttachment(
                    "Bartholomew-Quince-passport.png",
                    "image/png",
                    "media/p.png",
                    open=lambda: io.BytesIO(PHOTO),
                )
            ],
        ),
        ParsedMessage(
            t(2, 9, 0),
            "4",
            "alice-id",
            "final text <b>not html</b> & more",
            platform_message_id="m4",
            edited=True,
            previous_versions=["first draft"],
        ),
        ParsedMessage(t(2, 9, 30), "5", "bob-id", "", platform_message_id="m5", deleted=True),
        ParsedMessage(
            t(3, 8, 0),
            "6",
            "alice-id",
            "see link",
            kind=MessageKind.SHARE,
            platform_message_id="m6",
            share_url="https://example.com/doc/1",
        ),
        ParsedMessage(
            t(3, 8, 1),
            "7",
            None,
            "Alicia started a call",
            kind=MessageKind.CALL,
            call_duration_s=61,
            platform_message_id="m7",
        ),
    ]
    second = [
        ParsedMessage(
            t(5, 12, i),
            str(100 + i),
            "carol-id" if i % 2 else "alice-id",
            f"group line {i} lorem ipsum",
            platform_message_id=f"g{i}",
        )
        for i in range(40)
    ]
    return [
        ParsedConversation(
            "whatsapp", "t-bob", ConversationKind.DIRECT, "Chat with Bartholomew Quince", [alice, bob], first
        ),
        ParsedConversation(
            "whatsapp", "t-group", ConversationKind.GROUP, "Book club", [alice, carol], second, ["inbox"]
        ),
    ]


@pytest.fixture
def archive_data(db: Any) -> dict[str, Any]:
    source = Source.objects.create(
        platform="whatsapp", original_sha256="ab" * 32, original_size=1234, status=Source.Status.DONE
    )
    ArchiveWriter(source).write(conversations())
    convs = {c.message_count: c.id for c in Conversation.objects.all()}
    return {"source": source, "direct": convs[7], "group": convs[40], "all": sorted(convs.values())}


@pytest.fixture
def user(db: Any) -> Any:
    from django.contrib.auth import get_user_model

    model = get_user_model()
    return model.objects.create_user(username="counsel", password="x-x-x-x-x-x", whole_archive=True)  # type: ignore[attr-defined]

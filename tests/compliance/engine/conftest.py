"""Fixtures of the compliance engine tests (the data builders live in ``engine_world``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_world import World, slack_conversation, user, whatsapp_conversation

from archive.models import Conversation, Participant, Source
from archive.vault import get_vault
from archive.writer import ArchiveWriter
from compliance.subjects import create_subject


@pytest.fixture(autouse=True)
def _own_signing_key(settings, tmp_path: Path) -> None:
    settings.DMVAULT_AUDIT_KEY_PATH = tmp_path / "keys" / "audit-signing.key"
    settings.DMVAULT_AUDIT_KEY_AUTOCREATE = True


@pytest.fixture
def world(db) -> World:
    alice = create_subject("Alicia Vantablack")
    bob = create_subject("Bartholomew Quince")
    source = Source.objects.create(
        platform="whatsapp", original_sha256="0" * 64, original_size=1, owner=alice, status=Source.Status.DONE
    )
    ArchiveWriter(source).write([whatsapp_conversation(), slack_conversation()])
    bob_key = get_vault().keyed_hash(b"participant", "whatsapp", "bob-id")
    bob_p = Participant.objects.get(dedup_key=bob_key)
    bob_p.subject = bob
    bob_p.save(update_fields=["subject"])
    convs = {c.platform: c.id for c in Conversation.objects.all()}
    return World(
        source=source,
        alice=alice,
        bob=bob,
        bob_participant=bob_p.id,
        whatsapp=convs["whatsapp"],
        slack=convs["slack"],
        admin=user("admin1", "admin"),
        admin2=user("admin2", "admin"),
        lawyer=user("lawyer", "legal"),
    )

"""A small archive with personal data in it, people of every role, and policy helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import Message, Source
from archive.writer import ArchiveWriter
from compliance import redaction_service
from compliance.models import Purpose
from compliance.redaction_models import RedactionPolicy
from tests.api.conftest import _clear_throttles, personas  # noqa: F401 (fixtures)

EMAIL = "quentin.zephyr@example.org"
OTHER_EMAIL = "wilhelmina.oddsock@example.net"
CARD = "4012 8888 8888 1881"  # a Luhn-valid test Visa number


@dataclass
class World:
    source: Source
    # conversation 1: [email message, card message, plain message]; conversation 2: [same email, other email]
    conv1: list[int]
    conv2: list[int]


def _conv(thread: str, texts: list[str], minute0: int) -> ParsedConversation:
    alice = ParsedParticipant("alice-id", "Alicia Vantablack", "alicia.vb", is_owner=True)
    bob = ParsedParticipant(f"bob-{thread}", "Bartholomew Quince", "bquince")
    msgs = [
        ParsedMessage(
            datetime(2025, 3, 1, 10, minute0 + i, tzinfo=UTC),
            str(1740823200000 + (minute0 + i) * 60000),
            "alice-id" if i % 2 == 0 else f"bob-{thread}",
            text,
            platform_message_id=f"{thread}-{i}",
        )
        for i, text in enumerate(texts)
    ]
    return ParsedConversation(
        "whatsapp", thread, ConversationKind.DIRECT, f"Chat {thread}", [alice, bob], msgs
    )


@pytest.fixture
def world(db: Any) -> World:
    redaction_service.clear_cache()
    source = Source.objects.create(platform="whatsapp", original_sha256="0" * 64, original_size=1)
    ArchiveWriter(source).write(
        [
            _conv("t1", [f"write to {EMAIL} about the invoice", f"my card is {CARD} ok", "see you soon"], 0),
            _conv("t2", [f"again {EMAIL} here", f"and {OTHER_EMAIL} too"], 10),
        ]
    )

    source.status = Source.Status.DONE  # a finished import: search only shows those
    source.save(update_fields=["status"])

    def ids(thread: str) -> list[int]:
        qs = Message.objects.filter(raw_timestamp__in=_stamps(thread)).order_by("id")
        return list(qs.values_list("id", flat=True))

    return World(source, ids("t1"), ids("t2"))


def _stamps(thread: str) -> list[str]:
    base = 0 if thread == "t1" else 10
    return [str(1740823200000 + (base + i) * 60000) for i in range(3)]


def user(role: Role, name: str | None = None) -> User:
    return User.objects.create_user(
        username=name or role.value, password="a long passphrase 42", role=role, whole_archive=True
    )


def purpose_for(u: User, matter: str = "CASE-7") -> Purpose:
    return Purpose.objects.create(
        user=u,
        credential="test",
        matter_ref=matter,
        reason_ct=b"x",
        reason_dek_id=0,
        expires_at=timezone.now() + timedelta(hours=1),
    )


def view_policy(**kwargs: Any) -> RedactionPolicy:
    values: dict[str, Any] = {"name": "view", "use_for_viewing": True, "default_mode": "label"}
    values.update(kwargs)
    return RedactionPolicy.objects.create(**values)

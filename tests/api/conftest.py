"""API personas (officer, lawyer, admin, auditor, ingest, outsider) and a small archive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from accounts.roles import Role
from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import Conversation, Message, Source
from archive.writer import ArchiveWriter

SECRET_TITLE = "Chat with Bartholomew Quince"
SECRET_WORDS = ("Zanzibarquokka", "lighthouse", "Mirabelle", "Bartholomew", "Alicia", "quarterly")
PASSWORD = "correct horse battery staple 42"


@dataclass
class Persona:
    name: str
    user: User | None
    token: ApiToken | None
    client: APIClient


@dataclass
class Archive:
    source: Source
    conversation: Conversation
    message_ids: list[int]


def make_persona(name: str, role: str | None) -> Persona:
    client = APIClient(REMOTE_ADDR="10.0.0.7", HTTP_USER_AGENT="pytest-persona")
    if role is None:
        return Persona(name, None, None, client)
    # The existing personas keep the whole archive; tests/api/test_review_scope.py narrows them.
    user = User.objects.create_user(username=name, password=PASSWORD, role=role, whole_archive=True)
    token, raw = ApiToken.issue(user, f"{name} test token")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return Persona(name, user, token, client)


@pytest.fixture(autouse=True)
def _clear_throttles() -> None:
    cache.clear()


@pytest.fixture
def personas(db: Any) -> dict[str, Persona]:
    return {
        "officer": make_persona("officer", Role.COMPLIANCE_OFFICER),
        "lawyer": make_persona("lawyer", Role.LEGAL),
        "admin": make_persona("admin", Role.ADMIN),
        "auditor": make_persona("auditor", Role.AUDITOR),
        "ingest": make_persona("ingest", Role.INGEST),
        "outsider": make_persona("outsider", None),
    }


def declare_purpose(persona: Persona, matter: str = "CASE-2025-001") -> str:
    response = persona.client.post(
        "/api/v1/purpose",
        {"matter": matter, "reason": "Reviewing messages for the internal inquiry"},
        format="json",
    )
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


@pytest.fixture
def archive(db: Any) -> Archive:
    alice = ParsedParticipant("alice-id", "Alicia Vantablack", "alicia.vb", is_owner=True)
    bob = ParsedParticipant("bob-id", "Bartholomew Quince", "bquince")
    texts = [
        "Zanzibarquokka meets at the lighthouse",
        "Quarterly numbers look fine to Mirabelle",
        "Third message about the lighthouse keeper",
        "Fourth message, nothing else",
        "Fifth and final lighthouse note",
    ]
    msgs = [
        ParsedMessage(
            datetime(2025, 3, 1, 10, i, tzinfo=UTC),
            str(1740823200000 + i * 60000),
            "alice-id" if i % 2 == 0 else "bob-id",
            text,
            platform_message_id=f"m{i}",
        )
        for i, text in enumerate(texts)
    ]
    source = Source.objects.create(platform="whatsapp", original_sha256="0" * 64, original_size=1)
    ArchiveWriter(source).write(
        [ParsedConversation("whatsapp", "t1", ConversationKind.DIRECT, SECRET_TITLE, [alice, bob], msgs)]
    )
    source.status = Source.Status.DONE  # a finished import: search only shows those
    source.save(update_fields=["status"])
    conversation = Conversation.objects.get()
    ids = list(Message.objects.filter(conversation=conversation).order_by("id").values_list("id", flat=True))
    return Archive(source, conversation, ids)


def assert_no_content(body: bytes) -> None:
    lowered = body.lower()
    for word in (*SECRET_WORDS, SECRET_TITLE):
        assert word.lower().encode() not in lowered, word


def assert_error_shape(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]

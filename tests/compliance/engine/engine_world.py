"""Builders of a small archive for the compliance engine: two sources' worth of conversations over two years,
data subjects Alice (the account owner) and Bob, users for each role that acts."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

from accounts.models import User
from archive.importers.base import (
    ConversationKind,
    ParsedAttachment,
    ParsedConversation,
    ParsedMessage,
    ParsedParticipant,
    ParsedReaction,
)
from archive.models import DataSubject, Message, Source

BOB_SECRET = "Zanzibarquokka lighthouse rendezvous"
BOB_PHONE = "+49 171 5550123"
ALICE_TEXT = "Quarterly numbers look fine to Mirabelle"
CAROL_TEXT = "Slackers ship the pomegranate release"


@dataclass
class World:
    source: Source
    alice: DataSubject
    bob: DataSubject
    bob_participant: int
    whatsapp: int  # conversation id: Alice and Bob, 2023-01 (old) and 2025-03 (recent)
    slack: int  # conversation id: Alice and Carol, 2023-02 (old) and 2025-04 (recent)
    admin: User
    admin2: User
    lawyer: User

    def ids(self, conv: int | None = None) -> list[int]:
        qs = Message.objects.all() if conv is None else Message.objects.filter(conversation_id=conv)
        return sorted(qs.values_list("id", flat=True))


def msg(when: datetime, sender: str, text: str, pid: str, **kw) -> ParsedMessage:
    return ParsedMessage(when, str(int(when.timestamp() * 1000)), sender, text, platform_message_id=pid, **kw)


ALICE = ParsedParticipant("alice-id", "Alicia Vantablack", "alicia.vb", is_owner=True)
BOB = ParsedParticipant("bob-id", "Bartholomew Quince", "bquince")
CAROL = ParsedParticipant("carol-id", "Carolina Featherstone", "cfeather")


def whatsapp_conversation(extra: list[ParsedMessage] | None = None) -> ParsedConversation:
    d = datetime
    msgs = [
        msg(
            d(2023, 1, 5, 9, tzinfo=UTC),
            "bob-id",
            BOB_SECRET,
            "w1",
            attachments=[
                ParsedAttachment("secret.jpg", "image/jpeg", open=lambda: io.BytesIO(b"BOBJPEGBYTES"))
            ],
        ),
        msg(
            d(2023, 1, 6, 9, tzinfo=UTC),
            "alice-id",
            "Bartholomew said the ferry leaves early",
            "w2",
            reactions=[ParsedReaction("bob-id", "👍")],
        ),
        msg(d(2023, 2, 10, 9, tzinfo=UTC), "alice-id", "Ferry tickets booked", "w0"),
        msg(
            d(2025, 3, 1, 10, tzinfo=UTC), "bob-id", f"Call me on {BOB_PHONE} about the Zanzibarquokka", "w3"
        ),
        msg(d(2025, 3, 1, 11, tzinfo=UTC), "alice-id", ALICE_TEXT, "w4"),
        *(extra or []),
    ]
    return ParsedConversation(
        "whatsapp",
        "wa-1",
        ConversationKind.DIRECT,
        "Chat with Bartholomew Quince",
        [ALICE, BOB],
        msgs,
        labels=["inbox"],
    )


def slack_conversation() -> ParsedConversation:
    d = datetime
    msgs = [
        msg(d(2023, 2, 3, 9, tzinfo=UTC), "carol-id", CAROL_TEXT, "s1"),
        msg(d(2023, 2, 4, 9, tzinfo=UTC), "alice-id", "Pomegranate release approved", "s2"),
        msg(d(2025, 4, 2, 9, tzinfo=UTC), "carol-id", "Fresh pomegranate numbers", "s3"),
    ]
    return ParsedConversation(
        "slack", "sl-1", ConversationKind.DIRECT, "Carolina", [ALICE, CAROL], msgs, labels=["archived"]
    )


def user(name: str, role: str) -> User:
    return User.objects.create_user(username=name, password="x" * 20, role=role, whole_archive=True)


def all_table_bytes() -> bytes:
    """Every row of every table, as its repr and its raw byte columns: what a database thief
    could read, for tests that a value is nowhere in the clear."""
    from django.db import connection

    out = []
    with connection.cursor() as cur:
        for table in connection.introspection.table_names(cur):
            cur.execute(f"SELECT * FROM {table}")
            for row in cur.fetchall():
                out.append(repr(row).encode())
                out.extend(bytes(c) for c in row if isinstance(c, (bytes, memoryview)))
    return b"\n".join(out)

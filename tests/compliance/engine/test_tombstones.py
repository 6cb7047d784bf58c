"""Erasure tombstones: an erased subject stays erased when the same export is imported again.

Import a small Telegram export through the real ingest pipeline (sealed evidence, parser,
writer, blind index), erase Bob, import the very same file again, and read back through every
path: the API (messages, conversations, search), the search service, an export production,
and the raw tables. Alice's and Carol's messages still read fine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.cache import cache
from engine_world import all_table_bytes
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from archive import ingest
from archive.models import Conversation, Message, Participant
from archive.reading import open_messages
from archive.search.engine import find_ids
from archive.vault import get_vault
from compliance import tombstones
from compliance.engine_models import ErasureTombstone
from compliance.subjects import create_subject, erase_subject
from dmvault.ops import ledger
from tests.compliance.exports.helpers import all_text, produce

pytestmark = pytest.mark.django_db

BOB_WORDS = ["Quokkamarine", "Zephyrlantern"]
BOB_NEEDLES = [b"Quokkamarine", b"Zephyrlantern", b"Bartholomew", b"user5001"]


def _export(path: Path, *, later: bool = False, chats: tuple[int, int] = (900001, 900002)) -> Path:
    """The export; ``later``: the same chats downloaded a week on, with one more message from
    Bob and Bob's reaction on Alice's message."""

    def m(k: int, when: int, who: str, name: str, text: str, **extra: object) -> dict[str, object]:
        return {
            "id": k,
            "type": "message",
            "date": "2025-03-01T10:00:00",
            "date_unixtime": str(1740823200 + when),
            "from": name,
            "from_id": who,
            "text": text,
            **extra,
        }

    data = {
        "personal_information": {"user_id": 1000, "first_name": "Alicia", "last_name": "Vantablack"},
        "chats": {
            "list": [
                {
                    "name": "Bartholomew Quince",
                    "type": "personal_chat",
                    "id": chats[0],
                    "messages": [
                        m(1, 0, "user5001", "Bartholomew Quince", "Quokkamarine at the pier"),
                        m(2, 60, "user1000", "Alicia Vantablack", "Heliotrope tickets are booked"),
                        m(3, 120, "user5001", "Bartholomew Quince", "Zephyrlantern tonight then"),
                        *(
                            [
                                m(4, 600_000, "user5001", "Bartholomew Quince", "Quokkamarine encore"),
                                m(
                                    5,
                                    600_060,
                                    "user1000",
                                    "Alicia Vantablack",
                                    "Heliotrope encore",
                                    reactions=[
                                        {
                                            "type": "emoji",
                                            "count": 1,
                                            "emoji": "👍",
                                            "recent": [{"from": "Bartholomew Quince", "from_id": "user5001"}],
                                        }
                                    ],
                                ),
                            ]
                            if later
                            else []
                        ),
                    ],
                },
                {
                    "name": "Carolina Featherstone",
                    "type": "personal_chat",
                    "id": chats[1],
                    "messages": [
                        m(1, 300, "user5002", "Carolina Featherstone", "Pomegranate release approved")
                    ],
                },
            ]
        },
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _import(path: Path) -> dict[str, object]:
    source = ingest.run(ingest.receive_path(path, platform="telegram").id)
    assert source.status == "done", source.error
    return dict(source.summary)


def _bob() -> Participant:
    key = get_vault().keyed_hash(b"participant", "telegram", "user5001")
    return Participant.objects.get(dedup_key=key)


def _officer() -> tuple[User, APIClient]:
    user = User.objects.create_user(
        username="officer", password="x" * 20, role="compliance_officer", whole_archive=True
    )
    _, raw = ApiToken.issue(user, "officer token")
    client = APIClient(REMOTE_ADDR="10.0.0.7")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    purpose = client.post(
        "/api/v1/purpose", {"matter": "CASE-1", "reason": "Checking the erasure held"}, format="json"
    )
    assert purpose.status_code == 201, purpose.content
    return user, client


def test_a_reimport_after_erasure_brings_nothing_of_the_subject_back(tmp_path: Path) -> None:
    cache.clear()
    export = _export(tmp_path / "result.json")
    first = _import(export)
    assert first["messages"] == 4
    bob_subject = create_subject("Bartholomew Quince")
    bob = _bob()
    Participant.objects.filter(id=bob.id).update(subject=bob_subject)
    assert len(find_ids(["quokkamarine"], limit=5)) == 1
    erased = erase_subject(bob_subject.id, None)
    assert erased.done and erased.counts["messages"] == 2
    [stone] = ErasureTombstone.objects.all()
    assert stone.subject_id == bob_subject.id and len(bytes(stone.digest)) == 32
    # keyed, not a plain hash of the identity: it is the archive-keyed HMAC of the dedup key
    assert bytes(stone.digest) == tombstones.digest(bytes(bob.dedup_key))

    second = _import(export)  # the very same file, as a new upload

    assert second["messages"] == 0  # nothing new: Bob's two are dropped, the rest are duplicates
    bob_rows = Message.objects.filter(sender_id=bob.id)
    assert bob_rows.count() == 2 and all(not bytes(b) for b in bob_rows.values_list("body_ct", flat=True))
    assert not bytes(Participant.objects.get(id=bob.id).identity_ct)  # identity not restored
    assert Participant.objects.filter(platform="telegram").count() == 3  # no new Bob either
    # the index and the search service
    for word in BOB_WORDS:
        assert find_ids([word.lower()], limit=5) == []
    assert len(find_ids(["heliotrope"], limit=5)) == 1 and len(find_ids(["pomegranate"], limit=5)) == 1
    # the API: search, every message, the conversations
    user, client = _officer()
    for word in BOB_WORDS:
        found = client.get("/api/v1/search", {"q": word})
        assert found.status_code == 200 and found.json()["results"] == []
    everything = b""
    for mid in Message.objects.values_list("id", flat=True):
        response = client.get(f"/api/v1/messages/{mid}")
        assert response.status_code == 200, response.content
        everything += response.content
    everything += client.get("/api/v1/conversations").content
    assert b"Heliotrope tickets are booked" in everything and b"Pomegranate release approved" in everything
    # an export production of the whole archive
    conversations = list(Conversation.objects.values_list("id", flat=True))
    path, _job = produce(tmp_path, user, formats=["native", "csv", "html"], conversation_ids=conversations)
    produced = "\n".join(all_text(path).values()).encode()
    assert b"Heliotrope" in produced
    # and the raw tables
    raw = all_table_bytes()
    for needle in BOB_NEEDLES:
        assert needle not in everything, needle
        assert needle not in produced, needle
        assert needle not in raw, needle
    assert Conversation.objects.count() == 2

    # A later download of the same chats: Bob's new message never arrives, nor his reaction.
    later = _import(_export(tmp_path / "later.json", later=True))
    assert later["messages"] == 1
    assert Message.objects.filter(sender_id=bob.id).count() == 2
    assert find_ids(["quokkamarine"], limit=5) == [] and find_ids(["encore"], limit=5)
    opened = open_messages(list(Message.objects.values_list("id", flat=True)))
    assert "Heliotrope encore" in [m.text for m in opened]
    assert all(not m.reactions for m in opened)
    raw = all_table_bytes()
    for needle in BOB_NEEDLES:
        assert needle not in raw, needle


def test_a_new_conversation_of_an_erased_identity_gets_neither_their_name_nor_their_words(
    tmp_path: Path,
) -> None:
    subject = create_subject("Bob")
    _import(_export(tmp_path / "result.json"))
    Participant.objects.filter(id=_bob().id).update(subject=subject)
    assert erase_subject(subject.id, None).done
    before = set(Conversation.objects.values_list("id", flat=True))
    _import(_export(tmp_path / "moved.json", chats=(900011, 900012)))  # the same chats, new threads
    new = Conversation.objects.exclude(id__in=before)
    titles = [get_vault().open_field(c.dek_id, "conversation.title", c.id, c.title_ct).decode() for c in new]
    assert sorted(titles) == ["Carolina Featherstone", "[erased]"]
    texts = {
        m.text
        for m in open_messages(
            list(Message.objects.filter(conversation__in=new).values_list("id", flat=True))
        )
    }
    assert texts == {"Heliotrope tickets are booked", "Pomegranate release approved"}
    assert not Participant.objects.filter(id=_bob().id, conversations__in=new).exists()


def test_the_ledger_carries_the_tombstones_and_a_replay_restores_them(tmp_path: Path, settings) -> None:
    settings.DMVAULT_LEDGER_PATH = tmp_path / "ledger.jsonl"
    subject = create_subject("Bob")
    _import(_export(tmp_path / "result.json"))
    Participant.objects.filter(id=_bob().id).update(subject=subject)
    cert = erase_subject(subject.id, None).certificate
    ledger.record_certificate(cert)
    [entry] = ledger.read()
    assert entry["tombstones"] == [d.hex() for d in tombstones.digests_of(subject.id)]
    assert b"user5001" not in (tmp_path / "ledger.jsonl").read_bytes()
    ErasureTombstone.objects.all().delete()  # a snapshot from before the erasure
    ledger.replay(None)
    assert ErasureTombstone.objects.filter(subject_id=subject.id).count() == 1
    assert _import(_export(tmp_path / "later.json", later=True))["messages"] == 1  # Alice's only

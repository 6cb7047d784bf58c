"""Per-user review scope (issues 7.3 and 5.2): officers and lawyers read only what they are
assigned, through every content path; outside it is 404 and never counted.

The world: three finished imports. Source A holds conversation *alpha* and half of *shared*;
source B holds *beta* and the other half of *shared* (the same thread exported twice); source C
holds *gamma*. Every message says "apricot", plus a word naming its conversation and source.
Personas: an officer assigned source A, a lawyer assigned matter M (conversation gamma) and
source B, an officer with the whole-archive grant, an officer with nothing, an admin.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from accounts.roles import Role
from accounts.scope import scope_for, set_assignments
from archive.importers.base import (
    ConversationKind,
    ParsedAttachment,
    ParsedConversation,
    ParsedMessage,
    ParsedParticipant,
)
from archive.models import Attachment, Conversation, Message, Source
from archive.search import service as search_service
from archive.writer import ArchiveWriter
from compliance.exports import jobs
from compliance.holds import create_matter
from compliance.models import AuditEvent
from compliance.redaction_service import Viewer
from tests.api.conftest import PASSWORD, Persona, assert_error_shape, declare_purpose, make_persona

pytestmark = pytest.mark.django_db

NOTE_BYTES = b"gamma attachment: the minutes of the meeting"
NOTE = ParsedAttachment(
    "minutes.txt", "text/plain", "minutes.txt", len(NOTE_BYTES), lambda: io.BytesIO(NOTE_BYTES)
)


@dataclass
class World:
    sources: dict[str, Source]
    convs: dict[str, Conversation]
    ids: dict[str, set[int]]  # "A", "B", "C": the message ids each source imported
    matter: Any
    people: dict[str, Persona]

    def conv(self, name: str) -> int:
        return self.convs[name].id

    def one(self, source: str, conv: str) -> int:
        return min(set(self.ids[source]) & set(msgs(conversation=self.conv(conv))))


def msgs(**kw: Any) -> list[int]:
    return list(Message.objects.filter(**{f"{k}_id": v for k, v in kw.items()}).values_list("id", flat=True))


def _import(platform: str, threads: list[tuple[str, str, list[tuple[int, str]]]]) -> Source:
    me = ParsedParticipant("owner", "Olive Owner", "olive", is_owner=True)
    source = Source.objects.create(platform=platform, original_sha256="0" * 64, original_size=1)
    ArchiveWriter(source).write(
        [
            ParsedConversation(
                platform,
                thread,
                ConversationKind.DIRECT,
                f"Chat {thread}",
                [me, ParsedParticipant(f"peer-{thread}", f"Peer {thread.title()}", f"peer.{thread}")],
                [
                    ParsedMessage(
                        datetime(2025, 5, 1, 9, minute, tzinfo=UTC),
                        str(1746090000000 + minute * 60000),
                        "owner" if minute % 2 else f"peer-{thread}",
                        text,
                        platform_message_id=f"{thread}-{minute}",
                        attachments=[NOTE] if "five" in text else [],
                    )
                    for minute, text in messages
                ],
            )
            for thread, _title, messages in threads
        ]
    )
    source.status = Source.Status.DONE
    source.save(update_fields=["status"])
    return source


@pytest.fixture
def world(db: Any) -> World:
    a = _import(
        "whatsapp",
        [
            ("alpha", "", [(1, "apricot alphaword one"), (2, "apricot alphaword two")]),
            ("shared", "", [(10, "apricot sharedaword ten"), (12, "apricot sharedaword twelve")]),
        ],
    )
    b = _import(
        "whatsapp",
        [
            ("beta", "", [(3, "apricot betaword three")]),
            ("shared", "", [(11, "apricot sharedbword eleven")]),
        ],
    )
    c = _import("whatsapp", [("gamma", "", [(5, "apricot gammaword five"), (6, "apricot gammaword six")])])
    by_source = {k: set(msgs(source=s.id)) for k, s in {"A": a, "B": b, "C": c}.items()}
    convs = _conversations_by_word(by_source)
    people = {
        "officer_a": make_persona("officer_a", Role.COMPLIANCE_OFFICER),
        "lawyer_m": make_persona("lawyer_m", Role.LEGAL),
        "officer_all": make_persona("officer_all", Role.COMPLIANCE_OFFICER),
        "officer_none": make_persona("officer_none", Role.COMPLIANCE_OFFICER),
        "admin": make_persona("admin", Role.ADMIN),
    }
    lawyer = people["lawyer_m"].user
    matter = create_matter(
        name="Gamma inquiry", reference="M-GAMMA", owner=lawyer, conversations=[convs["gamma"].id]
    )
    set_assignments(people["officer_a"].user, whole_archive=False, source_ids=[a.id], matter_ids=[])
    set_assignments(lawyer, whole_archive=False, source_ids=[b.id], matter_ids=[matter.id])
    set_assignments(people["officer_none"].user, whole_archive=False, source_ids=[], matter_ids=[])
    set_assignments(people["admin"].user, whole_archive=False, source_ids=[], matter_ids=[])
    for name in ("officer_a", "lawyer_m", "officer_all", "officer_none"):
        declare_purpose(people[name])
    return World({"A": a, "B": b, "C": c}, convs, by_source, matter, people)


def _conversations_by_word(by_source: dict[str, set[int]]) -> dict[str, Conversation]:
    """Each conversation, found by the messages of its thread (titles are sealed)."""
    out: dict[str, Conversation] = {}
    rows = {
        cid: {src for src, ids in by_source.items() if set(msgs(conversation=cid)) & ids}
        for cid in Conversation.objects.values_list("id", flat=True)
    }
    sizes = {cid: len(msgs(conversation=cid)) for cid in rows}
    for cid, srcs in rows.items():
        if srcs == {"A", "B"}:
            out["shared"] = Conversation.objects.get(id=cid)
        elif srcs == {"A"}:
            out["alpha"] = Conversation.objects.get(id=cid)
        elif srcs == {"B"}:
            out["beta"] = Conversation.objects.get(id=cid)
        elif srcs == {"C"}:
            out["gamma"] = Conversation.objects.get(id=cid)
    assert sizes[out["shared"].id] == 3 and len(out) == 4
    return out


# Who sees which messages (by source half of "shared" included).
def visible(world: World, name: str) -> set[int]:
    gamma = set(msgs(conversation=world.conv("gamma")))
    every = world.ids["A"] | world.ids["B"] | world.ids["C"]
    return {
        "officer_a": world.ids["A"],
        "lawyer_m": world.ids["B"] | gamma,
        "officer_all": every,
        "officer_none": set(),
    }[name]


READERS = ("officer_a", "lawyer_m", "officer_all", "officer_none")


def _search_ids(persona: Persona, q: str) -> set[int]:
    found: set[int] = set()
    params: dict[str, Any] = {"q": q, "limit": 2}
    while True:
        response = persona.client.get("/api/v1/search", params)
        assert response.status_code == 200, response.content
        found |= {int(item["id"]) for item in response.json()["results"]}
        if not response.json()["next"]:
            return found
        params["cursor"] = response.json()["next"]


# --- the resolver ------------------------------------------------------------------------------------


def test_a_new_user_has_no_scope_and_existing_personas_keep_the_whole_archive(world) -> None:
    newcomer = User.objects.create_user(username="newcomer", password=PASSWORD, role=Role.COMPLIANCE_OFFICER)
    assert scope_for(newcomer).is_nothing
    assert scope_for(world.people["officer_all"].user).is_everything
    assert scope_for(world.people["officer_a"].user) == search_service.SearchScope.of(
        sources=[world.sources["A"].id]
    )
    lawyer = scope_for(world.people["lawyer_m"].user)
    assert lawyer.source_ids == {world.sources["B"].id}
    assert lawyer.also_conversation_ids == {world.conv("gamma")}


def test_a_matter_resolves_to_its_custodians_sources_and_conversations(world) -> None:
    lawyer = world.people["lawyer_m"].user
    set_assignments(lawyer, whole_archive=False, source_ids=[], matter_ids=[world.matter.id])
    assert scope_for(lawyer) == search_service.SearchScope.of(conversations=[world.conv("gamma")])
    listing_nothing = create_matter(name="Everything", reference="M-ALL", owner=lawyer)
    set_assignments(lawyer, whole_archive=False, source_ids=[], matter_ids=[listing_nothing.id])
    assert scope_for(lawyer).is_everything  # as its hold would: a matter listing nothing covers all


def test_an_inactive_user_has_no_scope(world) -> None:
    user = world.people["officer_all"].user
    user.is_active = False
    assert scope_for(user).is_nothing


# --- search ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", READERS)
def test_api_search_shows_only_the_scope(world, name) -> None:
    assert _search_ids(world.people[name], "apricot") == visible(world, name)


def test_api_search_for_an_out_of_scope_word_finds_nothing(world) -> None:
    assert _search_ids(world.people["officer_a"], "gammaword") == set()
    assert _search_ids(world.people["officer_a"], "sharedbword") == set()  # B's half of a shared thread
    assert _search_ids(world.people["lawyer_m"], "sharedbword") == {world.one("B", "shared")}
    # A filter naming an out-of-scope conversation or source widens nothing.
    assert _search_ids(world.people["officer_a"], f"conversation:{world.conv('beta')}") == set()
    assert _search_ids(world.people["officer_a"], f"source:{world.sources['C'].id}") == set()


@pytest.mark.parametrize("name", READERS)
def test_saved_search_runs_count_only_the_scope(world, name) -> None:
    persona = world.people[name]
    created = persona.client.post(
        "/api/v1/saved-searches", {"name": "fruit", "query": "apricot"}, format="json"
    )
    assert created.status_code == 201, created.content
    run = persona.client.get(f"/api/v1/saved-searches/{created.json()['id']}/run", {"context": 2})
    assert run.status_code == 200, run.content
    body = run.json()
    assert {int(h["id"]) for h in body["results"]} == visible(world, name)
    assert body["count"] == len(visible(world, name)) and body["count_exact"]
    context = {int(m["id"]) for h in body["results"] for m in (*h["before"], *h["after"])}
    assert context <= visible(world, name)


def test_a_shared_saved_search_shows_each_runner_only_their_scope(world) -> None:
    owner = world.people["officer_all"].user
    saved = search_service.create_saved_search(owner, "everyone's apricots", "apricot", shared=True)
    link = search_service.get_saved_search(share_token=saved.share_token)
    for name in READERS:
        user = world.people[name].user
        result = search_service.run_saved_search(link, viewer=Viewer(user), scope=scope_for(user))
        assert {h.message.id for h in result.items} == visible(world, name), name
        assert result.count == len(visible(world, name)), name


def test_search_context_leaves_out_the_other_source_of_a_shared_thread(world) -> None:
    user = world.people["officer_a"].user
    result = search_service.search_for(Viewer(user), "sharedaword", scope=scope_for(user), context=5)
    around = {m.id for h in result.items for m in (*h.before, *h.after)}
    assert around and around <= world.ids["A"]


# --- messages and conversations ----------------------------------------------------------------------


@pytest.mark.parametrize("name", READERS)
def test_message_reads_outside_the_scope_are_not_found(world, name) -> None:
    persona = world.people[name]
    every = world.ids["A"] | world.ids["B"] | world.ids["C"]
    for mid in sorted(every):
        response = persona.client.get(f"/api/v1/messages/{mid}", {"context": 5})
        if mid in visible(world, name):
            assert response.status_code == 200, (name, mid)
            body = response.json()
            shown = {int(m["id"]) for m in (body["message"], *body["before"], *body["after"])}
            assert shown <= visible(world, name)
        else:
            assert_error_shape(response, 404)


def test_an_out_of_scope_read_is_audited_as_not_found(world) -> None:
    mid = world.one("C", "gamma")
    response = world.people["officer_a"].client.get(f"/api/v1/messages/{mid}")
    assert response.status_code == 404
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.status_code == 404 and event.action == "message.read"
    assert b"gammaword" not in response.content


@pytest.mark.parametrize("name", READERS)
def test_conversation_threads_show_only_the_scope(world, name) -> None:
    persona = world.people[name]
    for conv in ("alpha", "beta", "gamma", "shared"):
        conv_ids = set(msgs(conversation=world.conv(conv)))
        response = persona.client.get(f"/api/v1/conversations/{world.conv(conv)}/messages")
        expected = conv_ids & visible(world, name)
        if not expected:
            assert_error_shape(response, 404)
            continue
        assert response.status_code == 200
        assert {int(m["id"]) for m in response.json()["results"]} == expected


@pytest.mark.parametrize("name", [*READERS, "admin"])
def test_the_conversation_list_shows_only_the_scope_to_content_readers(world, name) -> None:
    response = world.people[name].client.get("/api/v1/conversations")
    assert response.status_code == 200
    listed = {int(c["id"]) for c in response.json()["results"]}
    if name == "admin":  # metadata only, no titles: configuration needs the whole list
        assert listed == {c.id for c in world.convs.values()}
        assert all("title" not in c for c in response.json()["results"])
        return
    expected = {c.id for c in world.convs.values() if set(msgs(conversation=c.id)) & visible(world, name)}
    assert listed == expected
    counts = {int(c["id"]): c["message_count"] for c in response.json()["results"]}
    assert counts == {cid: len(set(msgs(conversation=cid)) & visible(world, name)) for cid in expected}


PEERS = {
    "officer_a": {"Peer Alpha", "Peer Shared"},
    "lawyer_m": {"Peer Beta", "Peer Gamma", "Peer Shared"},
    "officer_all": {"Peer Alpha", "Peer Beta", "Peer Gamma", "Peer Shared"},
    "officer_none": set(),
}


@pytest.mark.parametrize("name", READERS)
def test_participant_identities_are_listed_only_from_the_scope(world, name) -> None:
    response = world.people[name].client.get("/api/v1/participants", {"limit": 100})
    assert response.status_code == 200
    names = {p["identity"]["name"] for p in response.json()["results"]}
    assert names - {"Olive Owner"} == PEERS[name]


@pytest.mark.parametrize(
    ("name", "owner_conversations"), [("officer_a", 2), ("lawyer_m", 3), ("officer_all", 4)]
)
def test_participant_conversation_counts_stay_within_the_scope(world, name, owner_conversations) -> None:
    # the owner is in all four conversations (alpha, shared, beta, gamma); a reader who can open
    # two of them must not learn from the count that there are more
    response = world.people[name].client.get("/api/v1/participants", {"limit": 100})
    counts = {p["identity"]["name"]: p["conversation_count"] for p in response.json()["results"]}
    assert counts.pop("Olive Owner") == owner_conversations
    assert set(counts.values()) == {1}  # each peer has one conversation, in scope


def test_admin_participant_counts_are_archive_wide(world) -> None:
    admin = world.people["admin"]
    response = admin.client.get("/api/v1/participants", {"limit": 100})
    assert response.status_code == 200
    counts = [p["conversation_count"] for p in response.json()["results"]]
    assert sorted(counts) == [1, 1, 1, 1, 4]


def test_reveal_of_an_out_of_scope_message_is_not_found(world) -> None:
    lawyer = world.people["lawyer_m"]
    response = lawyer.client.post(
        f"/api/v1/messages/{world.one('A', 'alpha')}/reveal", {"token": "abcdef123456"}, format="json"
    )
    assert_error_shape(response, 404)


# --- exports -----------------------------------------------------------------------------------------


def test_a_production_holds_only_the_requesters_scope(world) -> None:
    lawyer = world.people["lawyer_m"]
    created = lawyer.client.post(
        "/api/v1/exports",
        {"purpose": "Production for M-GAMMA", "query": "apricot", "formats": ["csv"]},
        format="json",
    )
    assert created.status_code == 202, created.content
    job_id = int(created.json()["id"])
    jobs.run_job(job_id)  # what the worker does, with the job id only
    response = lawyer.client.get(f"/api/v1/exports/{job_id}/download")
    assert response.status_code == 200, response.content
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        name = next(n for n in z.namelist() if n.endswith("messages.csv"))
        rows = list(csv.DictReader(io.StringIO(z.read(name).decode("utf-8-sig"))))
        everything = b"".join(z.read(n) for n in z.namelist())
    assert len(rows) == len(visible(world, "lawyer_m"))
    assert b"betaword" in everything and b"gammaword" in everything and b"sharedbword" in everything
    assert b"alphaword" not in everything and b"sharedaword" not in everything


# --- the UI ------------------------------------------------------------------------------------------


def ui(name: str) -> Client:
    client = Client(REMOTE_ADDR="10.0.0.9", HTTP_USER_AGENT="pytest-ui")
    assert client.post("/login/", {"username": name, "password": PASSWORD}).status_code == 302
    assert (
        client.post("/purpose/", {"matter": "CASE-1", "reason": "Reviewing for the inquiry"}).status_code
        == 302
    )
    return client


@pytest.mark.parametrize("name", READERS)
def test_ui_search_and_threads_show_only_the_scope(world, name) -> None:
    client = ui(name)
    page = client.get("/search/", {"q": "apricot"}).content.decode()
    words = {"alpha": "alphaword", "beta": "betaword", "gamma": "gammaword"}
    for conv, word in words.items():
        in_scope = bool(set(msgs(conversation=world.conv(conv))) & visible(world, name))
        assert (word in page) == in_scope, (name, conv)
        thread = client.get(f"/conversations/{world.conv(conv)}/")
        assert thread.status_code == (200 if in_scope else 404), (name, conv)
        assert (word.encode() in thread.content) == in_scope
    assert f'<p role="status" id="count"><strong>{len(visible(world, name))}</strong>' in page


def test_ui_shared_thread_shows_only_the_scoped_half(world) -> None:
    thread = ui("officer_a").get(f"/conversations/{world.conv('shared')}/")
    assert thread.status_code == 200
    assert b"sharedaword" in thread.content and b"sharedbword" not in thread.content


@pytest.mark.parametrize("name", READERS)
def test_ui_attachments_outside_the_scope_are_not_found(world, name) -> None:
    att = Attachment.objects.get(message_id=world.one("C", "gamma"))
    response = ui(name).get(f"/attachments/{att.id}/", {"download": "1"})
    if name in ("lawyer_m", "officer_all"):
        assert response.status_code == 200 and response.content == NOTE_BYTES
    else:
        assert response.status_code == 404 and NOTE_BYTES not in response.content


def test_ui_reveal_outside_the_scope_is_not_found(world) -> None:
    mid = world.one("A", "alpha")
    response = ui("lawyer_m").post(f"/conversations/{world.conv('alpha')}/messages/{mid}/reveal/")
    assert response.status_code == 404 and b"alphaword" not in response.content
    assert ui("officer_all").get(f"/conversations/{world.conv('alpha')}/").status_code == 200


def test_ui_search_timeline_counts_only_the_scope(world) -> None:
    before = AuditEvent.objects.order_by("-seq").first()
    response = ui("officer_a").get("/timeline/search/", {"q": "apricot"})
    assert response.status_code == 200
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event != before
    assert event.result_count == len(world.ids["A"])


# --- the assignments API -----------------------------------------------------------------------------


def test_admin_reads_and_replaces_assignments_audited(world) -> None:
    admin = world.people["admin"]
    target = world.people["officer_none"].user
    path = f"/api/v1/users/{target.pk}/assignments"
    assert admin.client.get(path).json() == {
        "user": target.pk,
        "whole_archive": False,
        "source_ids": [],
        "matter_ids": [],
    }
    before = AuditEvent.objects.count()
    response = admin.client.put(
        path,
        {"source_ids": [str(world.sources["C"].id)], "matter_ids": [str(world.matter.id)]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["source_ids"] == [str(world.sources["C"].id)]
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.action == "user.assignments.set" and event.target_id == str(target.pk)
    # The officer now reads source C (and the matter's gamma, which is in C).
    assert _search_ids(world.people["officer_none"], "apricot") == world.ids["C"]
    assert admin.client.put(path, {"whole_archive": True}, format="json").status_code == 200
    assert _search_ids(world.people["officer_none"], "apricot") == visible(world, "officer_all")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"source_ids": ["999999999"]}, "source_ids"),
        ({"matter_ids": ["12"]}, "matter_ids"),
        ({"source_ids": ["not-a-number"]}, "source_ids.0"),
        ({"source_ids": ["9999999999999999999"]}, "source_ids.0"),
        ({"matter_ids": [0]}, "matter_ids.0"),
        ({"source_ids": "1"}, "source_ids"),
        ({"whole_archive": "perhaps"}, "whole_archive"),
    ],
)
def test_bad_assignments_are_refused_and_change_nothing(world, body, field) -> None:
    target = world.people["officer_a"].user
    before = AuditEvent.objects.count()
    response = world.people["admin"].client.put(f"/api/v1/users/{target.pk}/assignments", body, format="json")
    error = assert_error_shape(response, 400)
    assert error["field"] == field
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.order_by("-seq").first().outcome == "invalid"  # type: ignore[union-attr]
    assert scope_for(target) == search_service.SearchScope.of(sources=[world.sources["A"].id])


@pytest.mark.parametrize("name", READERS)
def test_only_administrators_manage_assignments(world, name) -> None:
    path = f"/api/v1/users/{world.people['officer_a'].user.pk}/assignments"
    assert_error_shape(world.people[name].client.get(path), 403)
    assert_error_shape(world.people[name].client.put(path, {"whole_archive": True}, format="json"), 403)
    assert scope_for(world.people["officer_a"].user).source_ids == {world.sources["A"].id}


def test_assignments_of_an_unknown_user_are_not_found(world) -> None:
    assert_error_shape(world.people["admin"].client.get("/api/v1/users/987654/assignments"), 404)


def test_a_user_created_through_the_api_reads_nothing_until_assigned(world) -> None:
    admin = world.people["admin"]
    created = admin.client.post(
        "/api/v1/users",
        {"username": "fresh", "password": "a long enough passphrase 7", "role": "compliance_officer"},
        format="json",
    )
    assert created.status_code == 201
    fresh = User.objects.get(username="fresh")
    assert scope_for(fresh).is_nothing
    assert admin.client.get(f"/api/v1/users/{fresh.pk}/assignments").json()["whole_archive"] is False


def test_ui_matter_timeline_counts_only_the_lawyers_scope(world) -> None:
    lawyer = world.people["lawyer_m"].user
    wider = create_matter(
        name="Alpha and gamma",
        reference="M-WIDE",
        owner=lawyer,
        conversations=[world.conv("alpha"), world.conv("gamma")],
    )
    response = ui("lawyer_m").get("/timeline/matter/", {"id": wider.id})
    assert response.status_code == 200
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.action == "timeline.read"
    assert event.result_count == len(msgs(conversation=world.conv("gamma")))  # alpha is not the lawyer's


def test_the_scope_is_resolved_once_per_request_user(world, django_assert_max_num_queries) -> None:
    user = User.objects.get(pk=world.people["lawyer_m"].user.pk)
    with django_assert_max_num_queries(7):
        first = scope_for(user)
    with django_assert_max_num_queries(0):
        assert scope_for(user) is first
    officer = User.objects.get(pk=world.people["officer_a"].user.pk)
    with django_assert_max_num_queries(2):
        scope_for(officer)

"""The redaction view policy applies on every path that shows message text to a person: plain
search, saved-search runs (API), their highlights and context, message reads, and the UI's
search and conversation pages. A saved search shows each runner what their own role may see."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from archive.models import Message
from archive.search import service as search_service
from compliance.models import AuditEvent
from compliance.redaction_models import RedactionRule
from compliance.redaction_service import PresentedMessage, Viewer
from tests.api.conftest import PASSWORD, assert_error_shape, declare_purpose
from tests.compliance.redaction_integration.conftest import CARD, EMAIL, OTHER_EMAIL, purpose_for, view_policy

pytestmark = pytest.mark.django_db

TOK = re.compile(r"\[TOK:([0-9a-f]+)\]")
OFFICER_VIEW = {"compliance_officer": {"view": "redacted"}}


def _save(persona: Any, query: str, name: str = "invoices") -> str:
    response = persona.client.post("/api/v1/saved-searches", {"name": name, "query": query}, format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def _run(persona: Any, saved_id: str, **params: Any) -> Any:
    response = persona.client.get(f"/api/v1/saved-searches/{saved_id}/run", params)
    assert response.status_code == 200, response.content
    return response


def _spans_clear_of_redactions(item: dict[str, Any]) -> bool:
    red = [(r["start"], r["end"]) for r in item.get("redactions", []) if r["field"] == "text"]
    return all(not (s < re_ and rs < e) for s, e in item["highlights"] for rs, re_ in red)


def test_an_officer_running_a_saved_search_sees_the_same_redactions_as_a_plain_search(
    personas, world
) -> None:
    view_policy(role_views=OFFICER_VIEW)
    officer = personas["officer"]
    declare_purpose(officer)
    saved_id = _save(officer, "invoice")

    ran = _run(officer, saved_id, context=2)
    plain = officer.client.get("/api/v1/search", {"q": "invoice"}).json()["results"]

    (hit,) = ran.json()["results"]
    assert hit["text"] == "write to [EMAIL] about the invoice" == plain[0]["text"]
    assert hit["redactions"] == plain[0]["redactions"] and hit["highlights"] == plain[0]["highlights"]
    assert hit["redactions"][0]["type"] == "EMAIL"
    # The highlight points at the word searched for, in the text as shown.
    assert [hit["text"][s:e] for s, e in hit["highlights"]] == ["invoice"]
    # Context is presented too: the card in the next message is redacted.
    assert [m["text"] for m in hit["after"]] == ["my card is [CREDIT_CARD] ok", "see you soon"]
    body = ran.content.decode()
    assert EMAIL not in body and "4012" not in body and "8888" not in body


def test_highlights_never_point_into_or_spell_out_a_redacted_value(personas, world) -> None:
    view_policy(role_views=OFFICER_VIEW)
    officer = personas["officer"]
    declare_purpose(officer)
    # Searching for the hidden address itself: the messages are found (see the report's note
    # on search as an oracle), but nothing of the address is shown or highlighted.
    saved_id = _save(officer, '"quentin.zephyr@example.org"', name="by address")

    ran = _run(officer, saved_id, context=1)
    results = ran.json()["results"]
    assert len(results) == 2
    assert all(item["highlights"] == [] and "[EMAIL]" in item["text"] for item in results)
    assert all(_spans_clear_of_redactions(item) for item in results)
    assert "quentin" not in ran.content.decode().lower() and "zephyr" not in ran.content.decode().lower()


def test_a_highlighted_word_inside_a_redaction_label_is_not_marked(world) -> None:
    # "EMAIL" as a search word would match the label the policy wrote: not highlighted.
    from accounts.models import User

    view_policy(role_views=OFFICER_VIEW)
    officer = User.objects.create_user(username="o2", password=PASSWORD, role="compliance_officer")
    result = search_service.search_for(
        Viewer(officer, purpose_for(officer)),
        "invoice OR email",
        scope=search_service.SearchScope.everything(),
    )
    texts = {h.message.text: h.highlights for h in result.items}
    assert texts["write to [EMAIL] about the invoice"] == [(27, 34)]
    assert all(isinstance(h.message, PresentedMessage) for h in result.items)


def test_a_lawyer_sees_what_the_policy_lets_them_and_can_reveal_a_token(personas, world) -> None:
    view_policy(
        role_views={
            **OFFICER_VIEW,
            "legal": {"view": "redacted", "mode": "tokenize", "clear_for_matters": ["CASE-CLEAR"]},
        }
    )
    lawyer = personas["lawyer"]
    declare_purpose(lawyer, "CASE-9")
    saved_id = _save(lawyer, "invoice")

    (hit,) = _run(lawyer, saved_id).json()["results"]
    token = TOK.search(hit["text"]).group(1)  # type: ignore[union-attr]
    assert EMAIL not in hit["text"] and hit["redactions"][0]["token"] == token
    assert [hit["text"][s:e] for s, e in hit["highlights"]] == ["invoice"]
    revealed = lawyer.client.post(f"/api/v1/messages/{hit['id']}/reveal", {"token": token}, format="json")
    assert revealed.status_code == 200 and revealed.json()["original"] == EMAIL

    # Once the message is outside the lawyer's review scope, the same token is not found (404,
    # not 403: nothing confirms the message exists).
    from accounts.scope import set_assignments

    set_assignments(lawyer.user, whole_archive=False, source_ids=[], matter_ids=[])
    hidden = lawyer.client.post(f"/api/v1/messages/{hit['id']}/reveal", {"token": token}, format="json")
    assert hidden.status_code == 404 and EMAIL.encode() not in hidden.content
    set_assignments(lawyer.user, whole_archive=True, source_ids=[], matter_ids=[])

    # Under a matter the policy clears, the same saved search shows the text in the clear.
    declare_purpose(lawyer, "CASE-CLEAR")
    (clear,) = _run(lawyer, saved_id).json()["results"]
    assert clear["text"] == f"write to {EMAIL} about the invoice" and "redactions" not in clear


def test_a_shared_saved_search_follows_the_runners_policy_not_the_owners(personas, world) -> None:
    view_policy(role_views={**OFFICER_VIEW, "legal": {"view": "clear"}})
    lawyer, officer = personas["lawyer"], personas["officer"]
    declare_purpose(lawyer)
    declare_purpose(officer)
    saved = search_service.get_saved_search(owner=lawyer.user, saved_id=int(_save(lawyer, "again")))
    as_lawyer = search_service.run_saved_search(
        saved,
        viewer=Viewer(lawyer.user, purpose_for(lawyer.user)),
        scope=search_service.SearchScope.everything(),
    )
    as_officer = search_service.run_saved_search(
        saved,
        viewer=Viewer(officer.user, purpose_for(officer.user)),
        scope=search_service.SearchScope.everything(),
    )
    assert [h.message.text for h in as_lawyer.items] == [f"again {EMAIL} here"]
    assert [h.message.text for h in as_officer.items] == ["again [EMAIL] here"]


def test_running_a_saved_search_needs_a_purpose_and_is_audited_once(personas, world) -> None:
    view_policy(role_views=OFFICER_VIEW)
    officer = personas["officer"]
    saved_id = _save(officer, "invoice")
    refused = officer.client.get(f"/api/v1/saved-searches/{saved_id}/run")
    assert assert_error_shape(refused, 403)["code"] == "purpose_required"
    declare_purpose(officer)
    before = AuditEvent.objects.count()
    _run(officer, saved_id)
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.latest("seq")
    assert (event.action, event.outcome, event.result_count) == ("saved_search.run", "allowed", 1)
    for name in ("admin", "auditor", "ingest"):
        assert personas[name].client.get(f"/api/v1/saved-searches/{saved_id}/run").status_code == 403
    assert personas["outsider"].client.get(f"/api/v1/saved-searches/{saved_id}/run").status_code in (401, 403)


# --- the review UI ---------------------------------------------------------------------------------


def _ui(persona: Any, matter: str = "CASE-1") -> Client:
    client = Client(REMOTE_ADDR="10.0.0.9", HTTP_USER_AGENT="pytest-ui")
    assert client.post("/login/", {"username": persona.name, "password": PASSWORD}).status_code == 302
    response = client.post("/purpose/", {"matter": matter, "reason": "Reviewing for the inquiry"})
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def codename_rule(db: Any) -> RedactionRule:
    # A value only the view policy knows (the UI's built-in review redactor does not).
    rule = RedactionRule(
        name="codename", type="PROJECT", keywords=["invoice"], examples_must_match=["the invoice"]
    )
    rule.save()
    return rule


def test_the_ui_search_and_thread_apply_the_view_policy(personas, world, codename_rule) -> None:
    view_policy(role_views=OFFICER_VIEW, all_rules=True)
    client = _ui(personas["officer"])

    page = client.get("/search/", {"q": "invoice"}).content.decode()
    assert "[PROJECT]" in page and "about the invoice" not in page and "<mark>invoice</mark>" not in page
    assert EMAIL not in page

    conv = Message.objects.get(id=world.conv1[0]).conversation_id
    thread = client.get(f"/conversations/{conv}/").content.decode()
    assert "[PROJECT]" in thread and "the invoice" not in thread
    assert EMAIL not in thread and CARD not in thread and OTHER_EMAIL not in thread


def test_the_ui_reveal_shows_the_one_message_in_the_clear_for_a_lawyer(
    personas, world, codename_rule
) -> None:
    view_policy(role_views={**OFFICER_VIEW, "legal": {"view": "redacted"}}, all_rules=True)
    client = _ui(personas["lawyer"])
    mid = world.conv1[0]
    conv = Message.objects.get(id=mid).conversation_id
    before = AuditEvent.objects.count()
    page = client.post(f"/conversations/{conv}/messages/{mid}/reveal/").content.decode()
    assert f"write to {EMAIL} about the invoice" in page
    assert "my card is" in page and CARD not in page  # the other messages stay redacted
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.order_by("-seq").values_list("action", flat=True)[0] == "message.reveal"

"""Role × endpoint: who is allowed, who is refused, and that refusals carry no content."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from compliance.models import AuditEvent
from tests.api.conftest import (
    SECRET_TITLE,
    assert_error_shape,
    assert_no_content,
    declare_purpose,
)

pytestmark = pytest.mark.django_db

ROLES = ("officer", "lawyer", "admin", "auditor", "ingest", "outsider")
# officer: purpose declared; lawyer: no purpose declared (so content reads are refused).
MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("get", "/api/v1/health", None, (200, 200, 200, 200, 200, 200)),
    ("get", "/api/v1/purpose", None, (200, 404, 403, 403, 403, 401)),
    ("get", "/api/v1/sources", None, (200, 200, 200, 403, 403, 401)),
    ("get", "/api/v1/sources/{source}", None, (200, 200, 200, 403, 403, 401)),
    ("get", "/api/v1/conversations", None, (200, 200, 200, 403, 403, 401)),
    ("get", "/api/v1/conversations/{conversation}/messages", None, (200, 403, 403, 403, 403, 401)),
    ("get", "/api/v1/messages/{message}?context=1", None, (200, 403, 403, 403, 403, 401)),
    ("get", "/api/v1/search?q=lighthouse", None, (200, 403, 403, 403, 403, 401)),
    ("get", "/api/v1/audit", None, (403, 403, 403, 200, 403, 401)),
    ("get", "/api/v1/audit/verify", None, (403, 403, 403, 200, 403, 401)),
    ("get", "/api/v1/users", None, (403, 403, 200, 403, 403, 401)),
    (
        "post",
        "/api/v1/users",
        {"username": "newcomer", "password": "a long enough passphrase 7", "role": "auditor"},
        (403, 403, 201, 403, 403, 401),
    ),
    ("post", "/api/v1/users/{officer}/tokens", {"name": "batch"}, (403, 403, 201, 403, 403, 401)),
    ("get", "/api/v1/users/{officer}/assignments", None, (403, 403, 200, 403, 403, 401)),
    ("put", "/api/v1/users/{officer}/assignments", {"whole_archive": True}, (403, 403, 200, 403, 403, 401)),
    ("get", "/api/schema/", None, (200, 200, 200, 200, 200, 401)),
]
CONTENT_READS = {
    "/api/v1/conversations/{conversation}/messages",
    "/api/v1/messages/{message}?context=1",
    "/api/v1/search?q=lighthouse",
}


@pytest.mark.parametrize(
    ("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _, _ in MATRIX]
)
def test_role_matrix(personas, archive, method, template, body, expected) -> None:
    officer_purpose = declare_purpose(personas["officer"])
    personas["officer"].client.get("/api/v1/search", {"q": "zanzibarquokka"})  # an audited query to hide
    cache.clear()
    path = template.format(
        source=archive.source.id,
        conversation=archive.conversation.id,
        message=archive.message_ids[1],
        officer=personas["officer"].user.pk,
    )
    for role, status in zip(ROLES, expected, strict=True):
        persona = personas[role]
        before = AuditEvent.objects.count()
        response = getattr(persona.client, method)(path, body, format="json")
        assert response.status_code == status, (role, path, response.status_code, response.content[:300])
        assert AuditEvent.objects.count() == before + 1
        event = AuditEvent.objects.order_by("-seq").first()
        if status >= 400:
            error = assert_error_shape(response, status)
            assert_no_content(response.content)
            assert event.outcome in {"denied", "unauthenticated", "not_found"}
            if role == "lawyer" and template in CONTENT_READS:
                assert error["code"] == "purpose_required"
        elif role == "officer" and template in CONTENT_READS:
            assert event.purpose_id is not None and str(event.purpose_id) == officer_purpose
            assert event.matter_ref == "CASE-2025-001"
        if role in ("admin", "auditor", "ingest", "outsider", "lawyer") and status < 400:
            assert_no_content(response.content)  # no content without the capability and a purpose


def test_titles_only_for_content_readers_with_a_purpose(personas, archive) -> None:
    officer, admin = personas["officer"], personas["admin"]
    assert "title" not in officer.client.get("/api/v1/conversations").json()["results"][0]
    declare_purpose(officer)
    assert officer.client.get("/api/v1/conversations").json()["results"][0]["title"] == SECRET_TITLE
    assert "title" not in admin.client.get("/api/v1/conversations").json()["results"][0]


def test_a_lawyer_with_a_purpose_reads_and_the_purpose_is_recorded(personas, archive) -> None:
    lawyer = personas["lawyer"]
    purpose_id = declare_purpose(lawyer, "MATTER-77")
    response = lawyer.client.get(f"/api/v1/messages/{archive.message_ids[2]}", {"context": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["message"]["text"] == "Third message about the lighthouse keeper"
    assert len(body["before"]) == 2 and len(body["after"]) == 2
    event = AuditEvent.objects.order_by("-seq").first()
    assert (event.action, str(event.purpose_id), event.matter_ref, event.result_count) == (
        "message.read",
        purpose_id,
        "MATTER-77",
        5,
    )
    assert event.target_id == str(archive.message_ids[2])


def test_a_purpose_is_bound_to_its_token(personas, archive) -> None:
    from rest_framework.test import APIClient

    from accounts.models import ApiToken

    officer = personas["officer"]
    declare_purpose(officer)
    _, raw = ApiToken.issue(officer.user, "second token")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    refused = other.get("/api/v1/search", {"q": "lighthouse"})
    assert_error_shape(refused, 403, "purpose_required")


def test_the_audit_log_never_shows_the_searchers_words(personas, archive) -> None:
    officer = personas["officer"]
    declare_purpose(officer)
    officer.client.get("/api/v1/search", {"q": "Zanzibarquokka lighthouse"})
    event = AuditEvent.objects.filter(action="message.search").order_by("-seq").first()
    assert event.query_ct is not None and b"Zanzibarquokka" not in bytes(event.query_ct)
    from compliance.audit import open_query

    assert open_query(event) == "Zanzibarquokka lighthouse"
    listing = personas["auditor"].client.get("/api/v1/audit", {"action": "message.search"})
    assert listing.status_code == 200
    assert listing.json()["results"][0]["has_query"] is True
    assert_no_content(listing.content)


def test_message_pages_follow_the_cursor(personas, archive) -> None:
    officer = personas["officer"]
    declare_purpose(officer)
    url = f"/api/v1/conversations/{archive.conversation.id}/messages"
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = officer.client.get(url, params).json()
        seen.extend(m["id"] for m in body["results"])
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [str(i) for i in archive.message_ids]
    search = officer.client.get("/api/v1/search", {"q": "lighthouse", "limit": 1}).json()
    second = officer.client.get(
        "/api/v1/search", {"q": "lighthouse", "limit": 1, "cursor": search["next"]}
    ).json()
    assert search["results"][0]["id"] != second["results"][0]["id"]


def test_unknown_objects_are_404_for_allowed_roles_and_403_for_others(personas, archive) -> None:
    declare_purpose(personas["officer"])
    assert_error_shape(personas["officer"].client.get("/api/v1/messages/12345"), 404, "not_found")
    assert_error_shape(personas["admin"].client.get("/api/v1/messages/12345"), 403, "role_forbidden")
    assert_error_shape(personas["admin"].client.get("/api/v1/sources/12345"), 404, "not_found")
    assert_error_shape(
        personas["admin"].client.post("/api/v1/users/999999/tokens", {"name": "x"}, format="json"), 404
    )

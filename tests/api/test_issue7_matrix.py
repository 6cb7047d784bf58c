"""Role × endpoint for the issue-7 endpoints (imports, people, saved searches, labels, keys),
with the same checks as test_role_matrix: status per role, one audit event per request, the
one error shape, and no content in refusals or in answers to roles that may not read it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from archive.models import Participant
from archive.search.service import create_saved_search
from compliance.models import AuditEvent
from compliance.subjects import create_subject
from tests.api.conftest import assert_error_shape, assert_no_content, declare_purpose
from tests.api.test_role_matrix import ROLES

pytestmark = pytest.mark.django_db

#        officer (purpose), lawyer (no purpose), admin, auditor, ingest, outsider
MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("get", "/api/v1/sources/{source}/progress", None, (403, 403, 200, 403, 404, 401)),
    ("get", "/api/v1/participants", None, (200, 200, 200, 403, 403, 401)),
    ("get", "/api/v1/subjects", None, (403, 403, 200, 403, 403, 401)),
    ("post", "/api/v1/subjects", {"label": "Jane Roe (DSAR 12)"}, (403, 403, 201, 403, 403, 401)),
    (
        "post",
        "/api/v1/subjects/{subject}/link",
        {"participant_ids": ["{bob}"]},
        (403, 403, 200, 403, 403, 401),
    ),
    (
        "post",
        "/api/v1/subjects/{subject}/unlink",
        {"participant_ids": ["{alice}"]},
        (403, 403, 200, 403, 403, 401),
    ),
    ("get", "/api/v1/saved-searches", None, (200, 200, 403, 403, 403, 401)),
    (
        "post",
        "/api/v1/saved-searches",
        {"name": "weekly review", "query": "keeper"},
        (201, 201, 403, 403, 403, 401),
    ),
    ("get", "/api/v1/saved-searches/{saved}", None, (200, 404, 403, 403, 403, 401)),
    ("get", "/api/v1/saved-searches/{saved}/run", None, (200, 403, 403, 403, 403, 401)),
    ("delete", "/api/v1/saved-searches/{saved}", None, (204, 404, 403, 403, 403, 401)),
    ("get", "/api/v1/labels", None, (200, 200, 200, 403, 403, 401)),
    ("get", "/api/v1/keys", None, (403, 403, 200, 403, 403, 401)),
    ("post", "/api/v1/keys/rotate-root", None, (403, 403, 200, 403, 403, 401)),
    ("post", "/api/v1/keys/roll", None, (403, 403, 200, 403, 403, 401)),
    ("post", "/api/v1/sources", "UPLOAD", (403, 403, 202, 403, 202, 401)),
]
CONTENT_READS = {"/api/v1/saved-searches/{saved}/run"}


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
            return ids[value[1:-1]]
        return value.format(**ids)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _upload_body() -> dict[str, Any]:
    from io import BytesIO

    data = BytesIO(b'{"name": "x", "type": "personal_chat", "id": 1, "messages": []}')
    data.name = "result.json"
    return {"file": data, "platform": "telegram"}


@pytest.mark.parametrize(
    ("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _, _ in MATRIX]
)
def test_issue7_role_matrix(personas, archive, method, template, body, expected) -> None:
    officer_purpose = declare_purpose(personas["officer"])
    alice = Participant.objects.order_by("created_at", "id").first()
    bob = Participant.objects.exclude(pk=alice.pk).first()
    subject = create_subject("Subject A (matrix)")
    Participant.objects.filter(pk=alice.pk).update(subject=subject)
    saved = create_saved_search(personas["officer"].user, "lighthouse watch", "lighthouse")
    cache.clear()
    ids = {
        "source": archive.source.id,
        "subject": subject.id,
        "saved": saved.id,
        "alice": alice.id,
        "bob": bob.id,
    }
    path = _fill(template, ids)
    for role, status in zip(ROLES, expected, strict=True):
        persona = personas[role]
        before = AuditEvent.objects.count()
        client = getattr(persona.client, method)
        if body == "UPLOAD":
            response = client(path, _upload_body(), format="multipart")
        else:
            response = client(path, _fill(body, ids), format="json")
        assert response.status_code == status, (role, path, response.status_code, response.content[:300])
        assert AuditEvent.objects.count() == before + 1
        event = AuditEvent.objects.order_by("-seq").first()
        assert event.status_code == status
        if status >= 400:
            error = assert_error_shape(response, status)
            assert_no_content(response.content)
            assert event.outcome in {"denied", "unauthenticated", "not_found"}
            if role == "lawyer" and template in CONTENT_READS:
                assert error["code"] == "purpose_required"
        else:
            assert event.outcome == "allowed"
            if role == "officer" and template in CONTENT_READS:
                assert str(event.purpose_id) == officer_purpose
                assert event.matter_ref == "CASE-2025-001"
        if role != "officer" and status < 400:
            assert_no_content(response.content)

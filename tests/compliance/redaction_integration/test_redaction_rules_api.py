"""Rules and policies: refused at save and through the API when an example fails; the API
endpoints follow the role matrix; a saved rule applies at view time."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.roles import Role
from archive.reading import open_messages
from compliance import redaction_service as svc
from compliance.models import AuditEvent
from compliance.redaction_models import RedactionPolicy, RedactionRule, SourceRedaction
from tests.api.conftest import assert_error_shape, assert_no_content
from tests.compliance.redaction_integration.conftest import user, view_policy

pytestmark = pytest.mark.django_db

BAD_RULE: dict[str, Any] = {
    "name": "employee id",
    "type": "EMPLOYEE_ID",
    "regex": r"\bEMP-\d{4}\b",
    "examples_must_match": ["EMP-1234", "badge EMP-12"],
    "examples_must_not_match": ["TEMP-1234"],
}


def test_a_rule_with_a_failing_example_is_refused_at_save() -> None:
    with pytest.raises(ValidationError) as exc:
        RedactionRule(**BAD_RULE).save()
    assert "badge EMP-12" in str(exc.value)
    assert "examples_must_match" in exc.value.message_dict
    with pytest.raises(ValidationError, match="TEMP-EMP-1234"):
        RedactionRule(
            **{**BAD_RULE, "examples_must_match": ["EMP-1234"], "examples_must_not_match": ["TEMP-EMP-1234"]}
        ).save()
    with pytest.raises(ValidationError, match="nested quantifier"):
        RedactionRule(name="redos", type="X", regex=r"(a+)+$").save()
    assert not RedactionRule.objects.exists()


def test_api_refuses_a_failing_example_with_400_naming_it(personas) -> None:
    admin = personas["admin"].client
    before = AuditEvent.objects.count()
    response = admin.post("/api/v1/redaction/rules", BAD_RULE, format="json")
    error = assert_error_shape(response, 400)
    assert "badge EMP-12" in error["message"] and error["field"] == "examples_must_match"
    assert AuditEvent.objects.count() == before + 1
    assert AuditEvent.objects.order_by("-seq").first().outcome == "invalid"
    assert not RedactionRule.objects.exists()

    good = {**BAD_RULE, "examples_must_match": ["EMP-1234"]}
    created = admin.post("/api/v1/redaction/rules", good, format="json")
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    patched = admin.patch(
        f"/api/v1/redaction/rules/{rule_id}", {"examples_must_not_match": ["EMP-9999"]}, format="json"
    )
    error = assert_error_shape(patched, 400)
    assert "EMP-9999" in error["message"] and error["field"] == "examples_must_not_match"
    assert RedactionRule.objects.get(pk=rule_id).examples_must_not_match == ["TEMP-1234"]


def test_policy_crud_and_source_choice(personas, world) -> None:
    admin = personas["admin"].client
    body = {
        "name": "ingest-policy",
        "default_mode": "label",
        "type_modes": {"EMAIL": "tokenize", "CREDIT_CARD": "mask"},
        "region_hints": ["DE"],
        "apply_at_ingest": True,
        "role_views": {"compliance_officer": {"view": "redacted"}, "legal": {"mode": "tokenize"}},
        "sources": [world.source.id],
    }
    response = admin.post("/api/v1/redaction/policies", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["sources"] == [str(world.source.id)] and data["type_modes"]["EMAIL"] == "tokenize"
    assert SourceRedaction.objects.get().policy_id == data["id"]
    assert svc.ingest_transform(world.source) is not None
    bad = admin.patch(
        f"/api/v1/redaction/policies/{data['id']}", {"type_modes": {"EMAIL": "shred"}}, format="json"
    )
    assert "shred" in assert_error_shape(bad, 400)["message"]
    bad = admin.patch(f"/api/v1/redaction/policies/{data['id']}", {"role_views": {"pope": {}}}, format="json")
    assert assert_error_shape(bad, 400)["field"] == "role_views"
    refused = admin.delete(f"/api/v1/redaction/policies/{data['id']}")
    assert_error_shape(refused, 400)
    assert (
        admin.patch(f"/api/v1/redaction/policies/{data['id']}", {"sources": []}, format="json").status_code
        == 200
    )
    assert admin.delete(f"/api/v1/redaction/policies/{data['id']}").status_code == 204
    assert not RedactionPolicy.objects.exists()


@pytest.mark.parametrize(
    "path", ["/api/v1/redaction/rules", "/api/v1/redaction/policies"], ids=["rules", "policies"]
)
def test_only_policy_managers_reach_the_configuration(personas, path) -> None:
    expected = {"officer": 403, "lawyer": 403, "admin": 200, "auditor": 403, "ingest": 403, "outsider": 401}
    for name, status in expected.items():
        before = AuditEvent.objects.count()
        response = personas[name].client.get(path)
        assert response.status_code == status, (name, response.content)
        assert AuditEvent.objects.count() == before + 1
        if status >= 400:
            assert_error_shape(response, status)
            assert_no_content(response.content)
        response = personas[name].client.post(path, {"name": "x"}, format="json")
        admin_status = 400 if path.endswith("rules") else 201  # a rule needs a pattern; a policy only a name
        assert response.status_code == (admin_status if name == "admin" else status), (name, response.content)


def test_a_saved_rule_applies_at_view_time(world) -> None:
    RedactionRule.objects.create(**{**BAD_RULE, "examples_must_match": ["EMP-1234"]})
    view_policy()
    from datetime import UTC, datetime

    from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
    from archive.models import Message
    from archive.writer import ArchiveWriter

    p = ParsedParticipant("x", "X Person", "x")
    msg = ParsedMessage(
        datetime(2025, 4, 1, tzinfo=UTC), "1", "x", "badge EMP-4711 at the gate", platform_message_id="e1"
    )
    ArchiveWriter(world.source).write(
        [ParsedConversation("whatsapp", "t9", ConversationKind.DIRECT, "t9", [p], [msg])]
    )
    mid = Message.objects.get(raw_timestamp="1").id
    [shown] = svc.redact_for_viewer(open_messages([mid]), user(Role.COMPLIANCE_OFFICER), None)
    assert shown.text == "badge [EMPLOYEE_ID] at the gate"

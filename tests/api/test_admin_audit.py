"""The Django admin: the admin role only, signed in through the UI, one audit event per request."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from compliance import retention
from compliance.engine_models import RetentionPolicy
from compliance.models import AuditEvent
from tests.api.conftest import PASSWORD, assert_no_content

pytestmark = pytest.mark.django_db


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def the_one_event(before: int, response: Any) -> AuditEvent:
    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert len(events) == 1, [(e.action, e.route) for e in events]
    (event,) = events
    assert event.request_id == response["X-Request-ID"]
    assert str(event.event_id) == response["X-Audit-Event"]
    return event


def signed_in(user: User) -> Client:
    client = Client(REMOTE_ADDR="10.0.0.8", HTTP_USER_AGENT="pytest-admin")
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def staff_admin(personas: Any) -> User:
    user: User = personas["admin"].user
    User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    user.refresh_from_db()
    return user


def test_the_admin_opening_the_admin_site_writes_one_event(staff_admin) -> None:
    client = signed_in(staff_admin)
    before = last_seq()
    response = client.get("/admin/")
    assert response.status_code == 200
    event = the_one_event(before, response)
    assert (event.action, event.outcome, event.actor_id, event.auth_method) == (
        "admin.index",
        "allowed",
        staff_admin.pk,
        "session",
    )
    before = last_seq()
    listing = client.get("/admin/compliance/retentionpolicy/")
    assert listing.status_code == 200
    event = the_one_event(before, listing)
    assert (event.action, event.target_type) == (
        "admin.compliance_retentionpolicy_changelist",
        "compliance.retentionpolicy",
    )


def test_a_change_in_the_admin_writes_one_event_naming_the_object(staff_admin) -> None:
    policy = retention.create_policy(name="Short", period_days=30)
    client = signed_in(staff_admin)
    before = last_seq()
    response = client.post(f"/admin/compliance/retentionpolicy/{policy.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    event = the_one_event(before, response)
    assert (event.action, event.http_method, event.target_type, event.target_id) == (
        "admin.compliance_retentionpolicy_delete",
        "POST",
        "compliance.retentionpolicy",
        str(policy.id),
    )
    assert not RetentionPolicy.objects.filter(id=policy.id).exists()


def test_a_staff_officer_is_refused_and_the_refusal_is_audited(personas, archive) -> None:
    officer: User = personas["officer"].user
    User.objects.filter(pk=officer.pk).update(is_staff=True, is_superuser=True)
    client = signed_in(officer)
    before = last_seq()
    response = client.get("/admin/compliance/consentrecord/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    event = the_one_event(before, response)
    assert (event.outcome, event.actor_id, event.detail) == ("denied", officer.pk, "admin_role_required")
    assert_no_content(response.content)


def test_an_anonymous_visitor_is_sent_to_the_ui_sign_in_and_each_step_is_audited() -> None:
    client = Client()
    before = last_seq()
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert the_one_event(before, response).outcome == "unauthenticated"
    before = last_seq()
    response = client.get(response["Location"])
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    event = the_one_event(before, response)
    assert (event.action, event.outcome) == ("admin.login", "unauthenticated")


def test_when_the_admin_request_cannot_be_audited_nothing_changes(staff_admin, monkeypatch) -> None:
    import compliance.audit as audit

    policy = retention.create_policy(name="Kept", period_days=30)
    client = signed_in(staff_admin)
    before = last_seq()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "leaf_hash", broken)
    response = client.post(f"/admin/compliance/retentionpolicy/{policy.id}/delete/", {"post": "yes"})
    assert response.status_code == 503
    assert client.get("/admin/").status_code == 503
    monkeypatch.undo()
    assert RetentionPolicy.objects.filter(id=policy.id).exists()
    assert last_seq() == before


def test_a_sign_in_that_cannot_be_audited_does_not_sign_in(staff_admin, monkeypatch) -> None:
    import compliance.audit as audit

    client = Client()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "leaf_hash", broken)
    response = client.post("/login/", {"username": staff_admin.username, "password": PASSWORD})
    assert response.status_code == 503
    monkeypatch.undo()
    # The browser holds no signed-in session: the admin site still sends it to sign in.
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert client.get("/").status_code == 302

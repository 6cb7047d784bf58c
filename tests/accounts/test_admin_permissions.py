"""What the Django admin lets each role do comes from the permission matrix, not from per-user
grants: an admin (staff, no superuser flag, no granted permissions) can configure, an officer
cannot, and nobody can make django-q2 run an arbitrary function."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_q.models import Schedule

from accounts.models import User
from accounts.roles import Role
from compliance.engine_models import RetentionPolicy

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple 42"


def _client(name: str, role: Role) -> tuple[User, Client]:
    user = User.objects.create_user(username=name, password=PASSWORD, role=role, is_staff=True)
    client = Client()
    assert client.login(username=name, password=PASSWORD)
    return user, client


def _change_form(policy: RetentionPolicy, **changes: Any) -> dict[str, Any]:
    data = {
        "id": str(policy.pk),
        "name": policy.name,
        "period_days": str(policy.period_days),
        "basis": policy.basis,
        "action": policy.action,
        "priority": "0",
        "active": "on",
        "_save": "Save",
    }
    for field in ("platform", "source_id", "account_owner_id", "conversation_id", "label"):
        data[field] = ""
    for field in ("participant_id", "subject_id"):
        data[field] = ""
    data.update(changes)
    return data


def test_an_admin_configures_through_the_role_alone() -> None:
    admin, client = _client("root", Role.ADMIN)
    assert not admin.is_superuser and not admin.user_permissions.exists()
    policy = RetentionPolicy.objects.create(name="Chats", period_days=365)
    page = client.get("/admin/")
    assert page.status_code == 200 and b"/admin/compliance/retentionpolicy/" in page.content
    response = client.post(
        f"/admin/compliance/retentionpolicy/{policy.pk}/change/", _change_form(policy, period_days="400")
    )
    assert response.status_code == 302, response.content[:300]
    policy.refresh_from_db()
    assert policy.period_days == 400


def test_an_officer_holds_no_model_permissions_even_when_flagged_staff() -> None:
    officer, client = _client("olivia", Role.COMPLIANCE_OFFICER)
    assert not officer.has_perm("compliance.change_retentionpolicy")
    assert not officer.has_module_perms("compliance")
    policy = RetentionPolicy.objects.create(name="Chats", period_days=365)
    response = client.post(
        f"/admin/compliance/retentionpolicy/{policy.pk}/change/", _change_form(policy, period_days="1")
    )
    assert response.status_code in (302, 403)  # to the sign-in, or refused
    policy.refresh_from_db()
    assert policy.period_days == 365


def test_schedules_cannot_be_created_or_pointed_at_another_function() -> None:
    _, client = _client("root", Role.ADMIN)
    assert client.get("/admin/django_q/schedule/add/").status_code == 403
    schedule = Schedule.objects.create(
        func="compliance.retention.scheduled_run", schedule_type=Schedule.DAILY, name="retention"
    )
    page = client.get(f"/admin/django_q/schedule/{schedule.pk}/change/")
    assert page.status_code == 200
    # The function is shown, not offered as a field.
    assert b'name="func"' not in page.content and b"compliance.retention.scheduled_run" in page.content
    client.post(
        f"/admin/django_q/schedule/{schedule.pk}/change/",
        {
            "name": "retention",
            "func": "compliance.purge.delete_messages",
            "schedule_type": "D",
            "repeats": "-1",
        },
    )
    schedule.refresh_from_db()
    assert schedule.func == "compliance.retention.scheduled_run"


def test_past_tasks_cannot_be_resubmitted() -> None:
    _, client = _client("root", Role.ADMIN)
    page = client.get("/admin/django_q/failure/")
    assert page.status_code == 200 and b"resubmit_task" not in page.content

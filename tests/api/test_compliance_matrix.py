"""The compliance endpoints (issue 7.5): retention, matters and holds, consent, subject access and
erasure, exports.

* Role × endpoint, with the checks of test_role_matrix: status per role, exactly one API audit
  event per request (the services' own domain events carry no request id), the one error shape,
  no content in refusals.
* What the endpoints do: compliance locks (409 naming the field), dry-run counts and blocks, a
  run's certificate, holds blocking erasure (409 with the reason), the two-person rule, the
  subject access zip, an export's life from creation to an audited download.
* Bad input on every write endpoint that takes a body: 400 with the field.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.core.cache import cache

from accounts.roles import Role
from archive.models import Message, Participant, Source
from compliance import holds, retention, retention_jobs
from compliance.engine_models import Certificate, ErasureRequest, Hold, RetentionPolicy
from compliance.exports import jobs
from compliance.models import AuditEvent
from compliance.subjects import create_subject, request_erasure
from compliance.tasks import run_retention_job
from tests.api.conftest import assert_error_shape, assert_no_content, declare_purpose, make_persona
from tests.api.test_issue7_matrix import _fill
from tests.api.test_role_matrix import ROLES

pytestmark = pytest.mark.django_db

ADMIN_ONLY_200 = (403, 403, 200, 403, 403, 401)
LEGAL_ONLY_200 = (403, 200, 403, 403, 403, 401)
NOBODY = (403, 403, 403, 403, 403, 401)

#        officer (purpose), lawyer (no purpose), admin, auditor, ingest, outsider
MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("get", "/api/v1/retention/policies", None, ADMIN_ONLY_200),
    (
        "post",
        "/api/v1/retention/policies",
        {"name": "Chats, 7 years", "period_days": 2555, "platform": "whatsapp"},
        (403, 403, 201, 403, 403, 401),
    ),
    ("get", "/api/v1/retention/policies/{policy}", None, ADMIN_ONLY_200),
    ("patch", "/api/v1/retention/policies/{policy}", {"period_days": 30}, ADMIN_ONLY_200),
    ("delete", "/api/v1/retention/policies/{policy}", None, (403, 403, 204, 403, 403, 401)),
    ("patch", "/api/v1/retention/policies/{locked}", {"period_days": 10}, (403, 403, 409, 403, 403, 401)),
    ("delete", "/api/v1/retention/policies/{locked}", None, (403, 403, 409, 403, 403, 401)),
    ("post", "/api/v1/retention/dry-run", {}, ADMIN_ONLY_200),
    ("post", "/api/v1/retention/run", {}, (403, 403, 202, 403, 403, 401)),
    ("get", "/api/v1/retention/jobs", None, ADMIN_ONLY_200),
    ("get", "/api/v1/retention/jobs/{retention_job}", None, ADMIN_ONLY_200),
    ("get", "/api/v1/matters", None, LEGAL_ONLY_200),
    (
        "post",
        "/api/v1/matters",
        {"name": "Smith v. Acme", "reference": "M-2"},
        (403, 201, 403, 403, 403, 401),
    ),
    ("get", "/api/v1/matters/{matter}", None, LEGAL_ONLY_200),
    ("post", "/api/v1/matters/{matter}/holds", None, (403, 201, 403, 403, 403, 401)),
    ("post", "/api/v1/holds/{hold}/release", None, LEGAL_ONLY_200),
    ("get", "/api/v1/subjects/{subject}/consent", None, ADMIN_ONLY_200),
    (
        "post",
        "/api/v1/subjects/{subject}/consent",
        {"purpose": "review", "state": "given", "evidence": "form 12"},
        (403, 403, 201, 403, 403, 401),
    ),
    ("post", "/api/v1/subjects/{subject}/access", None, ADMIN_ONLY_200),
    ("post", "/api/v1/subjects/{subject}/erasure", {}, (403, 403, 201, 403, 403, 401)),
    ("post", "/api/v1/erasure-requests/{erasure}/approve", None, ADMIN_ONLY_200),
    # Not approved by a second administrator yet (two-person rule): refused, 409.
    ("post", "/api/v1/erasure-requests/{erasure}/execute", None, (403, 403, 409, 403, 403, 401)),
    ("get", "/api/v1/exports", None, LEGAL_ONLY_200),
    (
        "post",
        "/api/v1/exports",
        {"purpose": "Production for M-1", "conversation_ids": ["{conversation}"], "formats": ["csv"]},
        (403, 202, 403, 403, 403, 401),
    ),
    ("get", "/api/v1/exports/{export}", None, LEGAL_ONLY_200),
    ("post", "/api/v1/exports/{export}/cancel", None, (403, 202, 403, 403, 403, 401)),
    # Content-bearing: the lawyer has declared no purpose of access here.
    ("get", "/api/v1/exports/{export}/download", None, NOBODY),
    # The one-time passphrase: the requester only, with a declared purpose (none here).
    ("post", "/api/v1/exports/{export}/passphrase", None, NOBODY),
]
# Answers that legitimately carry content to the role allowed to ask.
CONTENT_BEARING = {"/api/v1/subjects/{subject}/access"}


def api_events() -> Any:
    # All events: the services' own (hold.place ...) are folded into the request's one event.
    return AuditEvent.objects.all()


def _alice() -> Participant:
    alice = Participant.objects.order_by("created_at", "id").first()
    assert alice is not None
    return alice


def _setup(personas: dict[str, Any], archive: Any) -> dict[str, Any]:
    lawyer, admin = personas["lawyer"].user, personas["admin"].user
    second_admin = make_persona("admin2", Role.ADMIN).user
    alice = _alice()
    subject = create_subject("Subject A (compliance matrix)")
    Participant.objects.filter(pk=alice.pk).update(subject=subject)
    matter = holds.create_matter(name="Matrix", reference="M-1", owner=lawyer, custodians=[subject.id])
    erasee = create_subject("Nobody in particular")
    policy = retention.create_policy(name="Short", period_days=36_500)
    return {
        "conversation": archive.conversation.id,
        "subject": subject.id,
        "policy": policy.id,
        "locked": retention.create_policy(name="SEC 17a-4", period_days=2190, locked=True).id,
        "matter": matter.id,
        "hold": holds.place_hold(matter, lawyer).id,
        # for one policy: a run of all policies can still be queued
        "retention_job": retention_jobs.queue_run(policy_id=policy.id, requested_by=admin, queue=False).id,
        "erasure": request_erasure(erasee.id, second_admin, two_person=True).id,
        "export": jobs.create_export(
            requested_by=lawyer,
            purpose="Matrix production",
            conversation_ids=[archive.conversation.id],
            queue=False,
        ).id,
        "admin": admin,
    }


@pytest.mark.parametrize(
    ("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _, _ in MATRIX]
)
def test_compliance_role_matrix(personas, archive, method, template, body, expected) -> None:
    declare_purpose(personas["officer"])
    ids = _setup(personas, archive)
    cache.clear()
    path = _fill(template, ids)
    for role, status in zip(ROLES, expected, strict=True):
        persona = personas[role]
        before = api_events().count()
        response = getattr(persona.client, method)(path, _fill(body, ids), format="json")
        assert response.status_code == status, (role, path, response.status_code, response.content[:300])
        assert api_events().count() == before + 1
        event = api_events().order_by("-seq").first()
        assert event.request_id == response["X-Request-ID"]
        assert event.status_code == status
        assert event.actor_id == (persona.user.pk if persona.user else None)
        if status >= 400:
            error = assert_error_shape(response, status)
            assert_no_content(response.content)
            if status < 409:
                assert event.outcome in {"denied", "unauthenticated", "not_found"}
            if role == "lawyer" and template.endswith("/download"):
                assert error["code"] == "purpose_required"
        else:
            assert event.outcome == "allowed"
            if template not in CONTENT_BEARING:
                assert_no_content(response.content)


# --- what the endpoints do ------------------------------------------------------------------------


def test_a_locked_policy_can_only_be_lengthened(personas) -> None:
    admin = personas["admin"].client
    created = admin.post(
        "/api/v1/retention/policies",
        {"name": "Broker-dealer records", "period_days": 2190, "locked": True, "platform": "slack"},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["locked"] is True and body["locked_at"]
    url = f"/api/v1/retention/policies/{body['id']}"
    for change, field in [
        ({"period_days": 30}, "period_days"),
        ({"locked": False}, "locked"),
        ({"active": False}, "active"),
        ({"platform": "discord"}, "platform"),
        ({"action": "redact"}, "action"),
    ]:
        error = assert_error_shape(admin.patch(url, change, format="json"), 409, "compliance_lock")
        assert error["field"] == field, (change, error)
        assert field in error["message"] or "lock" in error["message"]
    error = assert_error_shape(admin.delete(url), 409, "compliance_lock")
    assert error["field"] == "locked" and "locked" in error["message"]
    policy = RetentionPolicy.objects.get(id=body["id"])
    assert (policy.period_days, policy.locked, policy.active, policy.platform) == (2190, True, True, "slack")
    longer = admin.patch(url, {"period_days": 3650, "name": "Broker-dealer records (10 y)"}, format="json")
    assert longer.status_code == 200 and longer.json()["period_days"] == 3650
    event = AuditEvent.objects.get(request_id=longer["X-Request-ID"])
    assert [e["action"] for e in event.service_event_list] == ["retention.policy.change"]


def test_dry_run_counts_and_blocks_then_run_issues_a_certificate(personas, archive) -> None:
    admin = personas["admin"].client
    lawyer = personas["lawyer"]
    policy = admin.post(
        "/api/v1/retention/policies",
        {"name": "WhatsApp 30 d", "period_days": 30, "platform": "whatsapp"},
        format="json",
    ).json()
    plan = admin.post("/api/v1/retention/dry-run", {}, format="json").json()
    assert plan["delete"] == 5 and plan["redact"] == 0
    assert plan["by_policy"] == {policy["id"]: {"delete": 5}}
    assert plan["by_platform"] == {"whatsapp": 5}
    assert plan["by_conversation"] == {str(archive.conversation.id): 5}
    assert (plan["blocked_by_hold"], plan["blocked_by_lock"]) == (0, 0)
    # A hold on the conversation blocks all of it; the plan says so and changes nothing.
    matter = lawyer.client.post(
        "/api/v1/matters",
        {"name": "Inquiry", "reference": "M-7", "conversations": [archive.conversation.id]},
        format="json",
    ).json()
    hold = lawyer.client.post(f"/api/v1/matters/{matter['id']}/holds", format="json").json()
    held = admin.post("/api/v1/retention/dry-run", {"policy_id": policy["id"]}, format="json").json()
    assert (held["delete"], held["blocked_by_hold"]) == (0, 5)
    released = lawyer.client.post(f"/api/v1/holds/{hold['id']}/release", format="json")
    assert released.status_code == 200 and released.json()["active"] is False
    assert_error_shape(lawyer.client.post(f"/api/v1/holds/{hold['id']}/release"), 409, "already_released")
    # A longer locked policy blocks it instead, even against an overriding policy.
    locked = retention.create_policy(name="Lock", period_days=36_500, locked=True)
    patched = admin.patch(f"/api/v1/retention/policies/{policy['id']}", {"overrides": True}, format="json")
    assert patched.status_code == 200 and patched.json()["overrides"] is True
    blocked = admin.post("/api/v1/retention/dry-run", {}, format="json").json()
    assert (blocked["delete"], blocked["blocked_by_lock"]) == (0, 5)
    assert blocked["blocked_by_lock_policy"] == {str(locked.id): 5}
    assert Message.objects.count() == 5
    RetentionPolicy.objects.filter(id=locked.id).update(locked=False, active=False)
    run = admin.post("/api/v1/retention/run", {}, format="json")
    assert run.status_code == 202, run.content
    queued = run.json()
    assert queued["status"] == "queued" and queued["certificate_id"] is None
    assert Message.objects.count() == 5  # the request deleted nothing: a worker does
    event = api_events().order_by("-seq").first()
    assert (event.action, event.target_id, event.status_code) == ("retention.run", queued["id"], 202)
    run_retention_job(int(queued["id"]))  # what the django-q2 worker does
    body = admin.get(f"/api/v1/retention/jobs/{queued['id']}").json()
    assert body["status"] == "done" and body["run_id"] and body["certificate_id"]
    assert body["counts"]["messages"] == body["counts"]["planned_delete"] == 5
    assert Certificate.objects.get(id=body["certificate_id"]).kind == "retention"
    assert Message.objects.count() == 0


def test_a_hold_refuses_erasure_with_the_reason(personas, archive) -> None:
    admin, lawyer = personas["admin"], personas["lawyer"]
    alice = _alice()
    subject = create_subject("Alicia (DSAR 3)")
    Participant.objects.filter(pk=alice.pk).update(subject=subject)
    matter = lawyer.client.post(
        "/api/v1/matters", {"name": "Hold", "reference": "LIT-9", "custodians": [subject.id]}, format="json"
    ).json()
    lawyer.client.post(f"/api/v1/matters/{matter['id']}/holds")
    created = admin.client.post(
        f"/api/v1/subjects/{subject.id}/erasure", {"two_person": False}, format="json"
    )
    assert created.status_code == 201
    assert "LIT-9" in created.json()["blockers"]
    refused = admin.client.post(f"/api/v1/erasure-requests/{created.json()['id']}/execute")
    error = assert_error_shape(refused, 409, "erasure_refused")
    assert "legal hold" in error["message"].lower() and "LIT-9" in error["message"]
    assert ErasureRequest.objects.get(id=created.json()["id"]).state == "refused"
    assert Message.objects.filter(sender_id=alice.pk).exclude(body_ct=b"").exists()
    again = admin.client.post(f"/api/v1/erasure-requests/{created.json()['id']}/execute")
    assert_error_shape(again, 409, "erasure_refused")


def test_two_person_erasure(personas, archive) -> None:
    admin = personas["admin"]
    other = make_persona("admin2", Role.ADMIN)
    alice = _alice()
    subject = create_subject("Alicia (DSAR 4)")
    Participant.objects.filter(pk=alice.pk).update(subject=subject)
    req = admin.client.post(
        f"/api/v1/subjects/{subject.id}/erasure", {"two_person": True}, format="json"
    ).json()
    assert req["two_person"] is True and req["state"] == "pending"
    early = admin.client.post(f"/api/v1/erasure-requests/{req['id']}/execute")
    assert "approved" in assert_error_shape(early, 409, "erasure_refused")["message"]
    own = admin.client.post(f"/api/v1/erasure-requests/{req['id']}/approve")
    assert "two-person" in assert_error_shape(own, 409, "erasure_refused")["message"].lower()
    approved = other.client.post(f"/api/v1/erasure-requests/{req['id']}/approve")
    assert approved.status_code == 200 and approved.json()["approved_by"] == "admin2"
    done = other.client.post(f"/api/v1/erasure-requests/{req['id']}/execute")
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["state"] == "executed" and body["certificate_id"]
    assert body["counts"]["messages"] == 3
    assert not Message.objects.filter(sender_id=alice.pk).exclude(body_ct=b"").exists()
    assert_error_shape(admin.client.post(f"/api/v1/subjects/{subject.id}/erasure", {}, format="json"), 409)


def test_subject_access_is_a_zip_download_and_audited(personas, archive) -> None:
    admin = personas["admin"]
    alice = _alice()
    subject = create_subject("Alicia (DSAR 5)")
    Participant.objects.filter(pk=alice.pk).update(subject=subject)
    response = admin.client.post(f"/api/v1/subjects/{subject.id}/access")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as zf:
        assert set(zf.namelist()) == {"data.json", "transcript.html", "manifest.json"}
        data = json.loads(zf.read("data.json"))
    texts = [m.get("text", "") for c in data["conversations"] for m in c["messages"]]
    assert "Zanzibarquokka meets at the lighthouse" in texts  # the subject's own message
    event = api_events().order_by("-seq").first()
    assert (event.action, event.target_id, event.outcome, event.status_code) == (
        "subject.access",
        str(subject.id),
        "allowed",
        200,
    )


def test_consent_history_and_a_withdrawal_blocked_by_a_hold(personas, archive) -> None:
    admin, lawyer = personas["admin"], personas["lawyer"]
    alice = _alice()
    subject = create_subject("Alicia (consent)")
    Participant.objects.filter(pk=alice.pk).update(subject=subject)
    url = f"/api/v1/subjects/{subject.id}/consent"
    given = admin.client.post(
        url, {"purpose": "archiving", "state": "given", "evidence": "signed form"}, format="json"
    )
    assert given.status_code == 201 and given.json()["has_evidence"] is True
    assert "signed form" not in given.content.decode()
    matter = lawyer.client.post(
        "/api/v1/matters",
        {"name": "C", "reference": "C-1", "conversations": [archive.conversation.id]},
        format="json",
    ).json()
    lawyer.client.post(f"/api/v1/matters/{matter['id']}/holds")
    withdrawn = admin.client.post(
        url, {"purpose": "archiving", "state": "withdrawn", "on_withdrawal": "erase"}, format="json"
    )
    assert withdrawn.status_code == 201
    body = withdrawn.json()
    assert body["applied"]["held"] == 3 and body["applied"]["processed"] == 0
    assert [c["reason"] for c in body["conflicts"]] == ["hold"]
    history = admin.client.get(url).json()["results"]
    assert [h["state"] for h in history] == ["given", "withdrawn"]
    assert admin.client.get(url, {"purpose": "review"}).json()["results"] == []
    assert Message.objects.count() == 5


def test_an_export_from_creation_to_an_audited_download(personas, archive) -> None:
    lawyer = personas["lawyer"]
    Source.objects.filter(id=archive.source.id).update(
        status=Source.Status.DONE
    )  # productions skip live imports
    purpose = declare_purpose(lawyer, "M-55")  # content leaves at download: purpose first
    created = lawyer.client.post(
        "/api/v1/exports",
        {
            "purpose": "Production to opposing counsel",
            "conversation_ids": [archive.conversation.id],
            "formats": ["csv"],
            "bates_prefix": "ACME",
            "bates_start": 100,
        },
        format="json",
    )
    assert created.status_code == 202, created.content
    job_id = created.json()["id"]
    assert created.json()["status"] == "pending"
    assert_error_shape(lawyer.client.get(f"/api/v1/exports/{job_id}/download"), 409, "not_ready")
    jobs.run_job(int(job_id))  # what the django-q2 worker does
    progress = lawyer.client.get(f"/api/v1/exports/{job_id}").json()
    assert progress["status"] == "done" and progress["progress"] == 1.0
    assert progress["counts"]["messages"] == 5
    assert progress["matter_ref"] == "M-55"  # from the declared purpose
    download = lawyer.client.get(f"/api/v1/exports/{job_id}/download")
    assert download.status_code == 200
    content = b"".join(download.streaming_content)
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        assert any(name.startswith("csv/") for name in zf.namelist())
    event = api_events().order_by("-seq").first()
    assert (event.action, event.target_id, event.status_code) == ("export.download", job_id, 200)
    assert str(event.purpose_id) == purpose and event.matter_ref == "M-55"
    assert_error_shape(lawyer.client.post(f"/api/v1/exports/{job_id}/cancel"), 409, "not_cancellable")
    # Jobs belong to their requester.
    other = make_persona("lawyer2", Role.LEGAL)
    assert_error_shape(other.client.get(f"/api/v1/exports/{job_id}"), 404)
    assert other.client.get("/api/v1/exports").json()["results"] == []


def test_placing_a_hold_writes_one_event_that_names_the_domain_action(personas, archive) -> None:
    lawyer = personas["lawyer"].client
    matter = lawyer.post("/api/v1/matters", {"name": "D", "reference": "D-1"}, format="json").json()
    hold = lawyer.post(f"/api/v1/matters/{matter['id']}/holds")
    assert hold.status_code == 201
    assert Hold.objects.get(id=hold.json()["id"]).active
    assert api_events().filter(action="hold.place", request_id=hold["X-Request-ID"]).count() == 1
    assert not AuditEvent.objects.filter(request_id="", target_id=hold.json()["id"]).exists()
    (folded,) = AuditEvent.objects.get(request_id=hold["X-Request-ID"]).service_event_list
    assert (folded["action"], folded["target"]) == ("hold.place", f"hold:{hold.json()['id']}")
    detail = lawyer.get(f"/api/v1/matters/{matter['id']}").json()
    assert [h["active"] for h in detail["holds"]] == [True]


# --- bad input: 400 with the field ---------------------------------------------------------------------

RANGE = [{"start": "2025-02-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}]
EXPORT = {"purpose": "A production for the court", "conversation_ids": ["{conversation}"]}
BAD_INPUT: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("admin", "post", "/api/v1/retention/policies", {"period_days": 30}, "name"),
    ("admin", "post", "/api/v1/retention/policies", {"name": "x", "period_days": 0}, "period_days"),
    (
        "admin",
        "post",
        "/api/v1/retention/policies",
        {"name": "x", "period_days": 9, "platform": "myspace"},
        "platform",
    ),
    (
        "admin",
        "post",
        "/api/v1/retention/policies",
        {"name": "x", "period_days": 9, "source_id": 12345},
        "source_id",
    ),
    (
        "admin",
        "post",
        "/api/v1/retention/policies",
        {"name": "x", "period_days": 9, "basis": "moon"},
        "basis",
    ),
    ("admin", "patch", "/api/v1/retention/policies/{policy}", {"action": "burn"}, "action"),
    ("admin", "patch", "/api/v1/retention/policies/{policy}", {"subject_id": 77}, "subject_id"),
    ("admin", "post", "/api/v1/retention/dry-run", {"as_of": "yesterday"}, "as_of"),
    ("admin", "post", "/api/v1/retention/dry-run", {"as_of": "2999-01-01T00:00:00Z"}, "as_of"),
    ("admin", "post", "/api/v1/retention/dry-run", {"policy_id": 999}, "policy_id"),
    ("admin", "post", "/api/v1/retention/run", {"policy_id": "all"}, "policy_id"),
    ("lawyer", "post", "/api/v1/matters", {"reference": "M-9"}, "name"),
    ("lawyer", "post", "/api/v1/matters", {"name": "x", "reference": "M-1"}, "reference"),
    ("lawyer", "post", "/api/v1/matters", {"name": "x", "reference": "<M-9>"}, "reference"),
    (
        "lawyer",
        "post",
        "/api/v1/matters",
        {"name": "x", "reference": "M-9", "custodians": [999]},
        "custodians",
    ),
    ("lawyer", "post", "/api/v1/matters", {"name": "x", "reference": "M-9", "sources": [999]}, "sources"),
    (
        "lawyer",
        "post",
        "/api/v1/matters",
        {"name": "x", "reference": "M-9", "date_ranges": RANGE},
        "date_ranges.0.end",
    ),
    ("lawyer", "post", "/api/v1/matters", {"name": "x", "reference": "M-9", "query": '"unclosed'}, "query"),
    (
        "admin",
        "post",
        "/api/v1/subjects/{subject}/consent",
        {"purpose": "marketing", "state": "given"},
        "purpose",
    ),
    ("admin", "post", "/api/v1/subjects/{subject}/consent", {"purpose": "review"}, "state"),
    (
        "admin",
        "post",
        "/api/v1/subjects/{subject}/consent",
        {"purpose": "archiving", "state": "withdrawn", "on_withdrawal": "shred"},
        "on_withdrawal",
    ),
    ("admin", "post", "/api/v1/subjects/{subject}/erasure", {"two_person": "maybe"}, "two_person"),
    ("lawyer", "post", "/api/v1/exports", {"conversation_ids": ["{conversation}"]}, "purpose"),
    ("lawyer", "post", "/api/v1/exports", {"purpose": "A production for the court"}, "scope"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "formats": ["docx"]}, "formats.0"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "formats": []}, "formats"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "bates_prefix": "bad prefix!"}, "bates_prefix"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "bates_start": 0}, "bates_start"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "redaction": {"mode": "tokenize"}}, "redaction"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "redaction": {"colour": "red"}}, "redaction"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "matter_id": 999}, "matter_id"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "saved_search_id": 999}, "saved_search_id"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "conversation_ids": [5]}, "conversation_ids"),
    ("lawyer", "post", "/api/v1/exports", {**EXPORT, "query": "(lighthouse"}, "query"),
]


@pytest.mark.parametrize(
    ("who", "method", "url", "body", "field"),
    BAD_INPUT,
    ids=[f"{m} {u}:{f}:{i}" for i, (_, m, u, _, f) in enumerate(BAD_INPUT)],
)
def test_bad_input_is_400_with_the_field(personas, archive, who, method, url, body, field) -> None:
    ids = _setup(personas, archive)
    before = api_events().count()
    response = getattr(personas[who].client, method)(_fill(url, ids), _fill(body, ids), format="json")
    error = assert_error_shape(response, 400)
    assert error["field"] == field, error
    assert api_events().count() == before + 1
    assert api_events().order_by("-seq").first().outcome == "invalid"


def test_a_matter_scoped_by_a_saved_search_holds_what_it_finds(personas, archive) -> None:
    admin, lawyer = personas["admin"].client, personas["lawyer"]
    Source.objects.filter(id=archive.source.id).update(status=Source.Status.DONE)  # searchable
    declare_purpose(lawyer)
    saved = lawyer.client.post(
        "/api/v1/saved-searches", {"name": "Lighthouse talk", "query": "lighthouse"}, format="json"
    )
    assert saved.status_code == 201, saved.content
    matter = lawyer.client.post(
        "/api/v1/matters",
        {"name": "Lighthouse", "reference": "LH-1", "saved_search_id": saved.json()["id"]},
        format="json",
    )
    assert matter.status_code == 201, matter.content
    assert matter.json()["query"] == "lighthouse"  # copied in: editing the saved search changes nothing
    assert lawyer.client.post(f"/api/v1/matters/{matter.json()['id']}/holds").status_code == 201
    admin.post("/api/v1/retention/policies", {"name": "30 d", "period_days": 30}, format="json")
    plan = admin.post("/api/v1/retention/dry-run", {}, format="json").json()
    assert (plan["delete"], plan["blocked_by_hold"]) == (2, 3)  # three messages mention the lighthouse
    # someone else's saved search, or a query as well: 400 naming the field
    other = make_persona("lawyer2", Role.LEGAL)
    declare_purpose(other)
    for body in (
        {"name": "x", "reference": "LH-2", "saved_search_id": saved.json()["id"]},
        {"name": "x", "reference": "LH-3", "saved_search_id": saved.json()["id"], "query": "keeper"},
    ):
        client = other.client if body["reference"] == "LH-2" else lawyer.client
        error = assert_error_shape(client.post("/api/v1/matters", body, format="json"), 400)
        assert error["field"] == "saved_search_id", error


def test_a_matter_owner_is_on_the_legal_team(personas) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="legal team"):
        holds.create_matter(name="x", reference="X-1", owner=personas["admin"].user)


def test_after_erasure_no_path_reads_the_subject_back(personas, archive, tmp_path) -> None:
    """Bob's words ("Quarterly numbers look fine to Mirabelle", "Fourth message ...") are gone
    from the API (messages, conversation, search), from exports and from the audit trail of the
    reads; Alice's still read."""
    from tests.compliance.exports.helpers import all_text, produce

    Source.objects.filter(id=archive.source.id).update(status=Source.Status.DONE)
    admin, officer, lawyer = personas["admin"].client, personas["officer"], personas["lawyer"]
    bob = Participant.objects.exclude(pk=_alice().pk).get()
    subject = create_subject("Bob (DSAR 9)")
    Participant.objects.filter(pk=bob.pk).update(subject=subject)
    bob_ids = list(Message.objects.filter(sender_id=bob.pk).values_list("id", flat=True))
    declare_purpose(officer)
    assert officer.client.get("/api/v1/search", {"q": "mirabelle"}).json()["results"]  # before
    req = admin.post(f"/api/v1/subjects/{subject.id}/erasure", {"two_person": False}, format="json").json()
    assert admin.post(f"/api/v1/erasure-requests/{req['id']}/execute").status_code == 200
    read = b""
    for word in ("mirabelle", "quarterly", "fourth"):
        found = officer.client.get("/api/v1/search", {"q": word})
        assert found.status_code == 200 and found.json()["results"] == [], word
    for mid in bob_ids:
        response = officer.client.get(f"/api/v1/messages/{mid}")
        assert response.status_code in (200, 404, 410), response.status_code
        read += response.content
    read += officer.client.get(f"/api/v1/conversations/{archive.conversation.id}/messages").content
    read += officer.client.get("/api/v1/conversations").content
    assert b"Zanzibarquokka meets at the lighthouse" in read  # Alice's
    path, _ = produce(
        tmp_path,
        lawyer.user,
        formats=["native", "csv", "html", "eml"],
        conversation_ids=[archive.conversation.id],
    )
    produced = "\n".join(all_text(path).values())
    assert "Zanzibarquokka" in produced
    for needle in ("Mirabelle", "Quarterly", "Fourth message", "Bartholomew", "bquince"):
        assert needle.encode() not in read, needle
        assert needle not in produced, needle
    assert not AuditEvent.objects.filter(detail__icontains="mirabelle").exists()

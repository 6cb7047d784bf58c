"""Exactly one audit event per request, also when a compliance service records its own event.

Inside an API or UI request the services' events (``hold.place``, ``consent.record``,
``retention.run``, ``subject.erase`` ...) are folded into the request's one event and listed in
its ``service_events``; called from a management command (no request) the same services write
their own events. If the request's event cannot be written, nothing of the request persists.
"""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from archive.models import Message, Participant
from compliance import holds, retention
from compliance.audit import Event, record, record_request, request_scope, verify
from compliance.engine_models import ConsentRecord, ErasureRequest, Hold, RetentionRun
from compliance.models import AuditEvent
from compliance.subjects import create_subject
from compliance.tasks import run_retention_job
from tests.api.conftest import PASSWORD, assert_error_shape, assert_no_content
from tests.compliance.audit.helpers import as_attacker

pytestmark = pytest.mark.django_db


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def the_one_event(before: int, response: Any) -> AuditEvent:
    """The request wrote exactly one event (counting every event), and it is the response's."""
    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert len(events) == 1, [(e.action, e.request_id) for e in events]
    (event,) = events
    assert event.request_id == response["X-Request-ID"]
    assert str(event.event_id) == response["X-Audit-Event"]
    return event


def folded_actions(event: AuditEvent) -> list[str]:
    return [str(e["action"]) for e in event.service_event_list]


def subject_with_messages() -> tuple[int, int]:
    """A data subject linked to the archive's first participant; (subject id, messages they sent)."""
    alice = Participant.objects.order_by("created_at", "id").first()
    assert alice is not None
    subject = create_subject("Folded subject")
    Participant.objects.filter(id=alice.id).update(subject=subject)
    return subject.id, Message.objects.filter(sender_id=alice.id).count()


# --- through the API ---------------------------------------------------------------------------------------


def test_a_lawyer_placing_a_hold_writes_one_event_that_names_hold_place(personas, archive) -> None:
    lawyer = personas["lawyer"]
    matter = holds.create_matter(name="Fold", reference="FOLD-1", owner=lawyer.user)
    before = last_seq()
    response = lawyer.client.post(f"/api/v1/matters/{matter.id}/holds")
    assert response.status_code == 201
    event = the_one_event(before, response)
    assert (event.action, event.outcome, event.actor_id) == ("hold.place", "allowed", lawyer.user.pk)
    (folded,) = event.service_event_list
    assert folded == {"action": "hold.place", "outcome": "allowed", "target": f"hold:{response.json()['id']}",
                      "detail": "matter FOLD-1"}  # fmt: skip
    # The service's actor is the request's, so it is not repeated.
    assert "actor" not in folded
    assert verify().ok


def test_an_admin_recording_consent_writes_one_event_that_names_consent_record(personas, archive) -> None:
    admin = personas["admin"]
    subject_id, _ = subject_with_messages()
    before = last_seq()
    response = admin.client.post(
        f"/api/v1/subjects/{subject_id}/consent", {"purpose": "review", "state": "given"}, format="json"
    )
    assert response.status_code == 201, response.content
    event = the_one_event(before, response)
    assert event.action == "consent.record"
    assert folded_actions(event) == ["consent.record"]
    assert event.service_event_list[0]["target"] == f"consent:{response.json()['id']}"


def test_a_retention_dry_run_writes_one_event_and_changes_nothing(personas, archive) -> None:
    admin = personas["admin"]
    retention.create_policy(name="One day", period_days=1)
    before = last_seq()
    response = admin.client.post("/api/v1/retention/dry-run", {}, format="json")
    assert response.status_code == 200
    event = the_one_event(before, response)
    assert (event.action, event.result_count) == ("retention.dry_run", len(archive.message_ids))
    assert event.service_events is None  # a dry run records no domain action
    assert Message.objects.count() == len(archive.message_ids)
    assert not RetentionRun.objects.exists()


def test_a_retention_run_request_writes_one_event_and_its_job_writes_its_own(
    personas, archive, django_capture_on_commit_callbacks
) -> None:
    admin = personas["admin"]
    retention.create_policy(name="One day", period_days=1)
    before = last_seq()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin.client.post("/api/v1/retention/run", {}, format="json")
    assert response.status_code == 202, response.content
    event = the_one_event(before, response)
    assert (event.action, event.target_id) == ("retention.run", response.json()["id"])
    assert event.service_events is None  # the request only queues the job
    assert len(queued) == 1
    # The worker (no request) runs the job: the run's own events, no request id.
    before = last_seq()
    run_retention_job(int(response.json()["id"]))
    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert [(e.action, e.actor_id, e.request_id) for e in events] == [
        ("retention.run.start", admin.user.pk, ""),
        ("retention.run", admin.user.pk, ""),
    ]
    assert events[-1].result_count == len(archive.message_ids)
    assert Message.objects.count() == 0
    assert verify().ok


def test_events_recorded_after_the_request_event_are_written_on_their_own() -> None:
    # e.g. an on-commit callback or a job run in-process once the request's event is written
    with request_scope():
        record_request(Event(action="retention.run", outcome="allowed", request_id="r3"))
        late = record(Event(action="retention.run.start", outcome="allowed"))
    assert late is not None and late.request_id == "" and late.action == "retention.run.start"
    assert AuditEvent.objects.count() == 2


def test_requesting_and_executing_an_erasure_write_one_event_each(personas, archive) -> None:
    admin = personas["admin"]
    subject_id, sent = subject_with_messages()
    before = last_seq()
    requested = admin.client.post(
        f"/api/v1/subjects/{subject_id}/erasure", {"two_person": False}, format="json"
    )
    assert requested.status_code == 201, requested.content
    assert folded_actions(the_one_event(before, requested)) == ["subject.erase.request"]

    before = last_seq()
    executed = admin.client.post(f"/api/v1/erasure-requests/{requested.json()['id']}/execute")
    assert executed.status_code == 200, executed.content
    event = the_one_event(before, executed)
    assert event.action == "subject.erase.execute"
    assert folded_actions(event) == ["subject.erase.start", "subject.erase"]
    assert [e.get("count") for e in event.service_event_list] == [sent, sent]
    assert all(e["target"] == f"data_subject:{subject_id}" for e in event.service_event_list)
    assert ErasureRequest.objects.get().state == ErasureRequest.State.EXECUTED
    assert_no_content(json.dumps(event.service_event_list).encode())


def test_an_erasure_refused_by_a_hold_writes_one_event_naming_the_denied_erasure(personas, archive) -> None:
    admin, lawyer = personas["admin"], personas["lawyer"]
    subject_id, _ = subject_with_messages()
    matter = holds.create_matter(name="Keep", reference="KEEP-1", owner=lawyer.user, custodians=[subject_id])
    holds.place_hold(matter, lawyer.user)  # no request: this one is an event of its own
    request = admin.client.post(
        f"/api/v1/subjects/{subject_id}/erasure", {"two_person": False}, format="json"
    )
    before = last_seq()
    response = admin.client.post(f"/api/v1/erasure-requests/{request.json()['id']}/execute")
    assert_error_shape(response, 409, "erasure_refused")
    event = the_one_event(before, response)
    (folded,) = event.service_event_list
    assert (folded["action"], folded["outcome"]) == ("subject.erase", "denied")
    assert "KEEP-1" in str(folded["detail"])


def test_the_auditor_finds_a_folded_domain_action_by_its_action_code(personas, archive) -> None:
    lawyer = personas["lawyer"]
    matter = holds.create_matter(name="Find", reference="FIND-1", owner=lawyer.user)
    placed = lawyer.client.post(f"/api/v1/matters/{matter.id}/holds")
    response = personas["auditor"].client.get("/api/v1/audit", {"action": "hold.place"})
    assert response.status_code == 200
    (found,) = response.json()["results"]
    assert found["request_id"] == placed["X-Request-ID"]
    assert [e["action"] for e in found["service_events"]] == ["hold.place"]
    # The match is on the whole action code, not a prefix of it.
    assert personas["auditor"].client.get("/api/v1/audit", {"action": "hold.pla"}).json()["results"] == []


# --- failure paths -----------------------------------------------------------------------------------------


def test_when_the_request_event_cannot_be_written_the_hold_is_not_placed_and_nothing_is_logged(
    personas, archive, monkeypatch
) -> None:
    import compliance.audit as audit

    lawyer = personas["lawyer"]
    matter = holds.create_matter(name="Closed", reference="CLOSED-1", owner=lawyer.user)
    before = last_seq()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "leaf_hash", broken)
    response = lawyer.client.post(f"/api/v1/matters/{matter.id}/holds")
    assert_error_shape(response, 503, "audit_unavailable")
    monkeypatch.undo()
    assert not Hold.objects.filter(matter=matter).exists()
    assert last_seq() == before  # not even the service's hold.place on its own


def test_service_events_folded_before_a_rollback_are_discarded() -> None:
    with request_scope() as scope:
        assert (
            record(Event(action="hold.place", outcome="allowed", target_type="hold", target_id="1")) is None
        )
        scope.discard()  # what a dispatcher does when the request's writes were rolled back
        row = record_request(Event(action="hold.place", outcome="error", request_id="r1", status_code=500))
    assert row.service_events is None
    assert AuditEvent.objects.count() == 1


def test_a_request_lists_at_most_twenty_service_events_and_counts_the_rest() -> None:
    with request_scope():
        for i in range(25):
            record(Event(action="consent.apply", outcome="allowed", target_type="consent", target_id=str(i)))
        row = record_request(Event(action="consent.record", outcome="allowed", request_id="r2"))
    listed = row.service_event_list
    assert len(listed) == 21 and listed[-1] == {"action": "more", "count": 5}
    assert verify().ok


def test_an_edited_list_of_service_events_is_caught_by_verify_audit(personas, archive) -> None:
    lawyer = personas["lawyer"]
    matter = holds.create_matter(name="Edit", reference="EDIT-1", owner=lawyer.user)
    response = lawyer.client.post(f"/api/v1/matters/{matter.id}/holds")
    event = AuditEvent.objects.get(request_id=response["X-Request-ID"])
    assert verify().ok
    as_attacker("UPDATE compliance_auditevent SET service_events = NULL WHERE seq = %s", params=[event.seq])
    status = verify()
    assert not status.ok and status.first_bad_seq == event.seq


# --- through the UI ----------------------------------------------------------------------------------------


def ui_client(user: Any) -> Client:
    client = Client(REMOTE_ADDR="10.0.0.9", HTTP_USER_AGENT="pytest-ui")
    assert client.post("/login/", {"username": user.username, "password": PASSWORD}).status_code == 302
    return client


def test_placing_a_hold_in_the_ui_writes_one_event_that_names_hold_place(personas, archive) -> None:
    lawyer = personas["lawyer"].user
    matter = holds.create_matter(name="UI", reference="UI-1", owner=lawyer)
    client = ui_client(lawyer)
    before = last_seq()
    response = client.post(f"/matters/{matter.id}/")
    assert response.status_code == 302
    event = the_one_event(before, response)
    assert (event.action, event.auth_method) == ("hold.place", "session")
    assert folded_actions(event) == ["hold.place"]
    assert Hold.objects.filter(matter=matter, active=True).count() == 1


def test_recording_consent_and_requesting_erasure_in_the_ui_write_one_event_each(personas, archive) -> None:
    client = ui_client(personas["admin"].user)
    subject_id, _ = subject_with_messages()
    before = last_seq()
    response = client.post(f"/subjects/{subject_id}/", {"purpose": "review", "state": "given"})
    assert response.status_code == 302
    assert folded_actions(the_one_event(before, response)) == ["consent.record"]
    assert ConsentRecord.objects.filter(subject_id=subject_id).count() == 1

    before = last_seq()
    response = client.post(f"/erasure/{subject_id}/request/")
    assert response.status_code == 302
    event = the_one_event(before, response)
    assert (event.action, folded_actions(event)) == ("subject.erase.request", ["subject.erase.request"])


# --- outside a request: commands still write the services' own events ------------------------------------------


def test_a_retention_run_from_the_command_writes_its_own_events(archive) -> None:
    retention.create_policy(name="One day", period_days=1)
    before = last_seq()
    call_command("retention", "run", stdout=StringIO())
    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert [(e.action, e.auth_method, e.request_id) for e in events] == [
        ("retention.run.start", "system", ""),
        ("retention.run", "system", ""),
    ]
    assert events[-1].result_count == len(archive.message_ids)
    assert all(e.service_events is None for e in events)


def test_an_erasure_from_the_command_writes_its_own_events(personas, archive) -> None:
    subject_id, sent = subject_with_messages()
    before = last_seq()
    call_command("erase_subject", str(subject_id), "--requested-by", "admin", stdout=StringIO())
    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert [(e.action, e.actor_name, e.request_id) for e in events] == [
        ("subject.erase.start", "admin", ""),
        ("subject.erase", "admin", ""),
    ]
    assert events[-1].result_count == sent

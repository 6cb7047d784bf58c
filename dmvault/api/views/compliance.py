"""The compliance engine over the API (issue 7, item 5): retention policies and runs, legal
matters and holds, the consent registry, subject access and erasure requests.

Thin views: parse, authorize (a capability from ``accounts.roles``), call one function of
``compliance.retention`` / ``compliance.holds`` / ``compliance.consent`` / ``compliance.subjects``,
answer. Every request writes exactly one API audit event (``AuditedAPIView``); the domain events
the services record (``hold.place``, ``retention.run``, ``subject.erase`` ...) are folded into it
(its ``service_events``); called outside a request (commands, jobs) they are events of their own.

Who may do what
    * retention policies, dry runs and runs: ``manage_policies`` (administrators);
    * matters and holds: ``manage_holds`` (legal);
    * consent, subject access and erasure: ``subject_requests`` (administrators).

Refusals
    * A compliance lock refuses shortening, narrowing, unlocking, deactivating and deleting a
      policy: 409 ``compliance_lock``, with ``field`` naming the field (``period_days``,
      ``locked``, ``active``, a scope field; ``locked`` for a deletion).
    * Erasure refused by the two-person rule, a legal hold or a compliance lock: 409
      ``erasure_refused`` with the reason (matter references, never content).
    * Releasing a released hold: 409 ``already_released``.

Subject access (``POST /api/v1/subjects/{id}/access``) is **content-bearing**: the answer is the
subject access zip itself (``data.json``, ``transcript.html``, the files the subject sent under
``attachments/``, ``manifest.json``: the subject's own messages in clear, third parties
pseudonymized and redacted, their files listed without bytes). It needs ``subject_requests``
and, like every content read, a declared purpose for reviewing roles; the request is audited
(``subject.access``, the service's own event folded into it). The zip is built in memory, never written
to disk in clear.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Capability
from archive.models import Conversation, DataSubject, Participant, Platform, Source
from archive.search.query import QuerySyntaxError, parse
from compliance import consent, holds, retention, retention_jobs, subjects
from compliance.engine_models import (
    ConsentConflict,
    ConsentRecord,
    ErasureRequest,
    Hold,
    LockViolation,
    Matter,
    RetentionJob,
    RetentionPolicy,
)
from dmvault.api.audit import AuditedAPIView
from dmvault.api.errors import error_response
from dmvault.api.services import _iso

MAX_ID = 2**63 - 1
MAX_LIST = 10_000
# Message ids encode their time in 41 bits of milliseconds (archive.ids): up to 2039.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(2038, 12, 31, tzinfo=UTC)


def _pk(pk: int) -> int:
    if not 0 < pk <= MAX_ID:
        raise NotFound()
    return pk


def _id(value: int | None) -> str | None:
    return str(value) if value is not None else None


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _ids_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), max_length=MAX_LIST, **kwargs
    )


def _id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def _moment_field(**kwargs: Any) -> serializers.DateTimeField:
    return serializers.DateTimeField(
        validators=[_in_range],
        help_text="ISO 8601, between 1970-01-02 and 2038-12-31",
        **kwargs,
    )


def _in_range(value: datetime | None) -> None:
    if value is not None and not EARLIEST <= value <= LATEST:
        raise serializers.ValidationError("Give a date between 1970-01-02 and 2038-12-31.")


def _missing(model: type[Any], ids: list[int]) -> int | None:
    found = set(model.objects.filter(id__in=ids).values_list("id", flat=True))
    return next((i for i in ids if i not in found), None)


def _django_400(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError({k: [str(m) for m in v] for k, v in exc.message_dict.items()})
    return ValidationError({"non_field_errors": exc.messages})


def _subject(pk: int) -> DataSubject:
    found = DataSubject.objects.filter(pk=_pk(pk)).first()
    if found is None:
        raise NotFound()
    return found


# --- retention policies --------------------------------------------------------------------------------

POLICY_SCOPE_IDS = ("source_id", "account_owner_id", "conversation_id", "participant_id", "subject_id")


def policy_dict(p: RetentionPolicy) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "name": p.name,
        "platform": p.platform,
        **{name: _id(getattr(p, name)) for name in POLICY_SCOPE_IDS},
        "label": p.label,
        "period_days": p.period_days,
        "basis": p.basis,
        "action": p.action,
        "priority": p.priority,
        "overrides": p.overrides,
        "locked": p.locked,
        "locked_at": _iso(p.locked_at),
        "active": p.active,
        "created_by": _username(p.created_by),
        "created_at": _iso(p.created_at),
    }


class RetentionPolicySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    platform = serializers.ChoiceField(choices=Platform.values, required=False, allow_blank=True)
    source_id = _id_field(required=False, allow_null=True)
    account_owner_id = _id_field(required=False, allow_null=True, help_text="data subject owning the source")
    conversation_id = _id_field(required=False, allow_null=True)
    label = serializers.CharField(max_length=100, required=False, allow_blank=True)  # type: ignore[assignment]
    participant_id = _id_field(required=False, allow_null=True)
    subject_id = _id_field(required=False, allow_null=True)
    period_days = serializers.IntegerField(min_value=1, max_value=36_500)
    basis = serializers.ChoiceField(choices=RetentionPolicy.Basis.values, required=False)
    action = serializers.ChoiceField(choices=RetentionPolicy.Action.values, required=False)
    priority = serializers.IntegerField(min_value=-1000, max_value=1000, required=False)
    overrides = serializers.BooleanField(required=False)
    locked = serializers.BooleanField(required=False, help_text="compliance lock: can only be lengthened")
    active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refs: dict[str, Any] = {
            "source_id": Source,
            "account_owner_id": DataSubject,
            "conversation_id": Conversation,
            "subject_id": DataSubject,
            "participant_id": Participant,
        }
        for name, model in refs.items():
            value = attrs.get(name)
            if value is not None and not model.objects.filter(id=value).exists():
                raise ValidationError({name: [f"No such {model._meta.verbose_name}: {value}."]})
        return attrs


def lock_refusal(policy: RetentionPolicy, changes: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) when a compliance lock forbids these changes, else None."""
    if not policy.locked:
        return None
    if changes.get("locked") is False:
        return "locked", "A compliance lock cannot be removed."
    if changes.get("active") is False:
        return "active", "A locked retention policy cannot be deactivated."
    if "period_days" in changes and changes["period_days"] < policy.period_days:
        return "period_days", (
            f"A locked retention policy can only be lengthened: period_days cannot go from "
            f"{policy.period_days} to {changes['period_days']}."
        )
    for name in RetentionPolicy.FROZEN_WHEN_LOCKED:
        if name in changes and changes[name] != getattr(policy, name):
            return (
                name,
                f"The scope and action of a locked retention policy are frozen: {name} cannot change.",
            )
    return None


def _lock_409(field: str | None, message: str) -> Response:
    return error_response(409, "compliance_lock", message, field)


class RetentionPolicyListView(AuditedAPIView):
    """GET: every retention policy. POST: create one (a ``locked`` policy can then only be lengthened)."""

    capability = Capability.MANAGE_POLICIES
    audit_action = {"GET": "retention.policy.list", "POST": "retention.policy.create"}
    audit_target_type = "retention_policy"

    def get(self, request: Request) -> Response:
        items = [policy_dict(p) for p in RetentionPolicy.objects.select_related("created_by")]
        self.note.result_count = len(items)
        return Response({"results": items, "next": None})

    @extend_schema(request=RetentionPolicySerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = RetentionPolicySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            policy = retention.create_policy(created_by=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise _django_400(exc) from None
        self.note.target_id = str(policy.id)
        return Response(policy_dict(policy), status=201)


class RetentionPolicyDetailView(AuditedAPIView):
    """GET one policy; PATCH changes it (a locked one only by lengthening: 409 naming the field
    otherwise); DELETE removes an unlocked one (a locked one: 409)."""

    capability = Capability.MANAGE_POLICIES
    audit_action = {
        "GET": "retention.policy.read",
        "PATCH": "retention.policy.change",
        "DELETE": "retention.policy.delete",
    }
    audit_target_type = "retention_policy"

    def _get(self, pk: int) -> RetentionPolicy:
        policy = RetentionPolicy.objects.select_related("created_by").filter(pk=_pk(pk)).first()
        if policy is None:
            raise NotFound()
        return policy

    def get(self, request: Request, pk: int) -> Response:
        return Response(policy_dict(self._get(pk)))

    @extend_schema(request=RetentionPolicySerializer, responses={200: OpenApiTypes.OBJECT})
    def patch(self, request: Request, pk: int) -> Response:
        policy = self._get(pk)
        data = RetentionPolicySerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if not changes:
            raise ValidationError({"non_field_errors": ["Give at least one field to change."]})
        refusal = lock_refusal(policy, changes)
        if refusal is not None:
            self.note.detail = f"compliance_lock:{refusal[0]}"
            return _lock_409(*refusal)
        self.note.detail = ",".join(sorted(changes))[:200]
        try:
            policy = retention.change_policy(policy.id, changed_by=request.user, **changes)
        except RetentionPolicy.DoesNotExist:
            raise NotFound() from None
        except LockViolation as exc:  # changed under us (re-checked under the row lock)
            return _lock_409(None, "; ".join(exc.messages))
        except DjangoValidationError as exc:
            if policy.locked and not hasattr(exc, "error_dict"):
                return _lock_409(None, "; ".join(exc.messages))
            raise _django_400(exc) from None
        return Response(policy_dict(policy))

    def delete(self, request: Request, pk: int) -> Response:
        policy = self._get(pk)
        if policy.locked:
            return _lock_409("locked", "A locked retention policy cannot be deleted (compliance lock).")
        try:
            policy.delete()
        except LockViolation as exc:
            return _lock_409("locked", "; ".join(exc.messages))
        return Response(status=204)


class RetentionDryRunSerializer(serializers.Serializer):
    as_of = _moment_field(required=False, allow_null=True)
    policy_id = _id_field(required=False, allow_null=True)


class RetentionRunSerializer(serializers.Serializer):
    policy_id = _id_field(required=False, allow_null=True)


def _policy_filter(value: int | None) -> int | None:
    if value is not None and not RetentionPolicy.objects.filter(id=value).exists():
        raise ValidationError({"policy_id": [f"No such retention policy: {value}."]})
    return value


class RetentionDryRunView(AuditedAPIView):
    """What a retention run at ``as_of`` (default now) would delete and redact, counted by policy,
    platform and conversation, and what legal holds and compliance locks block. Changes nothing."""

    capability = Capability.MANAGE_POLICIES
    audit_action = "retention.dry_run"
    audit_target_type = "retention"

    @extend_schema(request=RetentionDryRunSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = RetentionDryRunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy_id = _policy_filter(data.validated_data.get("policy_id"))
        result = retention.plan(data.validated_data.get("as_of"), policy_id=policy_id)
        summary = result.summary()
        self.note.result_count = len(result.delete_ids) + len(result.redact_ids)
        self.note.detail = (
            f"delete {len(result.delete_ids)}, redact {len(result.redact_ids)}, "
            f"held {result.blocked_by_hold}, locked {result.blocked_by_lock}"
        )
        return Response(summary)


def retention_job_dict(job: RetentionJob) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "status": job.status,
        "policy_id": _id(job.policy_id),
        "requested_by": _username(job.requested_by),
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "run_id": _id(job.run_id),
        "counts": job.counts or {},
        "certificate_id": _id(job.certificate_id),
        "error": job.error,
    }


class RetentionRunView(AuditedAPIView):
    """Enforce retention (administrators): queues a django-q2 job and answers 202 with it at once;
    follow it at ``/retention/jobs/{id}`` (queued, running, done or failed, with the run's counts
    and the signed deletion certificate's id). An unfinished earlier run is continued by it. 409
    ``retention_busy`` while a job for the same policy filter is queued or running."""

    capability = Capability.MANAGE_POLICIES
    audit_action = "retention.run"
    audit_target_type = "retention_job"

    @extend_schema(request=RetentionRunSerializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = RetentionRunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy_id = _policy_filter(data.validated_data.get("policy_id"))
        try:
            job = retention_jobs.queue_run(policy_id=policy_id, requested_by=request.user)
        except retention_jobs.RetentionBusy as exc:
            self.note.target_id = str(exc.job.id)
            return error_response(
                409,
                "retention_busy",
                f"Retention job {exc.job.id} is already {exc.job.status}; follow it instead.",
            )
        self.note.target_id = str(job.id)
        self.note.detail = "queued"
        return Response(retention_job_dict(job), status=202)


class RetentionJobListView(AuditedAPIView):
    """The latest retention jobs (50), newest first."""

    capability = Capability.MANAGE_POLICIES
    audit_action = "retention.job.list"
    audit_target_type = "retention_job"

    def get(self, request: Request) -> Response:
        items = [retention_job_dict(j) for j in RetentionJob.objects.select_related("requested_by")[:50]]
        self.note.result_count = len(items)
        return Response({"results": items, "next": None})


class RetentionJobDetailView(AuditedAPIView):
    """One retention job: its status, counts, run and certificate."""

    capability = Capability.MANAGE_POLICIES
    audit_action = "retention.job.read"
    audit_target_type = "retention_job"

    def get(self, request: Request, pk: int) -> Response:
        job = RetentionJob.objects.select_related("requested_by").filter(pk=_pk(pk)).first()
        if job is None:
            raise NotFound()
        return Response(retention_job_dict(job))


# --- matters and holds ---------------------------------------------------------------------------------


def hold_dict(h: Hold) -> dict[str, Any]:
    return {
        "id": str(h.id),
        "matter_id": str(h.matter_id),
        "active": h.active,
        "placed_by": _username(h.placed_by),
        "placed_at": _iso(h.placed_at),
        "released_by": _username(h.released_by),
        "released_at": _iso(h.released_at),
    }


def matter_dict(m: Matter, *, with_query: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(m.id),
        "name": m.name,
        "reference": m.reference,
        "owner": _username(m.owner),
        "custodians": [str(i) for i in m.custodians.values_list("id", flat=True)],
        "sources": [str(i) for i in m.sources.values_list("id", flat=True)],
        "conversations": [str(i) for i in m.conversations.values_list("id", flat=True)],
        "date_ranges": m.date_ranges,
        "has_query": bool(m.query_ct),
        "created_at": _iso(m.created_at),
        "holds": [
            hold_dict(h) for h in m.holds.select_related("placed_by", "released_by").order_by("placed_at")
        ],
    }
    if with_query:
        out["query"] = holds.matter_query(m)
    return out


class MatterDateRangeSerializer(serializers.Serializer):
    start = _moment_field(required=False, allow_null=True)
    end = _moment_field(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and end < start:
            raise ValidationError({"end": ["The end of a date range must not be before its start."]})
        return attrs


class MatterSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    reference = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9 ._/:#-]{0,99}$",
        max_length=100,
        help_text="the matter or case number (letters, digits, . _ / : # -)",
    )
    custodians = _ids_field(required=False, help_text="data subject ids")
    sources = _ids_field(required=False)
    conversations = _ids_field(required=False)
    date_ranges = MatterDateRangeSerializer(many=True, required=False)
    query = serializers.CharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=False)
    saved_search_id = _id_field(
        required=False,
        allow_null=True,
        help_text="one of your saved searches: its query is copied into the matter (instead of query)",
    )

    def validate_reference(self, value: str) -> str:
        if Matter.objects.filter(reference=value).exists():
            raise serializers.ValidationError("A matter with this reference already exists.")
        return value

    def validate_query(self, value: str) -> str:
        if value.strip():
            try:
                parse(value)
            except QuerySyntaxError as exc:
                raise serializers.ValidationError(f"The query does not parse: {exc}") from None
        return value

    def _exist(self, value: list[int], model: type[Any], what: str) -> list[int]:
        missing = _missing(model, value)
        if missing is not None:
            raise serializers.ValidationError(f"No such {what}: {missing}.")
        return value

    def validate_custodians(self, value: list[int]) -> list[int]:
        return self._exist(value, DataSubject, "data subject")

    def validate_sources(self, value: list[int]) -> list[int]:
        return self._exist(value, Source, "source")

    def validate_conversations(self, value: list[int]) -> list[int]:
        return self._exist(value, Conversation, "conversation")


class MatterListView(AuditedAPIView):
    """GET: the legal matters with their holds. POST: open a matter (the caller owns it); its
    scope is custodians, sources and conversations (none = the whole archive), narrowed by date
    ranges and a search query. Opening a matter holds nothing: place a hold on it."""

    capability = Capability.MANAGE_HOLDS
    audit_action = {"GET": "matter.list", "POST": "matter.create"}
    audit_target_type = "matter"

    def get(self, request: Request) -> Response:
        items = [matter_dict(m) for m in Matter.objects.select_related("owner").order_by("-created_at", "id")]
        self.note.result_count = len(items)
        return Response({"results": items, "next": None})

    @extend_schema(request=MatterSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = MatterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            with transaction.atomic():
                matter = holds.create_matter(
                    name=v["name"],
                    reference=v["reference"],
                    owner=request.user,
                    custodians=v.get("custodians", []),
                    sources=v.get("sources", []),
                    conversations=v.get("conversations", []),
                    date_ranges=[(r.get("start"), r.get("end")) for r in v.get("date_ranges", [])],
                    query=v.get("query", ""),
                    saved_search_id=v.get("saved_search_id"),
                )
        except IntegrityError:  # the reference was taken meanwhile
            raise ValidationError({"reference": ["A matter with this reference already exists."]}) from None
        except DjangoValidationError as exc:
            raise _django_400(exc) from None
        self.note.target_id = str(matter.id)
        self.note.detail = f"matter {matter.reference}"
        if v.get("query"):
            self.note.query = v["query"]
        return Response(matter_dict(matter, with_query=True), status=201)


def _matter(pk: int) -> Matter:
    matter = Matter.objects.select_related("owner").filter(pk=_pk(pk)).first()
    if matter is None:
        raise NotFound()
    return matter


class MatterDetailView(AuditedAPIView):
    """One matter, its scope (with its search query) and its holds."""

    capability = Capability.MANAGE_HOLDS
    audit_action = "matter.read"
    audit_target_type = "matter"

    def get(self, request: Request, pk: int) -> Response:
        return Response(matter_dict(_matter(pk), with_query=True))


class MatterHoldView(AuditedAPIView):
    """Place a legal hold on the matter: what it covers is exempt from retention, erasure and
    deletion until the hold is released."""

    capability = Capability.MANAGE_HOLDS
    audit_action = "hold.place"
    audit_target_type = "matter"

    @extend_schema(request=None, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        matter = _matter(pk)
        try:
            hold = holds.place_hold(matter, request.user)
        except holds.HoldError as exc:
            return error_response(409, "hold_refused", str(exc))
        self.note.detail = f"hold {hold.id} on matter {matter.reference}"
        return Response(hold_dict(hold), status=201)


class HoldReleaseView(AuditedAPIView):
    """Release a hold. Deletes nothing: what it covered becomes subject to retention again."""

    capability = Capability.MANAGE_HOLDS
    audit_action = "hold.release"
    audit_target_type = "hold"

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        hold = Hold.objects.filter(pk=_pk(pk)).first()
        if hold is None:
            raise NotFound()
        if not hold.active:
            return error_response(409, "already_released", "This hold is already released.")
        try:
            hold = holds.release_hold(hold, request.user)
        except holds.HoldError as exc:
            return error_response(409, "already_released", str(exc))
        return Response(hold_dict(hold))


# --- consent -------------------------------------------------------------------------------------------


def consent_dict(r: ConsentRecord, conflicts: list[ConsentConflict] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(r.id),
        "subject_id": str(r.subject_id),
        "purpose": r.purpose,
        "state": r.state,
        "lawful_basis": r.lawful_basis,
        "on_withdrawal": r.on_withdrawal,
        "has_evidence": bool(r.evidence_ct),
        "recorded_by": _username(r.recorded_by),
        "recorded_at": _iso(r.recorded_at),
        "applied": r.applied or {},
    }
    if conflicts is not None:
        out["conflicts"] = [
            {"reason": c.reason, "detail": c.detail, "messages": c.messages} for c in conflicts
        ]
    return out


class ConsentRecordSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=ConsentRecord.Purpose.values)
    state = serializers.ChoiceField(choices=ConsentRecord.State.values)
    lawful_basis = serializers.ChoiceField(choices=ConsentRecord.Basis.values, required=False)
    on_withdrawal = serializers.ChoiceField(
        choices=ConsentRecord.OnWithdrawal.values,
        required=False,
        help_text="for a withdrawal of archiving: keep, redact or erase what the subject sent",
    )
    evidence = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class SubjectConsentView(AuditedAPIView):
    """GET: the subject's consent history, oldest first (``?purpose=`` filters). POST: record a
    new entry; withdrawing archiving with ``on_withdrawal`` redact/erase applies it now, except to
    what legal holds and compliance locks protect (reported in ``conflicts``)."""

    capability = Capability.SUBJECT_REQUESTS
    audit_action = {"GET": "consent.list", "POST": "consent.record"}
    audit_target_type = "data_subject"

    def get(self, request: Request, pk: int) -> Response:
        purpose = request.query_params.get("purpose") or None
        if purpose is not None and purpose not in ConsentRecord.Purpose.values:
            raise ValidationError({"purpose": ["Use archiving, review or export."]})
        subject = _subject(pk)
        items = [consent_dict(r) for r in consent.history(subject.id, purpose)]
        self.note.result_count = len(items)
        return Response({"results": items, "next": None})

    @extend_schema(request=ConsentRecordSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        subject = _subject(pk)
        data = ConsentRecordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            row = consent.record(
                subject.id,
                v["purpose"],
                v["state"],
                lawful_basis=v.get("lawful_basis", ConsentRecord.Basis.CONSENT),
                evidence=v.get("evidence", ""),
                recorded_by=request.user,
                on_withdrawal=v.get("on_withdrawal", ConsentRecord.OnWithdrawal.KEEP),
            )
        except DjangoValidationError as exc:
            raise _django_400(exc) from None
        self.note.detail = f"{row.purpose}:{row.state}:{row.on_withdrawal} (record {row.id})"
        return Response(consent_dict(row, list(row.conflicts.all())), status=201)


# --- subject access and erasure --------------------------------------------------------------------------


class SubjectAccessView(AuditedAPIView):
    """**Content-bearing.** The subject access package (GDPR Art. 15/20) as a zip download:
    ``data.json``, ``transcript.html``, the subject's own attachments and ``manifest.json``. Holds the subject's own messages in
    clear; other participants are pseudonymized and their personal data redacted. Needs
    ``subject_requests`` (and a declared purpose for reviewing roles); audited."""

    capability = Capability.SUBJECT_REQUESTS
    requires_purpose = True
    audit_action = "subject.access"
    audit_target_type = "data_subject"

    @extend_schema(request=None, responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def post(self, request: Request, pk: int) -> FileResponse:
        subject = _subject(pk)
        buffer = io.BytesIO()
        manifest = subjects.subject_access_package(subject.id, buffer, requested_by=request.user)
        buffer.seek(0)
        self.note.detail = f"access package: {len(manifest)} files"
        response = FileResponse(
            buffer,
            as_attachment=True,
            filename=f"subject-{subject.id}-access.zip",
            content_type="application/zip",
        )
        response["Cache-Control"] = "no-store"
        return response


def erasure_dict(req: ErasureRequest) -> dict[str, Any]:
    return {
        "id": str(req.id),
        "subject_id": str(req.subject_id),
        "state": req.state,
        "two_person": req.two_person,
        "requested_by": _username(req.requested_by),
        "requested_at": _iso(req.requested_at),
        "approved_by": _username(req.approved_by),
        "approved_at": _iso(req.approved_at),
        "executed_at": _iso(req.executed_at),
        "result": req.result or {},
        "certificate_id": _id(req.certificate_id),
    }


class ErasureRequestSerializer(serializers.Serializer):
    two_person = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text="require approval by a second administrator (default: the deployment's setting)",
    )


def _refused(message: str) -> Response:
    message = message[:1].upper() + message[1:]
    return error_response(409, "erasure_refused", message if message.endswith(".") else message + ".")


class SubjectErasureView(AuditedAPIView):
    """Request the erasure of a data subject (GDPR Art. 17). ``blockers`` tells already whether a
    legal hold or a compliance lock would refuse it; execution checks again."""

    capability = Capability.SUBJECT_REQUESTS
    audit_action = "subject.erase.request"
    audit_target_type = "data_subject"

    @extend_schema(request=ErasureRequestSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        subject = _subject(pk)
        data = ErasureRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if subject.erased_at is not None:
            return _refused("This data subject is already erased.")
        try:
            req = subjects.request_erasure(
                subject.id, request.user, two_person=data.validated_data.get("two_person")
            )
        except subjects.ErasureRefused as exc:
            return _refused(str(exc))
        self.note.detail = f"erasure request {req.id}"
        return Response({**erasure_dict(req), "blockers": subjects.blockers(subject.id)}, status=201)


def _erasure_request(pk: int) -> ErasureRequest:
    req = ErasureRequest.objects.select_related("requested_by", "approved_by").filter(pk=_pk(pk)).first()
    if req is None:
        raise NotFound()
    return req


class ErasureApproveView(AuditedAPIView):
    """Approve a pending erasure request: by an administrator other than the requester."""

    capability = Capability.SUBJECT_REQUESTS
    audit_action = "subject.erase.approve"
    audit_target_type = "erasure_request"

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        req = _erasure_request(pk)
        try:
            req = subjects.approve_erasure(req.id, request.user)
        except subjects.ErasureRefused as exc:
            return _refused(str(exc))
        return Response(erasure_dict(req))


class ErasureExecuteView(AuditedAPIView):
    """Carry out an erasure request (approved first under the two-person rule). Refused with the
    reason, 409, while a legal hold or a compliance lock covers the subject; the request is then
    marked refused and a new one is needed once the hold or lock has ended."""

    capability = Capability.SUBJECT_REQUESTS
    audit_action = "subject.erase.execute"
    audit_target_type = "erasure_request"

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        req = _erasure_request(pk)
        if req.state == ErasureRequest.State.REFUSED:
            return _refused("This erasure request was refused; make a new request.")
        try:
            result = subjects.execute_erasure(req.id)
        except subjects.ErasureRefused as exc:
            return _refused(str(exc))
        if result.refused:
            self.note.detail = f"refused: {result.refused}"[:200]
            return _refused(result.refused)
        req.refresh_from_db()
        self.note.result_count = result.counts.get("messages")
        self.note.detail = f"certificate {result.certificate.id}" if result.certificate else ""
        return Response({**erasure_dict(req), "counts": result.counts})

"""Legal productions (export jobs) over the API: legal users with the ``export`` capability.

``POST /api/v1/exports`` creates a job from a scope (a search query, a saved search, a matter,
conversations and/or a data subject: every axis given must hold; at least one is required),
the formats, Bates numbering and a **stated purpose** (required; sealed on the job and written
into the signed manifest). The job is queued (django-q2, ``compliance.exports.tasks.run_export``)
once the request's transaction commits; the answer is 202 with the job.

Jobs belong to their requester: another user's job is 404. ``GET /api/v1/exports/{id}`` is the
progress, ``POST .../cancel`` asks a pending or running job to stop, and ``GET .../download``
streams the finished production zip (``compliance.exports.jobs.open_result``, decrypted as it is
read). The download is **content-bearing**: it needs a declared purpose of access for reviewing
roles, and its request is audited (``export.download``) before the first byte leaves.

An export made with ``encrypt_zip`` is an AES-256 zip whose random passphrase is delivered
separately: ``POST /api/v1/exports/{id}/passphrase`` returns it **once** to the requester (the
``export_passphrase`` capability, a declared purpose of access for reviewing roles); it is then
wiped, so later calls answer 410 ``already_revealed`` and a lost passphrase means running the
export again. Each call is audited (``export.passphrase``; the passphrase itself never is).
``passphrase`` in the job says ``not_encrypted``, ``not_ready``, ``available`` or
``already_revealed``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Capability
from archive.models import Conversation, DataSubject, SavedSearch
from archive.search.query import QuerySyntaxError, parse
from compliance.engine_models import Matter
from compliance.exports import jobs
from compliance.exports.models import ExportJob
from compliance.exports.production import FORMAT_ORDER
from compliance.exports.redact import ExportPolicy
from dmvault.api.audit import AuditedAPIView
from dmvault.api.errors import error_response
from dmvault.api.pagination import limit_param
from dmvault.api.purpose import active_purpose
from dmvault.api.services import _iso
from dmvault.api.views.compliance import MAX_ID, MAX_LIST, _id, _missing, _pk


def job_dict(job: ExportJob) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "status": job.status,
        "progress": job.progress,
        "cancel_requested": job.cancel_requested,
        "formats": list(job.formats),
        "matter_id": _id(job.matter_id),
        "matter_ref": job.matter_ref,
        "saved_search_id": _id(job.saved_search_id),
        "conversation_ids": [str(c) for c in job.conversation_ids or []],
        "data_subject_id": _id(job.data_subject_id),
        "has_query": bool(job.query_ct),
        "redaction": job.redaction or {},
        "bates_prefix": job.bates_prefix,
        "bates_start": job.bates_start,
        "encrypt_zip": job.encrypt_zip,
        "passphrase": jobs.passphrase_state(job),
        "counts": job.counts or {},
        "error": job.error,
        "result_size": job.result_size,
        "result_sha256": job.result_sha256 or None,
        "manifest_sha256": job.manifest_sha256 or None,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def _no_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_no_nul(k) and _no_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_no_nul(v) for v in value)
    return True


class ExportCreateSerializer(serializers.Serializer):
    purpose = serializers.CharField(
        min_length=10, max_length=2000, help_text="why this production is made (sealed; in the manifest)"
    )
    matter_ref = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="default: the declared purpose's matter"
    )
    query = serializers.CharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=False)
    saved_search_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    matter_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    conversation_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), max_length=MAX_LIST, required=False
    )
    data_subject_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=FORMAT_ORDER),
        min_length=1,
        max_length=len(FORMAT_ORDER),
        required=False,
    )
    redaction = serializers.DictField(
        required=False, help_text="compliance.exports.redact.ExportPolicy settings"
    )
    bates_prefix = serializers.RegexField(r"^[A-Za-z0-9_.-]{1,40}$", max_length=40, required=False)
    bates_start = serializers.IntegerField(min_value=1, max_value=10**12, required=False)
    encrypt_zip = serializers.BooleanField(required=False)

    def validate_query(self, value: str) -> str:
        if value.strip():
            try:
                parse(value)
            except QuerySyntaxError as exc:
                raise serializers.ValidationError(f"The query does not parse: {exc}") from None
        return value

    def validate_saved_search_id(self, value: int | None) -> int | None:
        owner = self.context["request"].user
        if value is not None and not SavedSearch.objects.filter(id=value, owner=owner).exists():
            raise serializers.ValidationError(f"No saved search {value} of yours.")
        return value

    def validate_matter_id(self, value: int | None) -> int | None:
        if value is not None and not Matter.objects.filter(id=value).exists():
            raise serializers.ValidationError(f"No such matter: {value}.")
        return value

    def validate_data_subject_id(self, value: int | None) -> int | None:
        if value is not None and not DataSubject.objects.filter(id=value).exists():
            raise serializers.ValidationError(f"No such data subject: {value}.")
        return value

    def validate_conversation_ids(self, value: list[int]) -> list[int]:
        missing = _missing(Conversation, value)
        if missing is not None:
            raise serializers.ValidationError(f"No such conversation: {missing}.")
        return value

    def validate_redaction(self, value: dict[str, Any]) -> dict[str, Any]:
        if not _no_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        try:
            ExportPolicy.from_dict(value)
        except (ValueError, TypeError, AttributeError) as exc:
            message = str(exc) if isinstance(exc, ValueError) else "Invalid redaction settings."
            raise serializers.ValidationError(message) from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (
            (attrs.get("query") or "").strip()
            or attrs.get("saved_search_id")
            or attrs.get("matter_id")
            or attrs.get("conversation_ids")
            or attrs.get("data_subject_id")
        ):
            raise ValidationError(
                {
                    "scope": [
                        "Give a scope: query, saved_search_id, matter_id, conversation_ids or data_subject_id."
                    ]
                }
            )
        return attrs


def _own_job(request: Request, pk: int) -> ExportJob:
    job = ExportJob.objects.filter(pk=_pk(pk), requested_by_id=request.user.pk).first()
    if job is None:
        raise NotFound()
    return job


class ExportListView(AuditedAPIView):
    """GET: the caller's export jobs, newest first (``limit``). POST: create one (see the module
    docstring); 202 with the queued job."""

    capability = Capability.EXPORT
    audit_action = {"GET": "export.list", "POST": "export.create"}
    audit_target_type = "export"

    def get(self, request: Request) -> Response:
        limit = limit_param(request)
        items = [
            job_dict(j)
            for j in ExportJob.objects.filter(requested_by_id=request.user.pk).order_by("-created_at", "-id")[
                :limit
            ]
        ]
        self.note.result_count = len(items)
        return Response({"results": items, "next": None})

    @extend_schema(request=ExportCreateSerializer, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = ExportCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        purpose = active_purpose(request)
        matter_ref = v.get("matter_ref") or (purpose.matter_ref if purpose is not None else "")
        try:
            job = jobs.create_export(
                requested_by=request.user,
                purpose=v["purpose"],
                formats=v.get("formats") or FORMAT_ORDER,
                query=v.get("query") or "",
                saved_search_id=v.get("saved_search_id"),
                matter_id=v.get("matter_id"),
                matter_ref=matter_ref,
                conversation_ids=v.get("conversation_ids") or (),
                data_subject_id=v.get("data_subject_id"),
                redaction=v.get("redaction"),
                bates_prefix=v.get("bates_prefix", "DMV"),
                bates_start=v.get("bates_start", 1),
                encrypt_zip=v.get("encrypt_zip", False),
                queue=False,
            )
        except ValueError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        transaction.on_commit(lambda: _queue(job.id))
        self.note.target_id = str(job.id)
        self.note.query = job.query or None
        self.note.detail = f"formats={','.join(job.formats)}"[:200]
        return Response(job_dict(job), status=202)


def _queue(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task("compliance.exports.tasks.run_export", job_id, task_name=f"export-{job_id}")


class ExportDetailView(AuditedAPIView):
    """The job's status and progress (0..1), counts and Bates range once done."""

    capability = Capability.EXPORT
    audit_action = "export.read"
    audit_target_type = "export"

    def get(self, request: Request, pk: int) -> Response:
        return Response(job_dict(_own_job(request, pk)))


class ExportCancelView(AuditedAPIView):
    """Ask a pending or running job to stop (it ends as ``cancelled``); 409 once it has ended."""

    capability = Capability.EXPORT
    audit_action = "export.cancel"
    audit_target_type = "export"

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        job = _own_job(request, pk)
        if not jobs.request_cancel(job.id):
            return error_response(409, "not_cancellable", f"This export has already ended ({job.status}).")
        job.refresh_from_db()
        return Response(job_dict(job), status=202)


class ExportDownloadView(AuditedAPIView):
    """**Content-bearing.** The finished production zip, streamed; 409 until the job is done.
    Needs a declared purpose of access (reviewing roles); audited."""

    capability = Capability.EXPORT
    requires_purpose = True
    audit_action = "export.download"
    audit_target_type = "export"

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> Any:
        job = _own_job(request, pk)
        if job.status != ExportJob.Status.DONE:
            return error_response(409, "not_ready", f"This export is not finished ({job.status}).")
        try:
            stream = jobs.open_result(job)
        except ValueError:
            return error_response(409, "result_unavailable", "This export's result is no longer available.")
        self.note.result_count = int((job.counts or {}).get("messages", 0))
        self.note.detail = f"sha256 {job.result_sha256}"[:200] if job.result_sha256 else ""
        response = FileResponse(
            stream, as_attachment=True, filename=f"export-{job.id}.zip", content_type="application/zip"
        )
        if job.result_sha256:
            response["X-Content-SHA256"] = job.result_sha256
        response["Cache-Control"] = "no-store"
        return response


class ExportPassphraseView(AuditedAPIView):
    """**Once.** The passphrase of the requester's finished AES-encrypted production; it is wiped
    as it is returned (410 ``already_revealed`` afterwards; 409 ``not_ready`` or
    ``not_encrypted``). Hand it to the recipient through another channel than the zip. Needs
    a declared purpose of access (reviewing roles); audited as ``export.passphrase``."""

    capability = Capability.EXPORT_PASSPHRASE
    requires_purpose = True
    audit_action = "export.passphrase"
    audit_target_type = "export"

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        job = _own_job(request, pk)
        try:
            passphrase = jobs.reveal_passphrase(job)
        except jobs.PassphraseUnavailable as exc:
            self.note.detail = exc.reason
            status = 410 if exc.reason == "already_revealed" else 409
            return error_response(status, exc.reason, str(exc))
        self.note.result_count = 1
        self.note.detail = "revealed"
        response = Response({"id": str(job.id), "passphrase": passphrase, "revealed": True})
        response["Cache-Control"] = "no-store"
        return response

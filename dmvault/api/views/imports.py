"""Uploading exports and following their import jobs.

``POST /api/v1/sources`` takes a multipart upload (field ``file``; optional ``platform`` and
``owner``). The body is sealed as it streams in (``dmvault.api.uploads``), handed to
``archive.ingest.receive`` (which keeps it, re-sealed under the source's key, as evidence),
and the import is queued with ``archive.tasks.queue_ingest`` once the transaction commits.
The answer is 202 with the source id; ``GET /api/v1/sources/{id}/progress`` follows the job.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Capability
from archive import ingest, tasks
from archive.importers import REGISTRY
from archive.models import Source
from dmvault.api.audit import AuditedAPIView
from dmvault.api.uploads import SealedUpload, SealingUploadHandler
from dmvault.api.views.archive import SourceListView as _SourceListView

UPLOAD_SCHEMA = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "platform": {"type": "string", "enum": sorted(REGISTRY)},
            "owner": {"type": "string", "maxLength": 200},
        },
        "required": ["file"],
    }
}


class SourcesView(_SourceListView):
    """GET: the sources (metadata readers). POST: upload an export (upload capability)."""

    capability = {"GET": Capability.VIEW_METADATA, "POST": Capability.UPLOAD}  # type: ignore[assignment]
    audit_action = {"GET": "source.list", "POST": "source.upload"}  # type: ignore[assignment]
    parser_classes = [MultiPartParser]

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Before anything can touch the body (including a CSRF check reading request.POST), so
        # Django's default handlers never write the plaintext to a temporary file.
        if request.method == "POST":
            request.upload_handlers = [SealingUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(request=UPLOAD_SCHEMA, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        files = request.FILES.getlist("file")
        others = [name for name in request.FILES if name != "file"]
        if others:
            raise ValidationError({others[0]: ["Unexpected file field; send the export as 'file'."]})
        if len(files) != 1:
            raise ValidationError({"file": ["Send exactly one export file in the multipart field 'file'."]})
        upload = files[0]
        if not isinstance(upload, SealedUpload):  # defensive: the handler is always installed
            raise ValidationError({"file": ["The upload could not be received."]})
        form: Any = request.data
        platform = str(form.get("platform", "") or "").strip()
        owner = str(form.get("owner", "") or "").strip()
        if platform and platform not in REGISTRY:
            raise ValidationError({"platform": [f"Unknown platform; known: {', '.join(sorted(REGISTRY))}."]})
        if len(owner) > 200:
            raise ValidationError({"owner": ["Too long (at most 200 characters)."]})
        try:
            with upload.open_plaintext() as plaintext:
                source = ingest.receive(
                    plaintext,
                    name=upload.name or "upload",
                    size=upload.size or 0,
                    platform=platform,
                    owner=owner,
                    uploaded_by=request.user,
                )
        except ingest.IngestError as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        source_id = source.id
        transaction.on_commit(lambda: tasks.queue_ingest(source_id))
        self.note.target_id = str(source.id)
        self.note.detail = f"bytes:{source.original_size}"
        return Response(
            {
                "id": str(source.id),
                "status": source.status,
                "size": source.original_size,
                "sha256": source.original_sha256,
                "progress_url": f"/api/v1/sources/{source.id}/progress",
            },
            status=202,
        )


def progress_dict(source: Source) -> dict[str, Any]:
    summary = dict(source.summary or {})
    processed = summary.get("processed")
    if source.status == Source.Status.DONE:
        processed = summary.get("messages", processed)
    return {
        "id": str(source.id),
        "status": source.status,
        "progress": source.progress,
        "processed": int(processed or 0),
        "summary": {k: v for k, v in summary.items() if k not in ("completeness", "error_sealed")},
        "completeness": summary.get("completeness", []),
        "error": source.error or None,
    }


class ImportProgressView(AuditedAPIView):
    """Status, processed count, summary, completeness report and error of an import job.
    Uploaders without the metadata capability (the ingest service account) see only their own."""

    capability = Capability.UPLOAD
    audit_action = "source.progress"
    audit_target_type = "source"

    def get(self, request: Request, pk: int) -> Response:
        user: Any = request.user
        qs = Source.objects.filter(pk=pk)
        if not user.can(Capability.VIEW_METADATA):
            qs = qs.filter(uploaded_by=user)
        source = qs.first()
        if source is None:
            raise NotFound()
        self.note.result_count = 1
        return Response(progress_dict(source))

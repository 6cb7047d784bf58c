"""Participants (platform identities) and data subjects (the people behind them)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Capability
from accounts.scope import scope_for
from archive.models import Platform
from dmvault.api import directory
from dmvault.api.audit import AuditedAPIView
from dmvault.api.pagination import limit_param, page
from dmvault.api.views.archive import _after, _reads_content

MAX_LINK = 500


def _id_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise ValidationError({name: ["Must be an id (digits only)."]})
    return int(raw)


class ParticipantListView(AuditedAPIView):
    """Metadata for metadata readers; the decrypted identity only for content readers (with a
    declared purpose, for reviewing roles). Filters: ``subject`` (id), ``platform``."""

    capability = Capability.VIEW_METADATA
    audit_action = "participant.list"
    audit_target_type = "participant"

    def get(self, request: Request) -> Response:
        platform = request.query_params.get("platform") or None
        if platform is not None and platform not in Platform.values:
            raise ValidationError({"platform": ["Unknown platform."]})
        subject = _id_param(request, "subject")
        with_identity = _reads_content(request)
        user: Any = request.user
        items, last = directory.list_participants(
            _after(request),
            limit_param(request),
            with_identity=with_identity,
            subject_id=subject,
            platform=platform,
            scope=scope_for(user) if user.can(Capability.READ_CONTENT) else None,
        )
        self.note.result_count = len(items)
        self.note.detail = "with_identity" if with_identity else "metadata_only"
        return Response(page(items, {"after": last} if last else None))


class SubjectCreateSerializer(serializers.Serializer):
    label = serializers.CharField(min_length=1, max_length=200)  # type: ignore[assignment]


class ParticipantIdsSerializer(serializers.Serializer):
    participant_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=MAX_LINK,
    )


class SubjectListView(AuditedAPIView):
    capability = Capability.SUBJECT_REQUESTS
    audit_action = {"GET": "subject.list", "POST": "subject.create"}
    audit_target_type = "data_subject"

    def get(self, request: Request) -> Response:
        items, last = directory.list_subjects(_after(request), limit_param(request))
        self.note.result_count = len(items)
        return Response(page(items, {"after": last} if last else None))

    @extend_schema(request=SubjectCreateSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        data = SubjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = directory.new_subject(data.validated_data["label"])
        self.note.target_id = item["id"]
        return Response(item, status=201)


class _SubjectLinkBase(AuditedAPIView):
    capability = Capability.SUBJECT_REQUESTS
    audit_target_type = "data_subject"
    unlinking = False

    @extend_schema(request=ParticipantIdsSerializer, responses={200: dict})
    def post(self, request: Request, pk: int) -> Response:
        subject = directory.get_subject(pk)
        if subject is None:
            raise NotFound()
        data = ParticipantIdsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data["participant_ids"]
        try:
            item = (directory.unlink if self.unlinking else directory.link)(subject, ids)
        except directory.LinkError as exc:
            raise ValidationError({"participant_ids": [str(exc)]}) from None
        self.note.result_count = len(set(ids))
        self.note.detail = ",".join(str(i) for i in sorted(set(ids)))[:500]
        return Response(item)


class SubjectLinkView(_SubjectLinkBase):
    """Attach participants (ids) to this data subject."""

    audit_action = "subject.link"


class SubjectUnlinkView(_SubjectLinkBase):
    """Detach participants (ids) from this data subject."""

    audit_action = "subject.unlink"
    unlinking = True

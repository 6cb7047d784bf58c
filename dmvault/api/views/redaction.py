"""Redaction rules and policies (admins: MANAGE_POLICIES) and revealing a redacted value
(REVEAL_REDACTED with a declared purpose).

Saving a rule runs its own must-match / must-not-match examples (``CustomRule.validate``); a
failing rule is refused with 400 whose message names the failing example. Rules and policies
hold configuration only; no message content is ever returned here except by ``reveal``, whose
request is audited like every other (one event, action ``redaction.reveal``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Capability
from archive.models import Source
from compliance import redaction_service
from compliance.redaction_models import RedactionPolicy, RedactionRule, SourceRedaction
from dmvault.api.audit import AuditedAPIView
from dmvault.api.purpose import active_purpose

MAX_ID = 2**63 - 1

RULE_FIELDS = (
    "id",
    "name",
    "type",
    "regex",
    "keywords",
    "context_words",
    "context_window",
    "allow",
    "case_sensitive",
    "confidence",
    "examples_must_match",
    "examples_must_not_match",
    "enabled",
)
POLICY_FIELDS = (
    "id",
    "name",
    "default_mode",
    "type_modes",
    "disabled_types",
    "region_hints",
    "allow_list",
    "all_rules",
    "rules",
    "apply_at_ingest",
    "use_for_viewing",
    "role_views",
)


def _model_clean(model: type[Any], instance: Any, attrs: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    """Run the model's ``clean()`` on the instance as it would be saved; Django errors → DRF 400."""
    probe = model()
    if instance is not None:
        for f in model._meta.concrete_fields:
            setattr(probe, f.attname, getattr(instance, f.attname))
    for key, value in attrs.items():
        if key not in skip:
            setattr(probe, key, value)
    try:
        probe.clean()
    except DjangoValidationError as exc:
        raise serializers.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        ) from None


class RuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = RedactionRule
        fields = RULE_FIELDS
        read_only_fields = ("id",)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _model_clean(RedactionRule, self.instance, attrs)
        return attrs


class _RulePk(serializers.PrimaryKeyRelatedField):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, int) and not 0 < data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class PolicySerializer(serializers.ModelSerializer):
    rules = _RulePk(many=True, required=False, queryset=RedactionRule.objects.all())
    sources = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        write_only=True,
        max_length=10_000,
        help_text="ids of the sources imported under this policy",
    )

    class Meta:
        model = RedactionPolicy
        fields = (*POLICY_FIELDS, "sources")
        read_only_fields = ("id",)

    def validate_sources(self, value: list[int]) -> list[int]:
        found = set(Source.objects.filter(id__in=value).values_list("id", flat=True))
        missing = [v for v in value if v not in found]
        if missing:
            raise serializers.ValidationError(f"No such source: {missing[0]}.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _model_clean(RedactionPolicy, self.instance, attrs, skip=("rules", "sources"))
        taken = RedactionPolicy.objects.filter(use_for_viewing=True)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if attrs.get("use_for_viewing") and taken.exists():
            raise serializers.ValidationError(
                {"use_for_viewing": "Another policy is already used for viewing; turn it off there first."}
            )
        return attrs

    def _set_sources(self, policy: RedactionPolicy, sources: list[int] | None) -> None:
        if sources is None:
            return
        SourceRedaction.objects.filter(policy=policy).exclude(source_id__in=sources).delete()
        for sid in sources:
            SourceRedaction.objects.update_or_create(source_id=sid, defaults={"policy": policy})

    def create(self, validated_data: dict[str, Any]) -> RedactionPolicy:
        sources = validated_data.pop("sources", None)
        policy: RedactionPolicy = super().create(validated_data)
        self._set_sources(policy, sources)
        return policy

    def update(self, instance: RedactionPolicy, validated_data: dict[str, Any]) -> RedactionPolicy:
        sources = validated_data.pop("sources", None)
        policy: RedactionPolicy = super().update(instance, validated_data)
        self._set_sources(policy, sources)
        return policy

    def to_representation(self, instance: RedactionPolicy) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        data["sources"] = [
            str(s)
            for s in SourceRedaction.objects.filter(policy=instance).values_list("source_id", flat=True)
        ]
        return data


class _CrudList(AuditedAPIView):
    capability = Capability.MANAGE_POLICIES
    serializer_class: type[serializers.ModelSerializer]

    def get(self, request: Request) -> Response:
        model: Any = self.serializer_class.Meta.model
        items = self.serializer_class(model.objects.order_by("name"), many=True).data
        self.note.result_count = len(items)
        return Response({"results": items, "next": None})

    def post(self, request: Request) -> Response:
        data = self.serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            obj = data.save()
        redaction_service.clear_cache()
        self.note.target_id = str(obj.pk)
        return Response(self.serializer_class(obj).data, status=201)


class _CrudDetail(AuditedAPIView):
    capability = Capability.MANAGE_POLICIES
    serializer_class: type[serializers.ModelSerializer]

    def _get(self, pk: int) -> Any:
        model: Any = self.serializer_class.Meta.model
        obj = model.objects.filter(pk=pk).first() if 0 < pk <= MAX_ID else None
        if obj is None:
            raise NotFound()
        return obj

    def get(self, request: Request, pk: int) -> Response:
        obj = self._get(pk)
        self.note.result_count = 1
        return Response(self.serializer_class(obj).data)

    def _update(self, request: Request, pk: int, partial: bool) -> Response:
        obj = self._get(pk)
        data = self.serializer_class(obj, data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        obj = data.save()
        redaction_service.clear_cache()
        return Response(self.serializer_class(obj).data)

    def put(self, request: Request, pk: int) -> Response:
        return self._update(request, pk, partial=False)

    def patch(self, request: Request, pk: int) -> Response:
        return self._update(request, pk, partial=True)

    def delete(self, request: Request, pk: int) -> Response:
        obj = self._get(pk)
        if isinstance(obj, RedactionPolicy) and SourceRedaction.objects.filter(policy=obj).exists():
            raise ValidationError({"sources": ["Sources are imported under this policy; move them first."]})
        obj.delete()
        redaction_service.clear_cache()
        return Response(status=204)


@extend_schema(request=RuleSerializer, responses={200: RuleSerializer, 201: RuleSerializer})
class RuleListView(_CrudList):
    """GET: every redaction rule. POST: create one (its examples must pass, or 400 names the failing one)."""

    serializer_class = RuleSerializer
    audit_action = {"GET": "redaction_rule.list", "POST": "redaction_rule.create"}
    audit_target_type = "redaction_rule"


@extend_schema(request=RuleSerializer, responses={200: RuleSerializer})
class RuleDetailView(_CrudDetail):
    serializer_class = RuleSerializer
    audit_action = {
        "GET": "redaction_rule.read",
        "PUT": "redaction_rule.update",
        "PATCH": "redaction_rule.update",
        "DELETE": "redaction_rule.delete",
        "*": "redaction_rule.request",
    }
    audit_target_type = "redaction_rule"


@extend_schema(request=PolicySerializer, responses={200: PolicySerializer, 201: PolicySerializer})
class PolicyListView(_CrudList):
    """GET: every redaction policy. POST: create one (modes, types, regions, ingest, role views)."""

    serializer_class = PolicySerializer
    audit_action = {"GET": "redaction_policy.list", "POST": "redaction_policy.create"}
    audit_target_type = "redaction_policy"


@extend_schema(request=PolicySerializer, responses={200: PolicySerializer})
class PolicyDetailView(_CrudDetail):
    serializer_class = PolicySerializer
    audit_action = {
        "GET": "redaction_policy.read",
        "PUT": "redaction_policy.update",
        "PATCH": "redaction_policy.update",
        "DELETE": "redaction_policy.delete",
        "*": "redaction_policy.request",
    }
    audit_target_type = "redaction_policy"


class RevealSerializer(serializers.Serializer):
    token = serializers.RegexField(r"^[0-9a-f]{8,40}$", help_text="the id in a [TOK:…] placeholder")


class MessageRevealView(AuditedAPIView):
    """POST {"token": "<id>"}: the original behind a [TOK:<id>] placeholder of this message.
    Needs REVEAL_REDACTED and a declared purpose; the request's audit event records the reveal."""

    capability = Capability.REVEAL_REDACTED
    requires_purpose = True
    audit_action = "redaction.reveal"
    audit_target_type = "message"

    @extend_schema(request=RevealSerializer, responses={200: dict})
    def post(self, request: Request, pk: int) -> Response:
        if not 0 < pk <= MAX_ID:
            raise NotFound()
        data = RevealSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token: str = data.validated_data["token"]
        self.note.detail = f"token:{token}"
        try:
            original = redaction_service.reveal(request.user, active_purpose(request), pk, token, audit=False)
        except redaction_service.RevealDenied:
            raise PermissionDenied("You may not reveal redacted values.", code="reveal_forbidden") from None
        except redaction_service.TokenNotFound:
            raise NotFound() from None
        self.note.result_count = 1
        return Response({"message_id": str(pk), "token": token, "original": original})

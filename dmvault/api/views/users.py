"""Users and their API tokens (administrators)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import scope
from accounts.models import ApiToken
from accounts.roles import PERMISSIONS, Capability, Role
from dmvault.api.audit import AuditedAPIView
from dmvault.api.pagination import decode_cursor, limit_param, page


def user_dict(user: Any) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "role": user.role,
        "is_active": user.is_active,
        "locked_until": user.locked_until.isoformat() if user.locked_until else None,
        "date_joined": user.date_joined.isoformat(),
    }


class UserCreateSerializer(serializers.Serializer):
    username = serializers.RegexField(
        r"^[\w.@+-]+$", max_length=150, error_messages={"invalid": "Letters, digits and @ . + - _ only."}
    )
    password = serializers.CharField(max_length=1024, trim_whitespace=False)
    role = serializers.ChoiceField(choices=[r.value for r in Role])
    email = serializers.EmailField(required=False, allow_blank=True, default="")

    def validate_username(self, value: str) -> str:
        if get_user_model().objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with this username already exists.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user_model = get_user_model()
        probe = user_model(username=attrs["username"], email=attrs.get("email", ""))
        try:
            password_validation.validate_password(attrs["password"], probe)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class UserListView(AuditedAPIView):
    capability = Capability.MANAGE_USERS
    audit_action = {"GET": "user.list", "POST": "user.create"}
    audit_target_type = "user"

    def get(self, request: Request) -> Response:
        qs = get_user_model().objects.order_by("id")
        cursor = decode_cursor(request.query_params.get("cursor"))
        if cursor is not None:
            after = cursor.get("after")
            if not isinstance(after, int):
                raise ValidationError(
                    {"cursor": ["This cursor is invalid; use the 'next' value of a previous page."]}
                )
            qs = qs.filter(id__gt=after)
        limit = limit_param(request)
        rows = list(qs[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        self.note.result_count = len(rows)
        return Response(page([user_dict(u) for u in rows], {"after": rows[-1].pk} if more else None))

    @extend_schema(request=UserCreateSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        data = UserCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=v["username"], password=v["password"], email=v["email"], role=v["role"]
            )
        self.note.target_id = str(user.pk)
        return Response(user_dict(user), status=201)


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    days = serializers.IntegerField(min_value=1, max_value=365, default=90)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=[c.value for c in Capability]), required=False, default=list
    )


class UserTokenView(AuditedAPIView):
    capability = Capability.MANAGE_USERS
    audit_action = "token.create"
    audit_target_type = "user"

    @extend_schema(request=TokenCreateSerializer, responses={201: dict})
    def post(self, request: Request, pk: int) -> Response:
        user = get_user_model().objects.filter(pk=pk).first()
        if user is None:
            raise NotFound()
        data = TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scopes = data.validated_data["scopes"]
        allowed = {c.value for c in PERMISSIONS.get(Role(user.role), frozenset())}
        extra = [s for s in scopes if s not in allowed]
        if extra:
            raise ValidationError({"scopes": [f"Not capabilities of this user's role: {', '.join(extra)}."]})
        with transaction.atomic():
            token, raw = ApiToken.issue(
                user, data.validated_data["name"], days=data.validated_data["days"], scopes=scopes
            )
        return Response(
            {
                "token": raw,
                "id": token.pk,
                "user": user.pk,
                "scopes": token.scopes,
                "expires_at": token.expires_at.isoformat(),
            },
            status=201,
        )


MAX_ID = 2**63 - 1


@extend_schema_field({"type": "string", "pattern": "^[0-9]{1,19}$"})
class IdField(serializers.Field):
    """A row id given as a string of digits (ids are 64-bit: JSON numbers may lose precision)."""

    def __init__(self, what: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.what = what

    def to_internal_value(self, data: Any) -> int:
        text = str(data) if isinstance(data, int) and not isinstance(data, bool) else data
        if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 19:
            raise serializers.ValidationError(f"A {self.what} id (digits).")
        value = int(text)
        if not 0 < value <= MAX_ID:
            raise serializers.ValidationError(f"No such {self.what}: {value}.")
        return value

    def to_representation(self, value: Any) -> str:
        return str(value)


class AssignmentsSerializer(serializers.Serializer):
    whole_archive = serializers.BooleanField(required=False, default=False)
    source_ids = serializers.ListField(
        child=IdField("source"), required=False, default=list, max_length=10_000
    )
    matter_ids = serializers.ListField(
        child=IdField("matter"), required=False, default=list, max_length=10_000
    )


class UserAssignmentsView(AuditedAPIView):
    """A user's review scope (``accounts.scope``): GET shows it, PUT replaces it with
    ``{"whole_archive": bool, "source_ids": [...], "matter_ids": [...]}`` (unknown ids: 400,
    nothing changed). Ids only; no content."""

    capability = Capability.ASSIGN_SCOPE
    audit_action = {"GET": "user.assignments.read", "PUT": "user.assignments.set"}
    audit_target_type = "user"

    def _user(self, pk: int) -> Any:
        self.note.target_id = str(pk)
        user = get_user_model().objects.filter(pk=pk).first()
        if user is None:
            raise NotFound()
        return user

    @extend_schema(responses={200: dict})
    def get(self, request: Request, pk: int) -> Response:
        found = scope.assignments_of(self._user(pk))
        self.note.result_count = len(found["source_ids"]) + len(found["matter_ids"])
        return Response(found)

    @extend_schema(request=AssignmentsSerializer, responses={200: dict})
    def put(self, request: Request, pk: int) -> Response:
        user = self._user(pk)
        data = AssignmentsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            found = scope.set_assignments(
                user,
                whole_archive=v["whole_archive"],
                source_ids=v["source_ids"],
                matter_ids=v["matter_ids"],
            )
        except scope.UnknownIds as exc:
            raise ValidationError({exc.field: [f"No such id: {', '.join(map(str, exc.ids))}."]}) from None
        self.note.detail = "whole_archive" if found["whole_archive"] else "assigned"
        self.note.result_count = len(found["source_ids"]) + len(found["matter_ids"])
        return Response(found)

"""Health, login tokens and the purpose of access."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import ApiToken
from accounts.roles import Capability
from dmvault.api.audit import AuditedAPIView
from dmvault.api.permissions import AUTHENTICATED, PUBLIC
from dmvault.api.purpose import active_purpose, declare, open_reason
from dmvault.api.throttling import AnonThrottle, LoginThrottle, UserThrottle


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class HealthView(AuditedAPIView):
    """Liveness. Unauthenticated, but audited (as anonymous) like everything else."""

    capability = PUBLIC
    audit_action = "system.health"

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False)
    name = serializers.CharField(max_length=100, required=False, default="login")


_BAD_LOGIN = "Invalid username or password, or the account is temporarily locked."


class TokenView(AuditedAPIView):
    """POST: username + password → a bearer token (shown once). DELETE: revoke the token in use."""

    capability = {"POST": PUBLIC, "DELETE": AUTHENTICATED}
    audit_action = {"POST": "auth.login", "DELETE": "auth.logout"}
    audit_target_type = "api_token"

    def get_throttles(self) -> list[Any]:
        if self.request.method == "POST":
            return [LoginThrottle(), AnonThrottle()]
        return [UserThrottle()]

    @extend_schema(request=LoginSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username, password = data.validated_data["username"], data.validated_data["password"]
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        now = timezone.now()
        if user is None:
            self.note.detail = "unknown_user"
            raise AuthenticationFailed(_BAD_LOGIN)
        self.note.actor = user
        if user.locked_until and user.locked_until > now:
            self.note.detail = "locked"
            raise AuthenticationFailed(_BAD_LOGIN)
        if authenticate(request._request, username=username, password=password) is None:
            failures = user.failed_logins + 1
            locked = None
            if failures >= settings.DMVAULT_LOGIN_MAX_FAILURES:
                locked = now + timedelta(seconds=settings.DMVAULT_LOGIN_LOCKOUT_SECONDS)
                failures = 0
            user_model.objects.filter(pk=user.pk).update(failed_logins=failures, locked_until=locked)
            self.note.detail = "locked_now" if locked else "bad_password"
            raise AuthenticationFailed(_BAD_LOGIN)
        user_model.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None, last_login=now)
        with transaction.atomic():
            token, raw = ApiToken.issue(
                user, data.validated_data["name"], days=settings.DMVAULT_LOGIN_TOKEN_DAYS
            )
        self.note.target_id = str(token.pk)
        return Response(
            {"token": raw, "id": token.pk, "expires_at": _iso(token.expires_at), "role": user.role},
            status=201,
        )

    def delete(self, request: Request) -> Response:
        token = request.auth
        if not isinstance(token, ApiToken):
            raise ValidationError(
                {"authorization": ["This request did not use a bearer token, so there is none to revoke."]}
            )
        self.note.target_id = str(token.pk)
        with transaction.atomic():
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        return Response(status=204)


class PurposeSerializer(serializers.Serializer):
    matter = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9 ._/#:-]*$",
        max_length=100,
        error_messages={"invalid": "Use a matter or case reference: letters, digits, spaces and . _ / # : -"},
    )
    reason = serializers.CharField(min_length=10, max_length=2000)


class PurposeView(AuditedAPIView):
    """GET: the purpose in force for this session/token. POST: declare one (matter + reason)."""

    capability = Capability.READ_CONTENT
    audit_action = {"GET": "purpose.read", "POST": "purpose.declare"}
    audit_target_type = "purpose"

    @staticmethod
    def _out(purpose: Any) -> dict[str, Any]:
        return {
            "id": str(purpose.pk),
            "matter": purpose.matter_ref,
            "reason": open_reason(purpose),
            "created_at": _iso(purpose.created_at),
            "expires_at": _iso(purpose.expires_at),
        }

    def get(self, request: Request) -> Response:
        purpose = active_purpose(request)
        if purpose is None:
            raise NotFound("No purpose of access is declared for this session or token.")
        self.note.target_id = str(purpose.pk)
        return Response(self._out(purpose))

    @extend_schema(request=PurposeSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        data = PurposeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        purpose = declare(request, data.validated_data["matter"].strip(), data.validated_data["reason"])
        self.note.target_id = str(purpose.pk)
        return Response(self._out(purpose), status=201)

"""``AuditedAPIView``: the base of every API view.

Each request writes exactly one audit event **before** its response is released: allowed,
refused (401/403/404/405/429), invalid (400) and failed (500) requests alike. Events the services
record during the request (``hold.place``, ``subject.erase`` ...) are folded into it
(``compliance.audit.request_scope``; its ``service_events``), not written on their own. If the event
cannot be written the client gets 503 and nothing else (fail closed); for unsafe methods the
view's own writes are rolled back with it, so an unaudited change never persists.

Views tell the audit what they did through ``self.note`` (target id, result count, query,
detail, and the actor of a login attempt).
"""

from __future__ import annotations

import logging
import re
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from accounts.models import ApiToken
from compliance.audit import AuditWriteError, Event, record_request, request_scope
from compliance.models import Outcome
from dmvault.api.errors import error_response

logger = logging.getLogger("dmvault.api")

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass
class Note:
    target_id: str = ""
    result_count: int | None = None
    query: str | None = None
    detail: str = ""
    actor: Any = None  # a User, for endpoints that identify the caller themselves (login)


def outcome_for(status_code: int) -> str:
    if status_code < 400:
        return Outcome.ALLOWED
    return {
        400: Outcome.INVALID,
        401: Outcome.UNAUTHENTICATED,
        403: Outcome.DENIED,
        404: Outcome.NOT_FOUND,
        405: Outcome.NOT_FOUND,
        429: Outcome.THROTTLED,
    }.get(status_code, Outcome.ERROR if status_code >= 500 else Outcome.INVALID)


def client_ip(request: HttpRequest) -> str:
    hops = settings.DMVAULT_TRUSTED_PROXIES
    if hops:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", "") or ""
    return "/" + _CONVERTER.sub(r"{\1}", route).lstrip("^").rstrip("$")


class AuditedAPIView(APIView):
    # What the view needs; ``None`` (the default) means refused. See dmvault.api.permissions.
    capability: ClassVar[Any] = None
    requires_purpose: ClassVar[bool] = False
    # The audit action, per HTTP method or one for all (e.g. "message.read").
    audit_action: ClassVar[str | dict[str, str]] = "api.request"
    audit_target_type: ClassVar[str] = ""

    note: Note

    def action_for(self, method: str) -> str:
        if isinstance(self.audit_action, dict):
            return self.audit_action.get(method, self.audit_action.get("*", "api.request"))
        return self.audit_action

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.note = Note(target_id=str(kwargs.get("pk", "")) if kwargs.get("pk") is not None else "")
        self.request_id = uuid.uuid4().hex
        unsafe = request.method not in SAFE_METHODS
        # The services' own events (hold.place, subject.erase ...) are folded into this one.
        with request_scope() as scope:
            try:
                with transaction.atomic() if unsafe else nullcontext():
                    response = super().dispatch(request, *args, **kwargs)
                    if unsafe and transaction.get_connection().needs_rollback:
                        raise _BrokenTransaction
                    event = self._write_event(response)
            except _BrokenTransaction:
                # The view left the transaction unusable: its writes are gone; record a 500.
                scope.discard()
                response = self.finalize_response(
                    self.request,
                    error_response(500, "internal_error", "An internal error occurred; it has been logged."),
                )
                try:
                    event = self._write_event(response)
                except AuditWriteError:
                    return self._fail_closed()
            except AuditWriteError:
                logger.exception("audit write failed; refusing the request (request %s)", self.request_id)
                return self._fail_closed()
        response["X-Request-ID"] = self.request_id
        response["X-Audit-Event"] = str(event.event_id)
        return response

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        # Errors are always JSON in the one error shape, whatever the view renders otherwise
        # (the schema's YAML, the docs' HTML).
        if getattr(response, "status_code", 200) >= 400 and isinstance(getattr(response, "data", None), dict):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    def _fail_closed(self) -> Any:
        response = error_response(
            503, "audit_unavailable", "The request could not be recorded in the audit log, so it was refused."
        )
        response = self.finalize_response(self.request, response)
        response["X-Request-ID"] = self.request_id
        response.render()
        return response

    def _actor(self) -> tuple[Any, str, Any]:
        """(user or None, auth method, token or None) without re-running authentication."""
        request = self.request
        user = getattr(request, "_user", None)
        auth = getattr(request, "_auth", None)
        if self.note.actor is not None:
            return self.note.actor, "password", None
        if user is None or not getattr(user, "is_authenticated", False):
            return None, "anonymous", None
        if isinstance(auth, ApiToken):
            return user, "token", auth
        return user, "session", None

    def _write_event(self, response: Any) -> Any:
        request = self.request
        user, method, token = self._actor()
        purpose = getattr(request, "_dmv_purpose", None) or None
        status_code = response.status_code
        detail = self.note.detail
        if status_code >= 400 and not detail and isinstance(getattr(response, "data", None), dict):
            error = response.data.get("error") or {}
            detail = str(error.get("code") or "")
        return record_request(
            Event(
                action=self.action_for(request.method or ""),
                outcome=outcome_for(status_code),
                actor_id=user.pk if user is not None else None,
                actor_name=user.get_username() if user is not None else "",
                role=getattr(user, "role", "") if user is not None else "",
                auth_method=method,
                credential_id=token.pk if token is not None else None,
                http_method=request.method or "",
                route=route_of(request),
                target_type=self.audit_target_type,
                target_id=self.note.target_id,
                query=self.note.query,
                result_count=self.note.result_count,
                purpose_id=purpose.pk if purpose is not None else None,
                matter_ref=purpose.matter_ref if purpose is not None else "",
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                request_id=self.request_id,
                status_code=status_code,
                detail=detail,
            )
        )


class _BrokenTransaction(Exception):
    pass

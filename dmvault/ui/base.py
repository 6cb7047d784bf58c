"""``UIView``: the base of every UI page and action.

The same rules as the API (``dmvault.api.audit.AuditedAPIView``), for server-rendered pages:

* every request writes exactly one audit event (``compliance.audit.record``) before the response
  is released: shown, redirected to sign-in, refused, invalid or failed alike; if the event
  cannot be written the response is a 503 page and nothing else (fail closed), and for POSTs the
  view's writes are rolled back with it; events the services record meanwhile (``hold.place``,
  ``consent.record`` ...) are folded into that one event (``compliance.audit.request_scope``);
* each view declares the ``Capability`` it needs (``accounts.roles``); a view that declares
  nothing is refused; reviewing roles must have declared a purpose of access for this browser
  session (the API's ``Purpose`` mechanism) before any view with ``requires_purpose`` runs.

Views tell the audit what they did through ``self.note`` (target, count, query, detail).
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from accounts.roles import REVIEWING_ROLES, Capability
from compliance.audit import AuditWriteError, Event, record_request, request_scope
from compliance.models import Outcome
from dmvault.api.audit import client_ip, outcome_for, route_of
from dmvault.api.purpose import active_purpose

logger = logging.getLogger("dmvault.ui")

PUBLIC = "public"
AUTHENTICATED = "authenticated"
TZ_COOKIE = "dmv_tz"

# Content-Security-Policy for every UI page: only this origin's scripts, styles and images
# (attachment images come through the audited attachment view); no frames, no plugins.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass
class Note:
    target_id: str = ""
    result_count: int | None = None
    query: str | None = None
    detail: str = ""
    outcome: str | None = None  # overrides the outcome derived from the status code
    actor: Any = None  # a User, for sign-in attempts and sign-out
    auth_method: str = ""


class Refused(Exception):
    """Raised by a view to answer with an error page (403, 404, 400) and the matching audit."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def viewer_timezone(request: HttpRequest) -> str:
    """The browser's IANA time zone (set by app.js in a cookie), UTC when unknown or invalid."""
    name = unquote(request.COOKIES.get(TZ_COOKIE, "")) or "UTC"
    if len(name) > 64:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


class UIView(View):
    capability: ClassVar[Capability | str | None] = None
    requires_purpose: ClassVar[bool] = False
    audit_action: str | dict[str, str] = "ui.page"
    audit_target_type: str = ""

    note: Note
    request_id: str
    _rollback: bool = False

    def action_for(self, method: str) -> str:
        if isinstance(self.audit_action, dict):
            return self.audit_action.get(method, self.audit_action.get("*", "ui.page"))
        return self.audit_action

    # -- permission ---------------------------------------------------------------------------

    def check(self, request: HttpRequest) -> HttpResponse | None:
        """None when allowed; otherwise the response (sign-in redirect, refusal, purpose prompt)."""
        required = self.capability
        if required is None:
            raise Refused(403, "This page declares no capability, so it is refused.", "no_capability")
        if required == PUBLIC:
            return None
        user = request.user
        if not user.is_authenticated:
            self.note.outcome = Outcome.UNAUTHENTICATED
            self.note.detail = "sign_in_required"
            login = reverse("ui:login")
            nxt = request.get_full_path() if request.method == "GET" else ""
            return HttpResponseRedirect(login + ("?" + urlencode({"next": nxt}) if nxt else ""))
        if not user.is_active:
            raise Refused(403, "This account is disabled.", "account_disabled")
        if required == AUTHENTICATED:
            return None
        if not user.can(Capability(required)):
            raise Refused(
                403, f"Your role may not {Capability(required).value.replace('_', ' ')}.", "role_forbidden"
            )
        if self.requires_purpose and user.role in REVIEWING_ROLES and active_purpose(request) is None:
            self.note.outcome = Outcome.DENIED
            self.note.detail = "purpose_required"
            nxt = request.get_full_path() if request.method == "GET" else reverse("ui:home")
            return HttpResponseRedirect(reverse("ui:purpose") + "?" + urlencode({"next": nxt}))
        return None

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        started = time.perf_counter()
        self.note = Note(target_id=str(kwargs.get("pk", "")) if kwargs.get("pk") is not None else "")
        self.request_id = uuid.uuid4().hex
        tz = viewer_timezone(request)
        timezone.activate(ZoneInfo(tz))
        request.viewer_tz = tz  # type: ignore[attr-defined]
        unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
        self._rollback = False
        # The services' own events (hold.place, subject.erase ...) are folded into this one.
        with request_scope() as scope:
            try:
                with transaction.atomic() if unsafe else nullcontext():
                    response = self._respond(request, *args, **kwargs)
                    if unsafe and (self._rollback or transaction.get_connection().needs_rollback):
                        raise _BrokenTransaction(response)
                    event = self._write_event(request, response)
            except _BrokenTransaction as rolled_back:
                # The view's writes are gone (and with them what the services recorded).
                # A refusal keeps its page; a broken transaction is a 500.
                scope.discard()
                if self._rollback:
                    response = rolled_back.response
                else:
                    response = self._error_page(
                        request, 500, "An internal error occurred; it has been logged."
                    )
                try:
                    event = self._write_event(request, response)
                except AuditWriteError:
                    return self._fail_closed(request)
            except AuditWriteError:
                logger.exception("audit write failed; refusing the request (request %s)", self.request_id)
                return self._fail_closed(request)
            finally:
                timezone.deactivate()
        response["X-Request-ID"] = self.request_id
        response["X-Audit-Event"] = str(event.event_id)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        response.setdefault("Content-Security-Policy", CSP)
        response["Cache-Control"] = "no-store"
        return response

    def _respond(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            refused = self.check(request)
            if refused is not None:
                return refused
            handler = getattr(self, (request.method or "get").lower(), None)
            if handler is None or request.method not in ("GET", "POST", "HEAD"):
                raise Refused(405, "This page does not accept that method.", "method_not_allowed")
            response: HttpResponse = handler(request, *args, **kwargs)
            return response
        except Refused as exc:
            self.note.detail = self.note.detail or exc.code
            self._rollback = True
            return self._error_page(request, exc.status, exc.message)
        except Exception:
            logger.exception("UI view failed (request %s)", self.request_id)
            self._rollback = True
            self.note.detail = self.note.detail or "internal_error"
            return self._error_page(request, 500, "An internal error occurred; it has been logged.")

    def _error_page(self, request: HttpRequest, status: int, message: str) -> HttpResponse:
        titles = {
            400: "Invalid request",
            403: "Not allowed",
            404: "Not found",
            405: "Not allowed",
            500: "Error",
        }
        return render(
            request,
            "ui/error.html",
            {"status": status, "title": titles.get(status, "Error"), "message": message},
            status=status,
        )

    def _fail_closed(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(
            "<!doctype html><title>Unavailable</title><h1>Unavailable</h1>"
            "<p>The request could not be recorded in the audit log, so it was refused.</p>",
            status=503,
        )
        response["X-Request-ID"] = self.request_id
        response["Content-Security-Policy"] = CSP
        return response

    def _write_event(self, request: HttpRequest, response: HttpResponse) -> Any:
        user = request.user if request.user.is_authenticated else None
        method = "session"
        if self.note.actor is not None:
            user, method = self.note.actor, self.note.auth_method or "password"
        elif user is None:
            method = "anonymous"
        purpose = getattr(request, "_dmv_purpose", None) or None
        outcome = self.note.outcome or outcome_for(response.status_code)
        return record_request(
            Event(
                action=self.action_for(request.method or ""),
                outcome=outcome,
                actor_id=user.pk if user is not None else None,
                actor_name=user.get_username() if user is not None else "",
                role=getattr(user, "role", "") if user is not None else "",
                auth_method=method,
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
                status_code=response.status_code,
                detail=self.note.detail,
            )
        )


class _BrokenTransaction(Exception):
    def __init__(self, response: HttpResponse) -> None:
        super().__init__("rolled back")
        self.response = response

"""Every request to the Django admin (``/admin/``) and to single sign-on (``/oidc/``) writes
exactly one audit event (issue 7, item 4).

The same contract as the API (``dmvault.api.audit.AuditedAPIView``) and the UI
(``dmvault.ui.base.UIView``), as a middleware because these views are Django's and
mozilla-django-oidc's own:

* one event per request, written before the response is released. Admin: action
  ``admin.<url name>`` (``admin.compliance_retentionpolicy_change``), the model as target type and
  the object id as target; a request the admin site refuses (its redirect to sign-in) is recorded
  as ``unauthenticated`` or ``denied``. Single sign-on: ``auth.sso.start``, ``auth.sso.login``
  (the callback; a refused sign-in, sent back to ``/login/?sso=failed``, is ``denied``),
  ``auth.sso.logout``, ``auth.sso.token``;
* the events recorded meanwhile (the SSO backend's ``auth.sso.login`` with its reason, services
  called by an admin action) are folded into it (``compliance.audit.request_scope``);
* unsafe methods run in one transaction: a failed view (5xx) is rolled back (and what it folded
  discarded), and if the event cannot be written the answer is 503 and the writes are rolled
  back (Django's session middleware does not save a session on a 5xx answer, so a sign-in, a
  sign-out or a password change does not half-happen either).

It must come after the authentication middleware (it reads ``request.user``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from compliance.audit import AuditWriteError, Event, record_request, request_scope
from compliance.models import Outcome
from dmvault.api.audit import client_ip, outcome_for, route_of

logger = logging.getLogger("dmvault.audit")

ADMIN_PREFIX = "/admin/"
SSO_PREFIX = "/oidc/"
SSO_ACTIONS = {
    "oidc_authentication_init": "auth.sso.start",
    "oidc_authentication_callback": "auth.sso.login",
    "oidc_logout": "auth.sso.logout",
    "oidc-api-token": "auth.sso.token",
}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class _Broken(Exception):
    """Raised inside the request's transaction to roll the view's writes back."""


class AdminAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith((ADMIN_PREFIX, SSO_PREFIX)):
            return self.get_response(request)
        request_id = uuid.uuid4().hex
        unsafe = request.method not in SAFE_METHODS
        with request_scope() as scope:
            try:
                with transaction.atomic() if unsafe else nullcontext():
                    response = self.get_response(request)
                    if unsafe and (
                        response.status_code >= 500 or transaction.get_connection().needs_rollback
                    ):
                        raise _Broken
                    event = record_request(_event(request, response, request_id))
            except _Broken:
                scope.discard()  # the view's writes are gone, and what they recorded
                response = HttpResponse("<!doctype html><title>Error</title><h1>Error</h1>", status=500)
                try:
                    event = record_request(_event(request, response, request_id))
                except AuditWriteError:
                    return _fail_closed(request_id)
            except AuditWriteError:
                logger.exception("audit write failed; refusing the admin request (request %s)", request_id)
                return _fail_closed(request_id)
        response["X-Request-ID"] = request_id
        response["X-Audit-Event"] = str(event.event_id)
        response["Cache-Control"] = "no-store"
        return response


def _fail_closed(request_id: str) -> HttpResponse:
    response = HttpResponse(
        "<!doctype html><title>Unavailable</title><h1>Unavailable</h1>"
        "<p>The request could not be recorded in the audit log, so it was refused.</p>",
        status=503,
    )
    response["X-Request-ID"] = request_id
    return response


def _event(request: HttpRequest, response: HttpResponse, request_id: str) -> Event:
    user: Any = getattr(request, "user", None)
    if user is not None and not user.is_authenticated:
        user = None
    match = getattr(request, "resolver_match", None)
    url_name = getattr(match, "url_name", "") or ""
    kwargs = getattr(match, "kwargs", None) or {}
    model_admin = getattr(getattr(match, "func", None), "model_admin", None)
    target_type = model_admin.model._meta.label_lower if model_admin is not None else ""
    outcome = outcome_for(response.status_code)
    detail = ""
    location = response.get("Location", "") if response.status_code in (301, 302) else ""
    if request.path.startswith(SSO_PREFIX):
        action = SSO_ACTIONS.get(url_name, "auth.sso")
        if "sso=failed" in location:
            outcome, detail = Outcome.DENIED, "sso_failed"
    else:
        action = f"admin.{url_name or 'page'}"
        if location.startswith(("/login/", ADMIN_PREFIX + "login/")) and url_name != "logout":
            # The admin site sent the caller to sign in: not signed in, or not allowed here.
            outcome = Outcome.UNAUTHENTICATED if user is None else Outcome.DENIED
            detail = "sign_in_required" if user is None else "admin_role_required"
    return Event(
        action=action,
        outcome=outcome,
        actor_id=user.pk if user is not None else None,
        actor_name=user.get_username() if user is not None else "",
        role=getattr(user, "role", "") if user is not None else "",
        auth_method=("sso" if request.path.startswith(SSO_PREFIX) else "session") if user else "anonymous",
        http_method=request.method or "",
        route=route_of(request) if match is not None else request.path[:200],
        target_type=target_type,
        target_id=str(kwargs.get("object_id", "")),
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        request_id=request_id,
        status_code=response.status_code,
        detail=detail,
    )

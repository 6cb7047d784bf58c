"""Capability-based permissions. Each view declares ``capability`` (a ``Capability`` from
``accounts.roles``, or ``PUBLIC`` / ``AUTHENTICATED``); a view that declares nothing is refused.

Refusals by role are 403 and happen before any object is looked up, so they reveal nothing
about whether an object exists; 404 is only ever seen by users allowed to read that kind of
object. Content-reading views also set ``requires_purpose``: reviewing roles must have declared
a purpose of access for the current session or token (403 ``purpose_required`` otherwise).
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from accounts.models import ApiToken
from accounts.roles import REVIEWING_ROLES, Capability
from dmvault.api.purpose import active_purpose

PUBLIC = "public"
AUTHENTICATED = "authenticated"


def capability_of(view: Any, method: str) -> Capability | str | None:
    """The view's declared capability; a dict declares one per HTTP method (others refused)."""
    declared = getattr(view, "capability", None)
    if isinstance(declared, dict):
        return declared.get(method, declared.get("OPTIONS") if method == "OPTIONS" else None)
    return declared


class CapabilityPermission(BasePermission):
    message = "You are not allowed to do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        required = capability_of(view, request.method)
        declared = getattr(view, "capability", None)
        if (
            required is None
            and isinstance(declared, dict)
            and not hasattr(view, (request.method or "").lower())
        ):
            required = AUTHENTICATED  # a method the view lacks: signed-in callers get 405 after the checks
        if required is None:
            raise PermissionDenied(
                "This endpoint declares no capability, so it is refused.", code="no_capability"
            )
        if required == PUBLIC:
            return True
        user = request.user
        if not user or not user.is_authenticated:
            return False  # DRF turns this into 401 with WWW-Authenticate
        if not user.is_active:
            raise PermissionDenied("This account is disabled.", code="account_disabled")
        if required == AUTHENTICATED:
            return True
        if not user.can(Capability(required)):
            raise PermissionDenied(
                f"Your role may not {Capability(required).value.replace('_', ' ')}.", code="role_forbidden"
            )
        token = request.auth
        if isinstance(token, ApiToken) and token.scopes and required not in token.scopes:
            raise PermissionDenied(
                "This token's scopes do not include this operation.", code="scope_forbidden"
            )
        needs_purpose = getattr(view, "requires_purpose", False) and user.role in REVIEWING_ROLES
        if needs_purpose and active_purpose(request) is None:
            raise PermissionDenied(
                "Declare a purpose of access first: POST /api/v1/purpose with a matter reference and a reason.",
                code="purpose_required",
            )
        return True

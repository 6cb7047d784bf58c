"""OpenID Connect single sign-on (mozilla-django-oidc), for the UI and for API tokens.

Off unless ``DMVAULT_OIDC_CLIENT_ID`` and the four provider endpoints are set (a half
configuration fails the system check ``dmvault_ops.E001``). Flow: ``/oidc/authenticate/``
redirects to the provider (authorization code + PKCE + state + nonce); ``/oidc/callback/``
exchanges the code, checks the RS256 id_token against the provider's JWKS, reads the userinfo
and logs the user in (a session, like the password login). ``POST /oidc/api-token`` then issues
an API bearer token (shown once) to a session that signed in through SSO.

Users: an SSO user is the local account ``sso:<sub>`` (never matched by e-mail or name, so
an identity at the provider cannot take over a local account). Their role comes from the
provider's groups claim (``DMVAULT_OIDC_GROUPS_CLAIM``, default ``groups``) through
``DMVAULT_OIDC_ROLE_MAP`` (a JSON object group -> role; the first group in the map's order that
the user has wins) and is re-read at every login; a user in no mapped group is refused and an
existing account of theirs is deactivated. Logins, refusals and token issuance are audited.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_POST
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

log = logging.getLogger(__name__)
BACKEND_PATH = "dmvault.ops.sso.RoleMappingOIDCBackend"


def role_map() -> dict[str, str]:
    try:
        mapping = json.loads(settings.DMVAULT_OIDC_ROLE_MAP or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def role_for(claims: dict[str, Any]) -> str | None:
    groups = claims.get(settings.DMVAULT_OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    have = {str(g) for g in groups}
    for group, role in role_map().items():
        if group in have:
            return role
    return None


def username_for(claims: dict[str, Any]) -> str:
    sub = str(claims.get("sub") or "")
    if not sub:
        raise SuspiciousOperation("the provider sent no subject")
    name = f"sso:{sub}"
    if len(name) > 150:
        name = "sso:" + hashlib.sha256(sub.encode()).hexdigest()
    return name


def _audit(
    action: str, outcome: str, user: Any = None, detail: str = "", request: HttpRequest | None = None
) -> None:
    from compliance.audit import Event, record

    record(
        Event(
            action=action,
            outcome=outcome,
            actor_id=getattr(user, "pk", None),
            actor_name=getattr(user, "username", "") or "",
            role=getattr(user, "role", "") or "",
            auth_method="sso",
            http_method=request.method or "" if request else "",
            route=request.path if request else "",
            ip=(request.META.get("REMOTE_ADDR") or "") if request else "",
            user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:300] if request else "",
            target_type="user",
            target_id=str(getattr(user, "pk", "") or ""),
            detail=detail[:200],
        )
    )


class RoleMappingOIDCBackend(OIDCAuthenticationBackend):
    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        # Only the callback view may run the code exchange (never a password login that
        # happens to carry ?code=&state= in its URL).
        if request is None or request.path != reverse("oidc_authentication_callback"):
            return None
        try:
            return super().authenticate(request, **kwargs)
        except SuspiciousOperation as exc:  # a bad signature, nonce or claims: a refusal, not a 400
            log.warning("single sign-on refused (%s)", type(exc).__name__)
            _audit("auth.sso.login", "denied", None, "token verification failed", request)
            return None

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(username=username_for(claims))

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if role_for(claims) is not None:
            return True
        user = self.UserModel.objects.filter(username=username_for(claims)).first()
        if user is not None and user.is_active:  # removed from every mapped group at the provider
            self.UserModel.objects.filter(pk=user.pk).update(is_active=False)
        _audit("auth.sso.login", "denied", user, "no mapped group", getattr(self, "request", None))
        return False

    def create_user(self, claims: dict[str, Any]) -> Any:
        user = self.UserModel(
            username=username_for(claims), email=str(claims.get("email") or "")[:254], role=role_for(claims)
        )
        user.set_unusable_password()
        user.save()
        _audit("auth.sso.login", "allowed", user, "account created", getattr(self, "request", None))
        return user

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        role = role_for(claims)
        changed: list[str] = []
        if user.role != role:
            user.role, changed = role, [*changed, "role"]
        if not user.is_active:
            user.is_active, changed = True, [*changed, "is_active"]
        email = str(claims.get("email") or "")[:254]
        if email and user.email != email:
            user.email, changed = email, [*changed, "email"]
        if changed:
            user.save(update_fields=changed)
        _audit("auth.sso.login", "allowed", user, f"updated: {', '.join(changed) or 'nothing'}", self.request)
        return user


def _enabled(view: Any) -> Any:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.DMVAULT_OIDC_ENABLED:
            raise Http404("single sign-on is not configured")
        return view(request, *args, **kwargs)

    return wrapper


authenticate_view = _enabled(OIDCAuthenticationRequestView.as_view())
callback_view = _enabled(OIDCAuthenticationCallbackView.as_view())
logout_view = _enabled(OIDCLogoutView.as_view())


@_enabled
@require_POST
def api_token_view(request: HttpRequest) -> HttpResponse:
    """Issue an API token to a session that signed in with SSO (shown once)."""
    from accounts.models import ApiToken

    user = request.user
    if not user.is_authenticated or request.session.get(BACKEND_SESSION_KEY) != BACKEND_PATH:
        return JsonResponse(
            {
                "error": {
                    "code": "sso_required",
                    "message": "Sign in with single sign-on first.",
                    "field": None,
                }
            },
            status=403,
        )
    name = (request.POST.get("name") or "sso").strip()[:100] or "sso"
    with transaction.atomic():
        token, raw = ApiToken.issue(user, name, days=settings.DMVAULT_LOGIN_TOKEN_DAYS)
        _audit("auth.sso.token", "allowed", user, f"token {token.pk}", request)
    return JsonResponse(
        {"token": raw, "id": str(token.pk), "expires_at": token.expires_at.isoformat()},
        status=201,
    )

"""Authentication: hashed API tokens (``Authorization: Bearer dmv_…``) and sessions for the UI."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import TOKEN_PREFIX, ApiToken


class BearerTokenAuthentication(BaseAuthentication):
    """Looks the token up by its SHA-256; expired, revoked or inactive-user tokens fail."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Malformed bearer token.") from None
        if not raw.startswith(TOKEN_PREFIX):
            raise AuthenticationFailed("Malformed bearer token.")
        token = ApiToken.authenticate(raw)
        if token is None:
            raise AuthenticationFailed("The token is invalid, expired or revoked.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="dmvault"'


class CsrfSessionAuthentication(SessionAuthentication):
    """Session login for the browser UI; DRF enforces CSRF on unsafe methods."""

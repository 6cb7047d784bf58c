"""Purpose of access: reviewing roles (compliance officer, legal) declare a matter/case reference
and a reason once per working session (browser session) or per token, before reading content.

The reason is the reviewer's own words, so it is sealed through the vault; the matter reference
is a case number and stays plain so the audit log can be filtered by it. Every content read
records the purpose id and matter reference in its audit event.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken
from archive.vault import get_vault
from compliance.models import Purpose

REASON_SCOPE = "audit:purpose"
REASON_FIELD = "purpose.reason"


def credential_of(request: Any) -> str | None:
    """What a purpose is bound to: the API token in use, or the browser session."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return f"token:{auth.pk}"
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        return "session:" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return None


def active_purpose(request: Any) -> Purpose | None:
    cached: Purpose | bool | None = getattr(request, "_dmv_purpose", False)
    if cached is not False:
        return cached if isinstance(cached, Purpose) else None
    credential = credential_of(request)
    found = None
    if credential is not None and request.user.is_authenticated:
        found = (
            Purpose.objects.filter(user=request.user, credential=credential, expires_at__gt=timezone.now())
            .order_by("-created_at")
            .first()
        )
    request._dmv_purpose = found
    return found


def declare(request: Any, matter_ref: str, reason: str) -> Purpose:
    credential = credential_of(request)
    if credential is None:
        raise ValueError("no token or session to bind the purpose to")
    now = timezone.now()
    expires = now + timedelta(seconds=settings.DMVAULT_PURPOSE_SECONDS)
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken) and auth.expires_at < expires:
        expires = auth.expires_at
    purpose = Purpose(
        user=request.user, credential=credential, matter_ref=matter_ref, created_at=now, expires_at=expires
    )
    purpose.reason_dek_id, purpose.reason_ct = get_vault().seal_field(
        REASON_SCOPE, REASON_FIELD, purpose.id, reason.encode()
    )
    with transaction.atomic():
        purpose.save(force_insert=True)
    request._dmv_purpose = purpose
    return purpose


def open_reason(purpose: Purpose) -> str | None:
    from archive.vault import KeyDestroyed

    try:
        return (
            get_vault()
            .open_field(purpose.reason_dek_id, REASON_FIELD, purpose.id, bytes(purpose.reason_ct))
            .decode()
        )
    except KeyDestroyed:
        return None

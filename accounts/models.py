from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from accounts.roles import Capability, Role, role_can

TOKEN_PREFIX = "dmv_"


class User(AbstractUser):
    role = models.CharField(
        max_length=32, choices=[(r.value, r.label) for r in Role], default=Role.COMPLIANCE_OFFICER
    )
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    # Review scope (``accounts.scope.scope_for``): what an officer or a lawyer may read. A new user
    # has none of these and so reads nothing; an administrator assigns them.
    whole_archive = models.BooleanField(
        default=False, help_text="may read the whole archive (small deployments); overrides the assignments"
    )
    assigned_sources = models.ManyToManyField(
        "archive.Source", blank=True, related_name="+", help_text="imports whose messages this user may read"
    )
    assigned_matters = models.ManyToManyField(
        "compliance.Matter",
        blank=True,
        related_name="+",
        help_text="legal matters whose sources, conversations and custodians this user may read",
    )

    def can(self, capability: Capability) -> bool:
        return self.is_active and role_can(self.role, capability)


def hash_token(raw: str) -> str:
    # Tokens are 256-bit random values, so one unsalted SHA-256 is enough to make a stolen
    # token table useless, and it lets us look a token up by its hash in one query.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def live(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True)


class ApiToken(models.Model):
    """An API token, stored only as its SHA-256; the raw value is shown once, at creation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to tell tokens apart")
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(
        cls, user: User, name: str, *, days: int = 90, scopes: list[str] | None = None
    ) -> tuple[ApiToken, str]:
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            token_hash=hash_token(raw),
            prefix=raw[:12],
            scopes=scopes or [],
            expires_at=timezone.now() + timedelta(days=days),
        )
        return token, raw

    @classmethod
    def authenticate(cls, raw: str) -> ApiToken | None:
        return cls.objects.live().select_related("user").filter(token_hash=hash_token(raw)).first()

"""Redaction configuration and reversible ingest tokens (issue 4, integration).

* :class:`RedactionRule` wraps :class:`compliance.redaction.rules.CustomRule`; saving runs
  ``CustomRule.validate()`` so a rule whose own examples fail is refused with a
  ``ValidationError`` naming the failing example.
* :class:`RedactionPolicy`: modes per type, types on/off, region hints, whether it applies at
  ingest, and what each reviewing role sees at view time.
* :class:`SourceRedaction`: the policy a source is imported under (``archive.models`` stays
  untouched).
* :class:`RedactionToken`: the original of a value tokenized at ingest, sealed through the
  vault, so a role with ``REVEAL_REDACTED`` can reveal it (audited).

Imported at the end of ``compliance.models`` so the app registry sees these models.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.roles import Role
from archive.ids import random_id
from compliance.redaction.findings import ALL_TYPES
from compliance.redaction.modes import MODES, TOKENIZE, Policy
from compliance.redaction.rules import CustomRule

__all__ = ["RedactionPolicy", "RedactionRule", "RedactionToken", "SourceRedaction"]

VIEW_REDACTED = "redacted"
VIEW_CLEAR = "clear"
VIEWS = (VIEW_REDACTED, VIEW_CLEAR)
ROLE_VIEW_KEYS = {"view", "clear_for_matters", "mode"}


def _string_list(value: Any, field: str) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({field: "Give a list of strings."})


class RedactionRule(models.Model):
    """An admin-configured detection rule (a regex or keywords, gated by context words)."""

    name = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=40, help_text="e.g. EMPLOYEE_ID, or a built-in type such as EMAIL")
    regex = models.TextField(blank=True)
    keywords = models.JSONField(default=list, blank=True)
    context_words = models.JSONField(default=list, blank=True)
    context_window = models.PositiveIntegerField(default=40)
    allow = models.JSONField(default=list, blank=True)
    case_sensitive = models.BooleanField(default=False)
    confidence = models.FloatField(default=0.8)
    examples_must_match = models.JSONField(default=list, blank=True)
    examples_must_not_match = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"Redaction rule {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.clean()
        self.updated_at = timezone.now()
        super().save(*args, **kwargs)

    def to_custom_rule(self) -> CustomRule:
        return CustomRule(
            name=self.name,
            type=self.type,
            regex=self.regex or None,
            keywords=tuple(self.keywords or ()),
            context_words=tuple(self.context_words or ()),
            context_window=self.context_window,
            allow=tuple(self.allow or ()),
            case_sensitive=self.case_sensitive,
            confidence=self.confidence,
            examples_must_match=tuple(self.examples_must_match or ()),
            examples_must_not_match=tuple(self.examples_must_not_match or ()),
            enabled=self.enabled,
        )

    def clean(self) -> None:
        for name in ("keywords", "context_words", "allow", "examples_must_match", "examples_must_not_match"):
            _string_list(getattr(self, name), name)
        if not 0.0 <= self.confidence <= 1.0:
            raise ValidationError({"confidence": "Give a confidence between 0 and 1."})
        try:
            self.to_custom_rule().validate()
        except ValueError as exc:
            message = str(exc)
            if "example must not match" in message:
                field = "examples_must_not_match"
            elif "example must match" in message:
                field = "examples_must_match"
            elif "invalid type" in message:
                field = "type"
            else:
                field = "regex" if self.regex else "keywords"
            raise ValidationError({field: message}) from None


class RedactionPolicy(models.Model):
    """How to redact, where, and what each role sees.

    ``role_views`` maps a role to ``{"view": "redacted" | "clear", "clear_for_matters": [...],
    "mode": <mode overriding every type's mode for this role>}``; a reviewing role missing from
    it sees redacted text. ``use_for_viewing`` marks the one policy applied at view time.
    """

    name = models.CharField(max_length=100, unique=True)
    default_mode = models.CharField(max_length=16, default="label", choices=[(m, m) for m in MODES])
    type_modes = models.JSONField(default=dict, blank=True)  # {"EMAIL": "tokenize", ...}
    disabled_types = models.JSONField(default=list, blank=True)  # built-in or rule types turned off
    region_hints = models.JSONField(default=list, blank=True)  # phone regions tried first
    allow_list = models.JSONField(default=list, blank=True)  # exact values never redacted
    all_rules = models.BooleanField(default=True, help_text="apply every enabled rule, not only `rules`")
    rules = models.ManyToManyField(RedactionRule, blank=True, related_name="policies")
    apply_at_ingest = models.BooleanField(default=False)
    use_for_viewing = models.BooleanField(default=False)
    role_views = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["use_for_viewing"],
                condition=models.Q(use_for_viewing=True),
                name="one_redaction_view_policy",
            )
        ]

    def __str__(self) -> str:
        return f"Redaction policy {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.clean()
        self.updated_at = timezone.now()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if not isinstance(self.type_modes, dict):
            raise ValidationError({"type_modes": "Give an object of type → mode."})
        for t, m in self.type_modes.items():
            if m not in MODES:
                raise ValidationError(
                    {"type_modes": f"Unknown mode {m!r} for {t}; known: {', '.join(MODES)}."}
                )
        if self.default_mode not in MODES:
            raise ValidationError({"default_mode": f"Unknown mode {self.default_mode!r}."})
        for name in ("disabled_types", "region_hints", "allow_list"):
            _string_list(getattr(self, name), name)
        for region in self.region_hints:
            if len(region) != 2 or not region.isalpha():
                raise ValidationError({"region_hints": f"{region!r} is not a two-letter region code."})
        if not isinstance(self.role_views, dict):
            raise ValidationError({"role_views": "Give an object of role → view settings."})
        roles = {r.value for r in Role}
        for role, cfg in self.role_views.items():
            if role not in roles:
                raise ValidationError({"role_views": f"Unknown role {role!r}."})
            if not isinstance(cfg, dict) or not set(cfg) <= ROLE_VIEW_KEYS:
                raise ValidationError(
                    {"role_views": f"{role}: give an object with keys {', '.join(sorted(ROLE_VIEW_KEYS))}."}
                )
            if cfg.get("view", VIEW_REDACTED) not in VIEWS:
                raise ValidationError({"role_views": f"{role}: view must be one of {', '.join(VIEWS)}."})
            if cfg.get("mode") is not None and cfg["mode"] not in MODES:
                raise ValidationError({"role_views": f"{role}: unknown mode {cfg['mode']!r}."})
            _string_list(cfg.get("clear_for_matters", []), "role_views")

    # -- helpers for the service --------------------------------------------------------------
    def known_types(self) -> tuple[str, ...]:
        return ALL_TYPES

    def role_view(self, role: str) -> dict[str, Any]:
        cfg = self.role_views.get(role) if isinstance(self.role_views, dict) else None
        return dict(cfg) if isinstance(cfg, dict) else {"view": VIEW_REDACTED}

    def mode_policy(self, *, hmac_key: bytes, mode_override: str | None = None) -> Policy:
        if mode_override:
            return Policy(default_mode=mode_override, per_type={}, hmac_key=hmac_key)
        return Policy(default_mode=self.default_mode, per_type=dict(self.type_modes), hmac_key=hmac_key)

    def uses_tokens(self) -> bool:
        return self.default_mode == TOKENIZE or TOKENIZE in self.type_modes.values()


class SourceRedaction(models.Model):
    """The policy a source is imported under (redaction at ingest when ``apply_at_ingest``)."""

    source = models.OneToOneField(
        "archive.Source", primary_key=True, on_delete=models.CASCADE, related_name="redaction"
    )
    policy = models.ForeignKey(RedactionPolicy, on_delete=models.PROTECT, related_name="sources")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Source {self.source_id} → policy {self.policy_id}"


class RedactionToken(models.Model):
    """A value tokenized at ingest: the stored message says ``[TOK:<token_id>]``; the original
    is sealed here (scope ``redaction:src:<source id>``, field ``redaction.token``)."""

    id = models.BigIntegerField(primary_key=True, default=random_id)
    token_id = models.CharField(max_length=32, unique=True)
    source = models.ForeignKey("archive.Source", on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=40)
    dek_id = models.BigIntegerField()
    original_ct = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Redaction token {self.token_id}"

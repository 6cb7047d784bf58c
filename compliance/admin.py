"""Admin registrations of the compliance engine's tables (retention, holds, consent, erasure,
certificates). Content-bearing columns (sealed queries and evidence) are never shown; history
tables (runs, certificates, consent entries, conflicts) are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from compliance.engine_models import (
    Certificate,
    ConsentConflict,
    ConsentRecord,
    ErasureRequest,
    Hold,
    Matter,
    RetentionJob,
    RetentionPolicy,
    RetentionRun,
)


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "period_days", "basis", "action", "priority", "overrides", "locked", "active")
    list_filter = ("action", "locked", "active", "overrides")
    readonly_fields = ("locked_at", "created_at", "created_by")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.locked:  # only period_days (lengthening, checked on save) stays editable
            fields += [*RetentionPolicy.FROZEN_WHEN_LOCKED, "locked", "active", "overrides"]
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not (obj is not None and obj.locked) and super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(RetentionRun)
class RetentionRunAdmin(_ReadOnly):
    list_display = ("id", "as_of", "state", "started_at", "finished_at", "certificate")
    list_filter = ("state",)


@admin.register(RetentionJob)
class RetentionJobAdmin(_ReadOnly):
    list_display = ("id", "status", "policy_id", "requested_by", "created_at", "finished_at", "certificate")
    list_filter = ("status",)


@admin.register(Certificate)
class CertificateAdmin(_ReadOnly):
    list_display = ("id", "kind", "issued_at", "key_id")
    list_filter = ("kind",)


class HoldInline(admin.TabularInline):
    model = Hold
    extra = 0
    fields = ("active", "placed_by", "placed_at", "released_by", "released_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Matter)
class MatterAdmin(admin.ModelAdmin):
    list_display = ("reference", "name", "owner", "created_at")
    search_fields = ("reference", "name")
    exclude = ("query_ct", "query_dek_id")
    filter_horizontal = ("custodians", "sources", "conversations")
    inlines = [HoldInline]


@admin.register(Hold)
class HoldAdmin(_ReadOnly):
    list_display = ("id", "matter", "active", "placed_by", "placed_at", "released_by", "released_at")
    list_filter = ("active",)


@admin.register(ConsentRecord)
class ConsentRecordAdmin(_ReadOnly):
    list_display = (
        "subject",
        "purpose",
        "state",
        "lawful_basis",
        "on_withdrawal",
        "recorded_by",
        "recorded_at",
    )
    list_filter = ("purpose", "state", "lawful_basis")
    exclude = ("evidence_ct",)


@admin.register(ConsentConflict)
class ConsentConflictAdmin(_ReadOnly):
    list_display = ("id", "subject", "reason", "messages", "detail", "created_at", "resolved_at")
    list_filter = ("reason",)


@admin.register(ErasureRequest)
class ErasureRequestAdmin(_ReadOnly):
    list_display = ("id", "subject", "state", "two_person", "requested_by", "approved_by", "executed_at")
    list_filter = ("state", "two_person")


# --- Redaction (issue 4): configuration only, no message content ---------------------------------

from compliance.redaction_models import RedactionPolicy, RedactionRule, RedactionToken, SourceRedaction  # noqa: E402


@admin.register(RedactionRule)
class RedactionRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "type", "enabled", "case_sensitive", "context_window", "updated_at")
    list_filter = ("enabled", "type")
    search_fields = ("name", "type")
    readonly_fields = ("created_at", "updated_at")


class SourceRedactionInline(admin.TabularInline):
    model = SourceRedaction
    extra = 0
    fields = ("source", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("source",)


@admin.register(RedactionPolicy)
class RedactionPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "default_mode", "apply_at_ingest", "use_for_viewing", "updated_at")
    list_filter = ("apply_at_ingest", "use_for_viewing", "default_mode")
    search_fields = ("name",)
    filter_horizontal = ("rules",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [SourceRedactionInline]


@admin.register(RedactionToken)
class RedactionTokenAdmin(_ReadOnly):
    """Which tokens exist (for audits of ingest redaction); the sealed original is never shown."""

    list_display = ("token_id", "type", "source", "created_at")
    list_filter = ("type",)
    exclude = ("original_ct", "dek_id")

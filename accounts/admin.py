from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import ApiToken, User


@admin.register(User)
class DMVaultUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "whole_archive", "is_active", "last_login")
    list_filter = ("role", "whole_archive", "is_active")
    filter_horizontal = ("groups", "user_permissions", "assigned_sources", "assigned_matters")
    fieldsets = (
        *UserAdmin.fieldsets,  # type: ignore[misc]
        ("Role", {"fields": ("role", "locked_until", "failed_logins")}),
        (
            "Review scope (accounts.scope): what an officer or a lawyer may read; nothing when empty",
            {"fields": ("whole_archive", "assigned_sources", "assigned_matters")},
        ),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "revoked_at")
    readonly_fields = ("token_hash", "prefix", "created_at", "last_used_at")

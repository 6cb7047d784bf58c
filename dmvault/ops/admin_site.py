"""The Django admin site (issue 7, item 5): for the admin role only, signed in through the UI.

Loaded as the default admin site by ``AuditedAdminConfig`` (``INSTALLED_APPS``), so every
``@admin.register`` in the project lands here. Each request under ``/admin/`` is audited by
``dmvault.ops.admin_audit.AdminAuditMiddleware``. This module imports nothing that needs the app
registry (it is loaded while the registry is populated).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.roles import Role


class AuditedAdminSite(AdminSite):
    site_header = "DMVault configuration"
    site_title = "DMVault admin"

    def has_permission(self, request: HttpRequest) -> bool:
        """Staff *and* the admin role (``accounts.roles``): the admin configures; reviewing roles
        and auditors have no business here even when flagged staff or superuser."""
        user: Any = request.user
        return bool(super().has_permission(request) and getattr(user, "role", "") == Role.ADMIN)

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """Sign in through the UI's sign-in (lockout and throttling, one audit event), then back."""
        target = request.GET.get("next") or reverse("admin:index")
        if self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        return HttpResponseRedirect(reverse("ui:login") + "?" + urlencode({"next": target}))


class AuditedAdminConfig(AdminConfig):
    default_site = "dmvault.ops.admin_site.AuditedAdminSite"

"""Django model permissions from the permission matrix.

The Django admin asks ``user.has_perm("compliance.change_retentionpolicy")`` before it shows or
saves anything. DMVault grants nothing per user or group: a user whose role may use the admin
(``Role.ADMIN``, checked again by ``dmvault.ops.admin_site``) holds the model permissions of
DMVault's own tables, and each ``ModelAdmin`` still narrows them (history tables are read-only,
a locked policy can only be lengthened, schedules cannot be created). Everyone else holds none.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend

from accounts.roles import Role

# The apps whose tables the admin configures.
ADMIN_APPS = frozenset({"accounts", "archive", "compliance", "django_q", "dmvault_ops"})


def _configures(user: Any) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "role", "") == Role.ADMIN)


class RolePermissionBackend(BaseBackend):
    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return _configures(user_obj) and perm.split(".", 1)[0] in ADMIN_APPS

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return _configures(user_obj) and app_label in ADMIN_APPS

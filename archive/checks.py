"""Start-up checks: configuration that is wrong fails loudly, with a hint."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def check_key_provider(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    if settings.DMVAULT_KEY_PROVIDER == "none":
        problems.append(
            Error(
                "No key provider is configured, so nothing can be encrypted or read.",
                hint="Set DMVAULT_KEY_PROVIDER=local and DMVAULT_KEYRING_PATH to a keyring file kept "
                "outside the database and its backups; create one with `python manage.py vault init`.",
                id="dmvault.E001",
            )
        )
    elif settings.DMVAULT_KEY_PROVIDER == "local":
        path = settings.DMVAULT_KEYRING_PATH
        if not path.exists() and not settings.DMVAULT_KEYRING_AUTOCREATE:
            problems.append(
                Error(
                    f"The keyring file {path} does not exist.",
                    hint="Run `python manage.py vault init` once, or point DMVAULT_KEYRING_PATH at this archive's keyring.",
                    id="dmvault.E002",
                )
            )
        elif path.exists() and path.stat().st_mode & 0o077:
            problems.append(
                Warning(
                    f"The keyring file {path} is readable by other users.",
                    hint=f"chmod 600 {path}",
                    id="dmvault.W001",
                )
            )
        if settings.PRODUCTION and path.resolve().is_relative_to(settings.DATA_DIR) and not settings.DEBUG:
            problems.append(
                Warning(
                    "The keyring lies inside the data folder, which is usually backed up with the database.",
                    hint="Keep the keyring (DMVAULT_KEYRING_PATH) outside DMVAULT_DATA_DIR so a backup alone decrypts nothing.",
                    id="dmvault.W002",
                )
            )
    if settings.PRODUCTION and not settings.ALLOWED_HOSTS:
        problems.append(
            Error(
                "DJANGO_ALLOWED_HOSTS is empty in production.",
                hint="Set DJANGO_ALLOWED_HOSTS=archive.example.com (comma-separated).",
                id="dmvault.E003",
            )
        )
    return problems

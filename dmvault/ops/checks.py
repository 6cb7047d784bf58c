"""System checks for the operations settings."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core import checks as django_checks
from django.core.checks import Error, Warning

from accounts.roles import Role

_OIDC = (
    "DMVAULT_OIDC_CLIENT_ID",
    "DMVAULT_OIDC_AUTHORIZATION_ENDPOINT",
    "DMVAULT_OIDC_TOKEN_ENDPOINT",
    "DMVAULT_OIDC_USERINFO_ENDPOINT",
    "DMVAULT_OIDC_JWKS_ENDPOINT",
)


def check_oidc(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    given = [name for name in _OIDC if getattr(settings, name, "")]
    problems: list[Any] = []
    if given and len(given) < len(_OIDC):
        missing = [name for name in _OIDC if name not in given]
        problems.append(
            Error(
                "OpenID Connect single sign-on is half configured, so it is off.",
                hint=f"Set {', '.join(missing)} (from the provider's /.well-known/openid-configuration), "
                f"or unset {', '.join(given)} to run without single sign-on.",
                id="dmvault_ops.E001",
            )
        )
    if not given:
        return problems
    try:
        mapping = json.loads(settings.DMVAULT_OIDC_ROLE_MAP or "{}")
        if not isinstance(mapping, dict):
            raise ValueError
    except ValueError:
        return [
            *problems,
            Error(
                "DMVAULT_OIDC_ROLE_MAP is not a JSON object.",
                hint='For example: {"dmv-officers": "compliance_officer", "dmv-admins": "admin"}',
                id="dmvault_ops.E002",
            ),
        ]
    bad = sorted(str(v) for v in mapping.values() if v not in {r.value for r in Role})
    if bad:
        problems.append(
            Error(
                f"DMVAULT_OIDC_ROLE_MAP names unknown roles: {', '.join(bad)}.",
                hint=f"Roles are: {', '.join(r.value for r in Role)}.",
                id="dmvault_ops.E003",
            )
        )
    if not mapping:
        problems.append(
            Warning(
                "Single sign-on is on but DMVAULT_OIDC_ROLE_MAP is empty: nobody can log in with it.",
                id="dmvault_ops.W001",
            )
        )
    return problems


def check_job_errors(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """django-q2's error reporters are handed a failed job's live exception, whose message can
    quote content; DMVault's jobs fail with content-free lines instead (dmvault/ops/jobs.py)."""
    if getattr(settings, "Q_CLUSTER", {}).get("error_reporter"):
        return [
            Error(
                "Q_CLUSTER['error_reporter'] is set: it would send failed jobs' exception messages, "
                "which can quote message content, to an outside service.",
                hint="Remove it; failed jobs are recorded as 'DMVJOB code=… error=<type> <ids>' and "
                "logged as type and frames (docs/OPERATIONS.md, Jobs).",
                id="dmvault_ops.E004",
            )
        ]
    return []


def check_redaction_core(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Redaction runs at ingest, at view and at export; its plain Python core is correct but
    about 1.3 times slower than the compiled one (compliance/redaction/core.py)."""
    from compliance.redaction import core

    if core.STATUS.compiled:
        return []
    return [
        Warning(
            f"The redaction detectors run as plain Python ({core.STATUS.reason}), about 1.3 times "
            "slower than compiled.",
            hint="Run `make install` or `python -m compliance.redaction.build_core` (needs Cython and a "
            "C compiler), then restart.",
            id="dmvault_ops.W002",
        )
    ]


def register() -> None:
    django_checks.register(check_oidc, "security")
    django_checks.register(check_job_errors, "security")
    django_checks.register(check_redaction_core)

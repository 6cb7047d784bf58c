"""Every route of the site is audited, except the documented few that must answer without a
database write (liveness and readiness probes, the token-guarded metrics scrape).

A route counts as audited when its view is an audited API view, an audited UI page, or it sits
under a prefix the audit middleware covers (the Django admin, single sign-on). A new route that
is none of these fails here until it is audited or added to the documented exceptions."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from dmvault.api.audit import AuditedAPIView
from dmvault.ui.base import UIView

DOCUMENTED_UNAUDITED = {"health/live", "health/ready", "metrics"}
MIDDLEWARE_AUDITED_PREFIXES = ("admin/", "oidc/")


def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.startswith(MIDDLEWARE_AUDITED_PREFIXES):
                continue
            out.extend(_routes(pattern.url_patterns, route))
        elif isinstance(pattern, URLPattern):
            out.append((route, pattern.callback))
    return out


def test_every_route_outside_the_documented_probes_is_audited() -> None:
    unaudited = set()
    for route, callback in _routes(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        audited = route.startswith(MIDDLEWARE_AUDITED_PREFIXES) or (
            isinstance(view_class, type) and issubclass(view_class, AuditedAPIView | UIView)
        )
        if not audited:
            unaudited.add(route.lstrip("^").rstrip("$"))
    assert unaudited == DOCUMENTED_UNAUDITED

"""The OpenAPI schema and its Swagger/Redoc pages (signed-in users; audited like any view),
and the catch-all that answers unknown /api/ paths with an audited JSON 404."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from dmvault.api.audit import AuditedAPIView
from dmvault.api.permissions import AUTHENTICATED, PUBLIC, CapabilityPermission


class SchemaView(AuditedAPIView, SpectacularAPIView):
    capability = AUTHENTICATED
    permission_classes = [CapabilityPermission]
    audit_action = "api.schema"


class SwaggerView(AuditedAPIView, SpectacularSwaggerView):
    capability = AUTHENTICATED
    permission_classes = [CapabilityPermission]
    audit_action = "api.docs"


class RedocView(AuditedAPIView, SpectacularRedocView):
    capability = AUTHENTICATED
    permission_classes = [CapabilityPermission]
    audit_action = "api.docs"


class NotFoundView(AuditedAPIView):
    """Any other path under /api/: 404 for every method, in the one error shape, audited."""

    capability = PUBLIC
    audit_action = "api.not_found"
    renderer_classes = [JSONRenderer]

    def _missing(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        raise NotFound()

    get = post = put = patch = delete = head = _missing
    options = _missing  # type: ignore[assignment]

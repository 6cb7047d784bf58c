"""drf-spectacular glue: the bearer-token security scheme, and plain-object bodies for the thin
APIViews that build their JSON by hand (so every endpoint appears in the schema)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.types import OpenApiTypes


class AutoSchema(BaseAutoSchema):
    def get_request_serializer(self) -> Any:
        return OpenApiTypes.OBJECT if self.method in ("POST", "PUT", "PATCH") else None

    def get_response_serializers(self) -> Any:
        return OpenApiTypes.OBJECT

    def get_operation_id(self) -> str:
        # One view per route, so the view's name and the method are unique and stable.
        name = type(self.view).__name__.removesuffix("View")
        return f"{name[:1].lower()}{name[1:]}_{self.method.lower()}"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "dmvault.api.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer dmv_…"}


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "dmvault.api.authentication.CsrfSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}

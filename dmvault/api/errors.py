"""One JSON error shape for every API error: ``{"error": {"code", "message", "field"}}``.

Messages are fixed texts or validation messages about the caller's own input; nothing read
from the archive ever appears in an error, and unexpected exceptions become a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger("dmvault.api")


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(status_code: int, code: str, message: str, field: str | None = None) -> Response:
    return Response(error_body(code, message, field), status=status_code)


def _first(detail: Any, path: str | None = None) -> tuple[str | None, str, str]:
    """(field, message, code) of the first error in a DRF detail structure."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "detail") else (f"{path}.{key}" if path else str(key))
            return _first(value, name if name else path)
        return path, "Invalid input.", "invalid"
    if isinstance(detail, list):
        if not detail:
            return path, "Invalid input.", "invalid"
        return _first(detail[0], path)
    code = getattr(detail, "code", None) or "invalid"
    return path, str(detail), str(code)


_CODES = {
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.error(
            "unhandled %s in %s", type(exc).__name__, type(view).__name__ if view else "?", exc_info=exc
        )
        return error_response(500, "internal_error", "An internal error occurred; it has been logged.")
    headers: dict[str, str] = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait is not None:
        headers["Retry-After"] = str(int(wait))
    if isinstance(exc, exceptions.ValidationError):
        field, message, code = _first(exc.detail)
        return Response(error_body(code, message, field), status=400, headers=headers)
    field, message, code = _first(exc.detail)
    code = code if code not in ("invalid", "error") else _CODES.get(exc.status_code, code)
    if isinstance(exc, exceptions.MethodNotAllowed):
        message = "This method is not allowed on this endpoint."  # DRF's message echoes the method
    return Response(error_body(code, message, None), status=exc.status_code, headers=headers)

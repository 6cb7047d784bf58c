"""Cursor pagination: opaque, signed cursors over time-ordered ids (stable under inserts)."""

from __future__ import annotations

from typing import Any

from django.core import signing
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

_SALT = "dmvault.api.cursor"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(position: dict[str, Any]) -> str:
    return signing.dumps(position, salt=_SALT, compress=True)


def decode_cursor(raw: str | None, *, field: str = "cursor") -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = signing.loads(raw, salt=_SALT)
    except signing.BadSignature:
        raise ValidationError(
            {field: ["This cursor is invalid; use the 'next' value of a previous page."]}
        ) from None
    if not isinstance(value, dict):
        raise ValidationError({field: ["This cursor is invalid; use the 'next' value of a previous page."]})
    return value


def int_param(request: Request, name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"Must be a whole number between {minimum} and {maximum}."]}) from None
    if not minimum <= value <= maximum:
        raise ValidationError({name: [f"Must be a whole number between {minimum} and {maximum}."]})
    return value


def limit_param(request: Request) -> int:
    return int_param(request, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)


def page(results: list[Any], next_position: dict[str, Any] | None) -> dict[str, Any]:
    return {"results": results, "next": encode_cursor(next_position) if next_position else None}

"""Key management (administrators): status, root-key rotation and wrapping-key rolls.

Both operations re-wrap keys only; no message data is decrypted or rewritten. The responses
carry counts and version numbers, never key material.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.roles import Capability
from archive.vault import operations
from dmvault.api.audit import AuditedAPIView


class KeyStatusView(AuditedAPIView):
    capability = Capability.MANAGE_KEYS
    audit_action = "keys.status"
    audit_target_type = "keys"

    def get(self, request: Request) -> Response:
        return Response(operations.status())


class KeyRotateRootView(AuditedAPIView):
    """Add a root-key version and re-wrap every wrapping key under it."""

    capability = Capability.MANAGE_KEYS
    audit_action = "keys.rotate_root"
    audit_target_type = "keys"

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request) -> Response:
        result = operations.rotate_root()
        self.note.result_count = result["wrapping_keys_rewrapped"]
        self.note.detail = f"root_version:{result['new_root_version']}"
        return Response(result)


class KeyRollView(AuditedAPIView):
    """Make a new wrapping key, re-wrap every data and index key under it, delete the old ones."""

    capability = Capability.MANAGE_KEYS
    audit_action = "keys.roll"
    audit_target_type = "keys"

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request) -> Response:
        result = operations.roll_wrapping_key()
        self.note.result_count = result["data_keys"] + result["index_keys"]
        self.note.detail = f"data_keys:{result['data_keys']},index_keys:{result['index_keys']}"
        return Response(result)

"""The roles DMVault knows, and what each may do.

This is the one place the permission matrix lives; views, the admin and the UI ask it.
A role says *what* a user may do; for content (READ_CONTENT, SEARCH, EXPORT, REVEAL_REDACTED)
the user's review scope says *which messages*: what an administrator with ASSIGN_SCOPE assigned
them (sources, matters, or the whole archive), resolved by ``accounts.scope.scope_for``. A user
with no assignment reads nothing.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "admin"  # configures sources, policies, rules, keys and users; reads no content by itself
    COMPLIANCE_OFFICER = "compliance_officer"  # searches and reviews, with a stated purpose
    LEGAL = "legal"  # matters, holds and productions, with a stated purpose
    AUDITOR = "auditor"  # reads the audit log only
    INGEST = "ingest"  # a service account that uploads exports

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Capability(enum.StrEnum):
    READ_CONTENT = "read_content"
    SEARCH = "search"
    UPLOAD = "upload"
    MANAGE_SOURCES = "manage_sources"
    MANAGE_POLICIES = "manage_policies"
    MANAGE_HOLDS = "manage_holds"
    EXPORT = "export"
    MANAGE_USERS = "manage_users"
    MANAGE_KEYS = "manage_keys"
    READ_AUDIT = "read_audit"
    REVEAL_REDACTED = "reveal_redacted"
    # The one-time passphrase of an AES-encrypted production (the requester's own jobs only).
    EXPORT_PASSPHRASE = "export_passphrase"
    SUBJECT_REQUESTS = "subject_requests"
    # Archive metadata without content: sources, conversation sizes and dates (never titles).
    VIEW_METADATA = "view_metadata"
    # Assign officers and lawyers their review scope (sources, matters, the whole archive):
    # which content READ_CONTENT and SEARCH reach (``accounts.scope``).
    ASSIGN_SCOPE = "assign_scope"


PERMISSIONS: dict[Role, frozenset[Capability]] = {
    Role.ADMIN: frozenset(
        {
            Capability.UPLOAD,
            Capability.MANAGE_SOURCES,
            Capability.MANAGE_POLICIES,
            Capability.MANAGE_USERS,
            Capability.ASSIGN_SCOPE,
            Capability.MANAGE_KEYS,
            Capability.SUBJECT_REQUESTS,
            Capability.VIEW_METADATA,
        }
    ),
    Role.COMPLIANCE_OFFICER: frozenset(
        {Capability.READ_CONTENT, Capability.SEARCH, Capability.VIEW_METADATA}
    ),
    Role.LEGAL: frozenset(
        {
            Capability.READ_CONTENT,
            Capability.SEARCH,
            Capability.MANAGE_HOLDS,
            Capability.EXPORT,
            Capability.EXPORT_PASSPHRASE,
            Capability.REVEAL_REDACTED,
            Capability.VIEW_METADATA,
        }
    ),
    Role.AUDITOR: frozenset({Capability.READ_AUDIT}),
    Role.INGEST: frozenset({Capability.UPLOAD}),
}

# Roles whose every content read must carry a declared purpose of access.
REVIEWING_ROLES = frozenset({Role.COMPLIANCE_OFFICER, Role.LEGAL})


def role_can(role: str, capability: Capability) -> bool:
    try:
        return capability in PERMISSIONS[Role(role)]
    except ValueError:
        return False

"""Signed certificates of destruction (retention runs, erasures).

A certificate is a canonical JSON body (sorted keys, no spaces) signed with Ed25519. The key is
the audit signing key (``compliance.audit.checkpoints.load_signing_key``: a file beside the
keyring, ``DMVAULT_AUDIT_KEY_PATH``), never stored in the database, so whoever can rewrite the
database cannot forge or alter a certificate. ``verify_certificate`` accepts the stored row or its
exported dict (``export``), and checks the signature against ``verifying_key()`` (which honours
``DMVAULT_AUDIT_PUBLIC_KEY``, so verifiers need no private key).

Bodies carry ids, counts, ranges and hashes, never content: ``ids_sha256`` is SHA-256 over the
sorted ids as 8-byte big-endian integers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidSignature
from django.utils import timezone

from compliance.audit.checkpoints import (
    CheckpointError,
    load_signing_key,
    public_key_bytes,
    verifying_key,
)

FORMAT = "dmvault-certificate/v1"


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def pack_ids(ids: Iterable[int]) -> bytes:
    return b"".join(int(i).to_bytes(8, "big", signed=True) for i in ids)


def ids_sha256(ids: Iterable[int]) -> str:
    return hashlib.sha256(pack_ids(sorted(ids))).hexdigest()


def issue(kind: str, body: dict[str, Any]) -> Any:
    """Sign ``body`` (with ``format``, ``kind`` and ``issued_at`` added) and store it."""
    from compliance.models import Certificate

    key = load_signing_key()
    now = timezone.now()
    cert = Certificate(kind=kind, issued_at=now)
    full = {
        **body,
        "format": FORMAT,
        "kind": kind,
        "certificate_id": str(cert.id),
        "issued_at": now.isoformat(),
    }
    text = canonical(full)
    cert.body = text
    cert.signature = base64.b64encode(key.sign(text.encode())).decode()
    cert.key_id = hashlib.sha256(public_key_bytes(key.public_key())).hexdigest()[:16]
    cert.save(force_insert=True)
    return cert


def export(cert: Any) -> dict[str, Any]:
    """The portable form: body, signature, key id."""
    return {"body": cert.body, "signature": cert.signature, "key_id": cert.key_id}


def body_of(cert: Any) -> dict[str, Any]:
    text = cert["body"] if isinstance(cert, dict) else cert.body
    data: dict[str, Any] = json.loads(text)
    return data


def verify_certificate(cert: Any) -> bool:
    """True when the body is exactly what the certificate key signed."""
    try:
        if isinstance(cert, dict):
            text, signature = cert["body"], cert["signature"]
        else:
            text, signature = cert.body, cert.signature
        sig = base64.b64decode(signature, validate=True)
        body = json.loads(text)
        if not isinstance(body, dict) or canonical(body) != text or body.get("format") != FORMAT:
            return False
        verifying_key().verify(sig, text.encode())
    except (InvalidSignature, binascii.Error, ValueError, KeyError, TypeError, CheckpointError):
        return False
    return True

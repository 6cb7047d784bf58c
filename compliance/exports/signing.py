"""The production signing key: Ed25519, in a file outside the database.

The audit engineer's helper (``compliance.audit.checkpoints.load_signing_key``) is bound to the
audit key's own path, and a production key should be separable from the audit key (handed to
opposing counsel's verifier, rotated on its own), so this module keeps the same file format
(base64 of the 32-byte seed, mode 0600) at ``DMVAULT_EXPORT_KEY_PATH`` (a setting or an
environment variable; default ``<keyring dir>/export-signing.key``), created on first use
outside production.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings


class SigningKeyError(Exception):
    pass


def key_path() -> Path:
    configured = getattr(settings, "DMVAULT_EXPORT_KEY_PATH", None) or os.environ.get(
        "DMVAULT_EXPORT_KEY_PATH"
    )
    if configured:
        return Path(configured)
    return Path(settings.DMVAULT_KEYRING_PATH).parent / "export-signing.key"


def _autocreate() -> bool:
    configured = getattr(settings, "DMVAULT_EXPORT_KEY_AUTOCREATE", None)
    if configured is not None:
        return bool(configured)
    return not getattr(settings, "PRODUCTION", False)


def load_signing_key(*, create: bool | None = None) -> Ed25519PrivateKey:
    path = key_path()
    if not path.exists():
        if not (_autocreate() if create is None else create):
            raise SigningKeyError(
                f"the export signing key {path} does not exist; set DMVAULT_EXPORT_KEY_PATH to a base64 "
                "Ed25519 seed file kept outside database backups"
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode() + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip(), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise SigningKeyError(f"the export signing key {path} is not a base64 Ed25519 seed") from exc


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_bytes(key)).hexdigest()


def encode_public(key: Ed25519PublicKey) -> str:
    """The public key file's text: ``ed25519 <base64 raw key>``."""
    return f"ed25519 {base64.b64encode(public_bytes(key)).decode()}\n"


def decode_public(text: str | bytes) -> Ed25519PublicKey:
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    parts = text.split()
    raw = parts[-1] if parts else ""
    try:
        data = base64.b64decode(raw, validate=True)
        return Ed25519PublicKey.from_public_bytes(data)
    except (binascii.Error, ValueError) as exc:
        raise SigningKeyError("not an Ed25519 public key (expected 'ed25519 <base64>')") from exc

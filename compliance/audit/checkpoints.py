"""Ed25519-signed checkpoints of the audit chain, in C2SP signed-note form.

A checkpoint note::

    <origin>
    <size>
    <base64 chain hash after event <size>>
    time 2026-11-27T09:00:00Z

    — <origin> <base64(key id[4] ‖ Ed25519 signature of the text above the blank line)>

The key id is the first 4 bytes of SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ public key), as in C2SP
signed-note for Ed25519. The signing key is a file beside the keyring
(``DMVAULT_AUDIT_KEY_PATH``), never in the database: whoever can rewrite the database cannot
forge a checkpoint. Export notes somewhere the database's owner cannot rewrite (WORM storage,
a SIEM, mail); events after the last exported checkpoint are the loss window.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.db import transaction
from django.utils import timezone

SIGNATURE_DASH = "\u2014"  # the em dash that starts a signed-note signature line


class CheckpointError(Exception):
    pass


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    head_hex: str
    time: str
    body: str
    signatures: tuple[tuple[str, bytes], ...]  # (key name, key id ‖ signature)


def key_path() -> Path:
    return Path(settings.DMVAULT_AUDIT_KEY_PATH)


def load_signing_key(*, create: bool | None = None) -> Ed25519PrivateKey:
    path = key_path()
    if not path.exists():
        if not (settings.DMVAULT_AUDIT_KEY_AUTOCREATE if create is None else create):
            raise CheckpointError(
                f"the audit signing key {path} does not exist; create it with "
                "`python manage.py audit_checkpoint --init-key` and keep it outside database backups"
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(base64.b64encode(seed).decode() + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)
    try:
        seed = base64.b64decode(path.read_text().strip(), validate=True)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError(f"the audit signing key {path} is not a base64 Ed25519 seed") from exc


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(origin: str, public: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(origin.encode() + b"\n\x01" + public_key_bytes(public)).digest()[:4]


def verifier_key() -> str:
    """The public key in note-verifier form: ``<origin>+<key id hex>+<base64(0x01 ‖ key)>``."""
    public = load_signing_key().public_key()
    origin = settings.DMVAULT_AUDIT_ORIGIN
    encoded = base64.b64encode(b"\x01" + public_key_bytes(public)).decode()
    return f"{origin}+{key_id(origin, public).hex()}+{encoded}"


def verifying_key() -> Ed25519PublicKey:
    """The key that checks checkpoints: ``DMVAULT_AUDIT_PUBLIC_KEY`` (a verifier key as printed by
    ``audit_checkpoint --public-key``) when set, so verifiers need no signing key; else the
    signing key file's public half."""
    configured = getattr(settings, "DMVAULT_AUDIT_PUBLIC_KEY", "")
    if not configured:
        return load_signing_key().public_key()
    try:
        _name, _kid, encoded = configured.split("+", 2)  # names have no "+"; base64 may
        raw = base64.b64decode(encoded, validate=True)
        if raw[:1] != b"\x01" or len(raw) != 33:
            raise ValueError("not an Ed25519 verifier key")
        return Ed25519PublicKey.from_public_bytes(raw[1:])
    except (ValueError, binascii.Error) as exc:
        raise CheckpointError(f"DMVAULT_AUDIT_PUBLIC_KEY is not a verifier key: {exc}") from None


def make_note(
    size: int, head_hex: str, *, when: str | None = None, key: Ed25519PrivateKey | None = None
) -> str:
    key = key or load_signing_key()
    origin = settings.DMVAULT_AUDIT_ORIGIN
    when = when or timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = f"{origin}\n{size}\n{base64.b64encode(bytes.fromhex(head_hex)).decode()}\ntime {when}\n"
    sig = key_id(origin, key.public_key()) + key.sign(body.encode())
    return f"{body}\n{SIGNATURE_DASH} {origin} {base64.b64encode(sig).decode()}\n"


def parse_notes(text: str) -> list[Checkpoint]:
    """Parse one or more notes (as ``audit_checkpoint --export`` appends them)."""
    lines = text.splitlines()
    notes: list[Checkpoint] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        body_lines = []
        while i < len(lines) and lines[i] != "":
            body_lines.append(lines[i])
            i += 1
        i += 1  # the blank line
        sigs = []
        while i < len(lines) and lines[i].startswith(SIGNATURE_DASH + " "):
            parts = lines[i].split(" ")
            if len(parts) != 3:
                raise CheckpointError(f"malformed signature line {i + 1}")
            try:
                sigs.append((parts[1], base64.b64decode(parts[2], validate=True)))
            except binascii.Error:
                raise CheckpointError(f"signature line {i + 1} is not base64") from None
            i += 1
        if len(body_lines) < 3 or not sigs:
            raise CheckpointError(f"malformed checkpoint note ending at line {i}")
        try:
            size = int(body_lines[1])
            head = base64.b64decode(body_lines[2], validate=True).hex()
        except (ValueError, binascii.Error):
            raise CheckpointError(f"malformed checkpoint body ending at line {i}") from None
        when = next((line[5:] for line in body_lines[3:] if line.startswith("time ")), "")
        notes.append(Checkpoint(body_lines[0], size, head, when, "\n".join(body_lines) + "\n", tuple(sigs)))
    return notes


def verify_note(cp: Checkpoint, public: Ed25519PublicKey) -> None:
    origin = settings.DMVAULT_AUDIT_ORIGIN
    if cp.origin != origin:
        raise CheckpointError(f"checkpoint of size {cp.size} is for origin {cp.origin!r}, not {origin!r}")
    kid = key_id(origin, public)
    for name, blob in cp.signatures:
        if name == origin and blob[:4] == kid:
            try:
                public.verify(blob[4:], cp.body.encode())
            except InvalidSignature:
                break
            return
    raise CheckpointError(
        f"checkpoint of size {cp.size} has no valid signature by the audit key (forged or altered)"
    )


def write_checkpoint() -> tuple[int, str]:
    """Sign the current chain head, store it as an ``AuditCheckpoint`` and return (id, note)."""
    from compliance.models import AuditChainHead, AuditCheckpoint

    key = load_signing_key()
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        note = make_note(head.seq, head.head_hash, key=key)
        [cp] = parse_notes(note)
        row = AuditCheckpoint.objects.create(
            size=head.seq,
            head_hash=head.head_hash,
            signature=base64.b64encode(cp.signatures[0][1]).decode(),
            note=note,
        )
    return row.id, note


def stored_checkpoints() -> list[Checkpoint]:
    from compliance.models import AuditCheckpoint

    out: list[Checkpoint] = []
    for row in AuditCheckpoint.objects.order_by("id"):
        out.extend(parse_notes(row.note))
    return out

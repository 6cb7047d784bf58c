"""Offline verification of a production zip: no database, no archive keys.

Checks, in order: the zip opens (with the passphrase when it is AES-encrypted); the manifest's
Ed25519 signature (against ``--public-key`` when given, else the key inside the production,
which proves integrity but not origin); every listed file is present with its size and SHA-256;
no file is present that the manifest does not list. Each problem names the file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from compliance.exports.signing import SigningKeyError, decode_public, fingerprint

MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "manifest.pub"


@dataclass
class VerifyResult:
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0
    key_source: str = ""
    key_fingerprint: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _open_zip(path: Path, passphrase: str | None) -> zipfile.ZipFile:
    if passphrase:
        import pyzipper

        zf = pyzipper.AESZipFile(path)
        zf.setpassword(passphrase.encode())
        return zf
    return zipfile.ZipFile(path)


def _read(zf: zipfile.ZipFile, name: str) -> bytes:
    with zf.open(name) as fh:
        return fh.read()


def verify_production(
    path: str | Path, *, public_key: Ed25519PublicKey | None = None, passphrase: str | None = None
) -> VerifyResult:
    result = VerifyResult()
    try:
        zf = _open_zip(Path(path), passphrase)
    except (OSError, zipfile.BadZipFile) as exc:
        result.problems.append(f"{path}: not a readable zip ({exc})")
        return result
    with zf:
        names = set(zf.namelist())
        for required in (MANIFEST, SIGNATURE):
            if required not in names:
                result.problems.append(f"{required}: missing")
        if result.problems:
            return result
        try:
            body = _read(zf, MANIFEST)
            signature = base64.b64decode(_read(zf, SIGNATURE).strip(), validate=True)
        except (RuntimeError, zipfile.BadZipFile, zlib.error, binascii.Error) as exc:
            result.problems.append(f"{MANIFEST}: unreadable ({type(exc).__name__}: {exc})")
            return result
        key = public_key
        result.key_source = "given"
        if key is None:
            result.key_source = "embedded (integrity only: compare its fingerprint with the producer's)"
            try:
                key = decode_public(_read(zf, PUBLIC_KEY)) if PUBLIC_KEY in names else None
            except (SigningKeyError, zipfile.BadZipFile, zlib.error) as exc:
                result.problems.append(f"{PUBLIC_KEY}: {exc}")
                return result
            if key is None:
                result.problems.append(f"{PUBLIC_KEY}: missing and no --public-key given")
                return result
        result.key_fingerprint = fingerprint(key)
        try:
            key.verify(signature, body)
        except InvalidSignature:
            result.problems.append(
                f"{MANIFEST}: the signature does not verify (manifest changed or wrong key)"
            )
            return result
        manifest = json.loads(body)
        result.manifest = manifest
        listed = {entry["path"]: entry for entry in manifest.get("files", [])}
        for name, entry in listed.items():
            if name not in names:
                result.problems.append(f"{name}: missing")
                continue
            digest = hashlib.sha256()
            size = 0
            try:
                with zf.open(name) as fh:
                    while chunk := fh.read(1024 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
            except (zipfile.BadZipFile, zlib.error, RuntimeError, OSError, EOFError) as exc:
                result.problems.append(f"{name}: damaged ({type(exc).__name__})")
                continue
            result.files_checked += 1
            if size != entry["size"]:
                result.problems.append(f"{name}: size {size} differs from the manifest's {entry['size']}")
            elif digest.hexdigest() != entry["sha256"]:
                result.problems.append(f"{name}: SHA-256 differs from the manifest")
        for name in sorted(names - set(listed) - {MANIFEST, SIGNATURE, PUBLIC_KEY}):
            if not name.endswith("/"):
                result.problems.append(f"{name}: present but not listed in the manifest")
    return result

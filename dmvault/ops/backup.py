"""Encrypted, consistent backups, and restores that honour erasure.

``backup(out_dir)`` writes::

    out_dir/
      manifest.json           what was taken, when, SHA-256 of every file, the wrapped backup key
      database.sealed         SQLite: a page copy by the online backup API; PostgreSQL: pg_dump -Fc
      blobs.tar.sealed        every file of the "blobs" storage (evidence and attachments)

Each ``.sealed`` file is the vault's chunked AES-256-GCM stream format (``archive.vault.stream``)
under a fresh 256-bit backup key. The backup key is wrapped by the vault's root-key provider
(the local keyring, or Vault/KMS), and only the wrapped form is in the manifest: a backup holds
no usable key, and restoring it needs the keyring, which is backed up separately. The manifest
carries an HMAC under the backup key, so it cannot be edited without the keyring either.

Consistency: the database is copied first as one snapshot (SQLite's backup API copies a
consistent state; pg_dump runs in one repeatable-read transaction), then the blobs. Blobs are
immutable and content-addressed, so a blob written after the snapshot is a harmless orphan; a
blob deleted between the two steps was deleted by an erasure or retention run, which the
ledger replays on restore anyway.

``restore(backup_dir)`` checks every hash and the manifest HMAC before touching anything,
replaces the database (SQLite: the backup API in reverse; PostgreSQL: the schema is dropped and
pg_restore'd) and the blob store, then replays the erasure ledger (``dmvault.ops.ledger``) from
the snapshot's time, so nobody erased or expired since the backup becomes readable again.
Plaintext only ever touches a private (0700) temporary folder next to the output, and is
deleted as soon as it is sealed or loaded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import connection
from django.utils import timezone

from archive.vault import get_vault
from archive.vault.stream import SealedReader, seal_stream
from dmvault.ops import ledger

FORMAT = "dmvault-backup/v1"
FIELD = "backup.file"
MANIFEST = "manifest.json"


class BackupError(Exception):
    pass


def _key_context(backup_id: int) -> bytes:
    return b"dmv1|backup|%d" % backup_id


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mac(key: bytes, manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "mac"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(hashlib.sha256(b"dmv1|backup-mac|" + key).digest(), text, hashlib.sha256).hexdigest()


@contextmanager
def _private_dir(near: Path) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=".dmvault-backup-", dir=near))
    path.chmod(0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _seal_file(plain: Path, dest: Path, aead: AESGCM, backup_id: int, index: int) -> str:
    with plain.open("rb") as src, dest.open("wb") as out:
        return seal_stream(src, out, aead, backup_id, FIELD, index, plain.stat().st_size)


def _unseal_file(sealed: Path, dest: Path, aead: AESGCM, backup_id: int, index: int) -> str:
    digest = hashlib.sha256()
    with sealed.open("rb") as raw, dest.open("wb") as out:
        reader = SealedReader(raw, aead, backup_id, FIELD, index)
        for chunk in iter(lambda: reader.read(1024 * 1024), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


# --- database -----------------------------------------------------------------------------------


def _pg_env(settings_dict: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    args = ["-h", str(settings_dict.get("HOST") or "127.0.0.1"), "-p", str(settings_dict.get("PORT") or 5432)]
    if settings_dict.get("USER"):
        args += ["-U", str(settings_dict["USER"])]
    env = dict(os.environ)
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = str(settings_dict["PASSWORD"])
    return args, env


def _dump_database(dest: Path) -> str:
    vendor = connection.vendor
    if vendor == "sqlite":
        connection.ensure_connection()
        target = sqlite3.connect(dest)
        try:
            connection.connection.backup(target)  # one consistent page copy, online
        finally:
            target.close()
    elif vendor == "postgresql":
        settings_dict = connection.settings_dict
        args, env = _pg_env(settings_dict)
        cmd = ["pg_dump", *args, "--format=custom", "--no-owner", "--no-privileges", "-f", str(dest)]
        subprocess.run([*cmd, str(settings_dict["NAME"])], check=True, env=env, capture_output=True)  # noqa: S603
    else:
        raise BackupError(f"backups of {vendor} databases are not supported")
    return vendor


def _load_database(source: Path, vendor: str) -> None:
    if vendor != connection.vendor:
        raise BackupError(f"the backup is of a {vendor} database; this server uses {connection.vendor}")
    if vendor == "sqlite":
        connection.ensure_connection()
        src = sqlite3.connect(source)
        try:
            src.backup(connection.connection)
        finally:
            src.close()
        return
    settings_dict = connection.settings_dict
    args, env = _pg_env(settings_dict)
    name = str(settings_dict["NAME"])
    with connection.cursor() as cur:  # objects made after the snapshot (new month partitions) go too
        cur.execute("DROP SCHEMA IF EXISTS public CASCADE")
        cur.execute("CREATE SCHEMA public")
    connection.close()
    result = subprocess.run(  # noqa: S603
        ["pg_restore", *args, "--no-owner", "--no-privileges", "--exit-on-error", "-d", name, str(source)],  # noqa: S607
        env=env,
        capture_output=True,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.decode(errors='replace')[-500:]}")


# --- blobs --------------------------------------------------------------------------------------


def _walk(storage: Storage, prefix: str = "") -> Iterator[str]:
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{prefix}{name}"
    for d in dirs:
        yield from _walk(storage, f"{prefix}{d}/")


def _dump_blobs(dest: Path) -> int:
    storage = storages["blobs"]
    count = 0
    with tarfile.open(dest, "w") as tar:
        for name in sorted(_walk(storage)):
            try:
                fh = storage.open(name, "rb")
            except FileNotFoundError:
                continue  # deleted since the listing (an erasure or retention run)
            with fh:
                info = tarfile.TarInfo(name)
                info.size = storage.size(name)
                info.mode = 0o600
                tar.addfile(info, fh)
            count += 1
    return count


def _load_blobs(source: Path) -> int:
    storage = storages["blobs"]
    restored: set[str] = set()
    with tarfile.open(source, "r") as tar:
        for member in tar:
            if not member.isfile() or member.name.startswith("/") or ".." in Path(member.name).parts:
                raise BackupError(f"unexpected entry in the blob archive: {member.name!r}")
            fh: IO[bytes] | None = tar.extractfile(member)
            assert fh is not None
            if storage.exists(member.name):
                storage.delete(member.name)
            storage.save(member.name, File(fh))
            restored.add(member.name)
    for name in list(_walk(storage)):  # the store mirrors the snapshot
        if name not in restored:
            storage.delete(name)
    return len(restored)


# --- backup / restore ---------------------------------------------------------------------------


def backup(out_dir: Path) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (out_dir / MANIFEST).exists():
        raise BackupError(f"{out_dir} already holds a backup")
    vault = get_vault()
    backup_id = secrets.randbits(62) | 1
    raw_key = AESGCM.generate_key(256)
    aead = AESGCM(raw_key)
    root_version, wrapped = vault.provider.wrap(_key_context(backup_id), raw_key)
    taken_at = timezone.now()
    ledger_head = ledger.head()
    files: dict[str, dict[str, Any]] = {}
    with _private_dir(out_dir) as tmp:
        vendor = _dump_database(tmp / "database")
        plain = _seal_file(tmp / "database", out_dir / "database.sealed", aead, backup_id, 1)
        (tmp / "database").unlink()
        files["database.sealed"] = {"index": 1, "plaintext_sha256": plain}
        blob_count = _dump_blobs(tmp / "blobs.tar")
        plain = _seal_file(tmp / "blobs.tar", out_dir / "blobs.tar.sealed", aead, backup_id, 2)
        files["blobs.tar.sealed"] = {"index": 2, "plaintext_sha256": plain, "blobs": blob_count}
    for name, item in files.items():
        item["sha256"] = _sha256(out_dir / name)
        item["size"] = (out_dir / name).stat().st_size
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "backup_id": str(backup_id),
        "taken_at": taken_at.isoformat(),
        "database_vendor": vendor,
        "files": files,
        "key": {
            "provider": vault.provider.name,
            "root_version": root_version,
            "wrapped": base64.b64encode(wrapped).decode(),
        },
        # The ledger is not in the backup; its head at snapshot time is, for the record.
        "ledger_head_at_snapshot": ledger_head,
    }
    manifest["mac"] = _mac(raw_key, manifest)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def read_manifest(backup_dir: Path) -> tuple[dict[str, Any], AESGCM]:
    """Load the manifest, unwrap its key and check its MAC and every file's SHA-256."""
    backup_dir = Path(backup_dir)
    try:
        manifest: dict[str, Any] = json.loads((backup_dir / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{backup_dir}: no readable {MANIFEST} ({type(exc).__name__})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{backup_dir}: unknown backup format {manifest.get('format')!r}")
    backup_id = int(manifest["backup_id"])
    key = manifest["key"]
    raw_key = get_vault().provider.unwrap(
        int(key["root_version"]), _key_context(backup_id), base64.b64decode(key["wrapped"])
    )
    if not hmac.compare_digest(_mac(raw_key, manifest), str(manifest.get("mac", ""))):
        raise BackupError(f"{backup_dir}: the manifest has been altered")
    for name, item in manifest["files"].items():
        path = backup_dir / name
        if not path.exists() or _sha256(path) != item["sha256"]:
            raise BackupError(f"{backup_dir}: {name} is missing or does not match the manifest")
    return manifest, AESGCM(raw_key)


def restore(backup_dir: Path, *, replay_ledger: bool = True) -> dict[str, Any]:
    backup_dir = Path(backup_dir)
    manifest, aead = read_manifest(backup_dir)
    backup_id = int(manifest["backup_id"])
    if replay_ledger:
        ledger.verify()  # refuse before touching anything if the ledger cannot be trusted
    report: dict[str, Any] = {"backup_id": manifest["backup_id"], "taken_at": manifest["taken_at"]}
    with _private_dir(backup_dir) as tmp:
        files = manifest["files"]
        for name, target in (("database.sealed", "database"), ("blobs.tar.sealed", "blobs.tar")):
            plain = _unseal_file(backup_dir / name, tmp / target, aead, backup_id, files[name]["index"])
            if plain != files[name]["plaintext_sha256"]:
                raise BackupError(f"{name}: decrypted content does not match the manifest")
        _load_database(tmp / "database", manifest["database_vendor"])
        report["blobs"] = _load_blobs(tmp / "blobs.tar")
    get_vault().forget_cached_keys()
    if replay_ledger:
        report["replay"] = ledger.replay(datetime.fromisoformat(manifest["taken_at"])).as_dict()
    _audit_restore(manifest, report)
    return report


def _audit_restore(manifest: dict[str, Any], report: dict[str, Any]) -> None:
    from compliance.audit import Event, record

    replay = report.get("replay") or {}
    record(
        Event(
            action="system.restore",
            outcome="allowed",
            auth_method="system",
            target_type="backup",
            target_id=str(manifest["backup_id"]),
            result_count=replay.get("entries"),
            detail=f"snapshot {manifest['taken_at']}; ledger entries replayed: {replay.get('entries', 0)}",
        )
    )

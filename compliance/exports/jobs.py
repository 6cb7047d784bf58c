"""Export jobs: create, run (in a django-q2 worker via ``tasks.run_export``), cancel, open.

The production is built into a private temporary file, optionally re-packed as an AES-256 zip
(``pyzipper``; the passphrase is random, sealed on the job and revealed once through
:func:`reveal_passphrase`), then sealed in
1 MiB AES-GCM chunks under the job's data key into blob storage; the temporary file is deleted.
``run_job_to_path`` writes the zip to a caller-given path instead (commands, benchmarks).
Every run, successful or not, records an audit event (``compliance.audit.record``).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import storages
from django.utils import timezone

from archive.vault import get_vault
from archive.vault.stream import SealedReader, SealedWriter
from compliance.exports.collect import ScopeError, resolve_scope
from compliance.exports.formats.base import Cancelled
from compliance.exports.models import ExportJob
from compliance.exports.production import (
    ProductionRequest,
    ProductionSummary,
    build_production,
    normalize_formats,
)
from compliance.exports.redact import ExportPolicy, PolicyError

log = logging.getLogger(__name__)
RESULT_FIELD = "export.result"


def create_export(
    *,
    requested_by: Any,
    purpose: str,
    formats: list[str] | tuple[str, ...] = ("native", "csv", "rsmf", "eml", "html", "pdf", "loadfile"),
    query: str = "",
    saved_search_id: int | None = None,
    matter_id: int | None = None,
    matter_ref: str = "",
    conversation_ids: list[int] | tuple[int, ...] = (),
    data_subject_id: int | None = None,
    redaction: dict[str, Any] | None = None,
    bates_prefix: str = "DMV",
    bates_start: int = 1,
    encrypt_zip: bool = False,
    queue: bool = True,
) -> ExportJob:
    if not purpose.strip():
        raise ValueError("a production needs a stated purpose")
    ExportPolicy.from_dict(redaction)  # validate now, not in the worker
    job = ExportJob(
        requested_by=requested_by,
        formats=normalize_formats(list(formats)),
        saved_search_id=saved_search_id,
        matter_id=matter_id,
        matter_ref=matter_ref[:100],
        conversation_ids=[int(c) for c in conversation_ids],
        data_subject_id=data_subject_id,
        redaction=dict(redaction or {}),
        bates_prefix=bates_prefix,
        bates_start=bates_start,
        encrypt_zip=encrypt_zip,
    )
    job.set_purpose(purpose)
    job.set_query(query)
    job.save(force_insert=True)
    if queue:
        from django_q.tasks import async_task

        async_task("compliance.exports.tasks.run_export", job.id, task_name=f"export-{job.id}")
    return job


def request_cancel(job_id: int) -> bool:
    return (
        ExportJob.objects.filter(
            id=job_id, status__in=[ExportJob.Status.PENDING, ExportJob.Status.RUNNING]
        ).update(cancel_requested=True)
        > 0
    )


def _request(job: ExportJob) -> ProductionRequest:
    from accounts.scope import scope_for

    user = job.requested_by
    query = job.query
    # The production holds only what its requester may read, as their assignments stand when it runs.
    selection = resolve_scope(
        within=scope_for(user),
        query=query,
        saved_search_id=job.saved_search_id,
        owner=user,
        matter_id=job.matter_id,
        conversation_ids=job.conversation_ids,
        data_subject_id=job.data_subject_id,
    )
    return ProductionRequest(
        selection=selection,
        formats=list(job.formats),
        policy=ExportPolicy.from_dict(job.redaction),
        bates_prefix=job.bates_prefix,
        bates_start=job.bates_start,
        requested_by={"id": str(user.pk), "username": user.get_username()} if user else {},
        purpose=job.purpose,
        matter_ref=job.matter_ref,
        scope={
            "query": query,
            "saved_search_id": str(job.saved_search_id) if job.saved_search_id else None,
            "matter_id": str(job.matter_id) if job.matter_id else None,
            "conversation_ids": [str(c) for c in job.conversation_ids],
            "data_subject_id": str(job.data_subject_id) if job.data_subject_id else None,
            "conversations_selected": len(selection.conversation_ids),
        },
        production_id=str(job.id),
        created_at=timezone.now(),
    )


def _audit(job: ExportJob, outcome: str, detail: str, messages: int | None) -> None:
    """The audit hook: one event per export run, whatever its outcome."""
    from compliance.audit import Event, record

    user = job.requested_by
    record(
        Event(
            action="export.production",
            outcome=outcome,
            actor_id=user.pk if user else None,
            actor_name=user.get_username() if user else "",
            role=getattr(user, "role", "") or "",
            auth_method="job",
            target_type="export",
            target_id=str(job.id),
            query=job.query or None,
            result_count=messages,
            matter_ref=job.matter_ref,
            detail=detail[:200],
        )
    )


def _run(job: ExportJob, out: IO[bytes]) -> ProductionSummary:
    def progress(fraction: float) -> None:
        ExportJob.objects.filter(id=job.id).update(progress=round(fraction, 4))

    def cancelled() -> bool:
        return bool(ExportJob.objects.filter(id=job.id).values_list("cancel_requested", flat=True).first())

    return build_production(_request(job), out, on_progress=progress, should_cancel=cancelled)


def _start(job_id: int) -> ExportJob | None:
    claimed = ExportJob.objects.filter(id=job_id, status=ExportJob.Status.PENDING).update(
        status=ExportJob.Status.RUNNING, started_at=timezone.now(), progress=0.0
    )
    if not claimed:
        return None
    return ExportJob.objects.select_related("requested_by").get(id=job_id)


def _finish_failure(job: ExportJob, exc: BaseException) -> None:
    if isinstance(exc, Cancelled):
        ExportJob.objects.filter(id=job.id).update(
            status=ExportJob.Status.CANCELLED, finished_at=timezone.now()
        )
        _audit(job, "allowed", "cancelled", None)
        return
    log.exception("export %s failed", job.id)
    # Only the request's own errors (scope and redaction settings, which name ids and options)
    # are kept as written; any other exception's message could quote content (a ValueError
    # naming a production path holds a decrypted title): keep only its type.
    if isinstance(exc, ScopeError | PolicyError):
        error = f"{exc} [export.bad_request]"
    else:
        error = f"internal error ({type(exc).__name__}) [export.internal]"
    ExportJob.objects.filter(id=job.id).update(
        status=ExportJob.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )
    _audit(job, "error", f"failed: {type(exc).__name__}", None)


def _encrypt(plain: IO[bytes], dest: IO[bytes], passphrase: str) -> None:
    import pyzipper

    with (
        zipfile.ZipFile(plain) as src,
        pyzipper.AESZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as dst,
    ):
        dst.setpassword(passphrase.encode())
        dst.setencryption(pyzipper.WZ_AES, nbits=256)
        for info in src.infolist():
            with src.open(info) as r, dst.open(info.filename, "w") as w:
                shutil.copyfileobj(r, w, 1024 * 1024)


def run_job(job_id: int) -> ExportJob:
    """Build the job's production into encrypted blob storage.

    The zip is written straight into a sealed stream (chunked AES-GCM), so the production
    never exists in the clear on disk; the optional AES zip is made by reading the sealed
    production back chunk by chunk and writing a second sealed stream."""
    job = _start(job_id)
    if job is None:
        return ExportJob.objects.get(id=job_id)
    vault = get_vault()
    dek_id, key = vault.data_key(f"export:{job.id}")
    try:
        with tempfile.TemporaryFile() as sealed, tempfile.TemporaryFile() as sealed_aes:
            writer = SealedWriter(sealed, key, dek_id, RESULT_FIELD, job.id)
            summary = _run(job, writer)  # type: ignore[arg-type]
            writer.close()
            result, passphrase_ct = sealed, None
            if job.encrypt_zip:
                passphrase = secrets.token_urlsafe(24)
                sealed.seek(0)
                plain = SealedReader(sealed, key, dek_id, RESULT_FIELD, job.id)
                writer = SealedWriter(sealed_aes, key, dek_id, RESULT_FIELD, job.id)
                _encrypt(plain, writer, passphrase)  # type: ignore[arg-type]
                writer.close()
                passphrase_ct = job.seal("passphrase", passphrase.encode())
                result = sealed_aes
            size, sha = writer.size, writer.sha256.hexdigest()
            result.seek(0)
            name = storages["blobs"].save(f"exports/{job.id}.sealed", File(result))
    except Exception as exc:
        _finish_failure(job, exc)
        return ExportJob.objects.get(id=job.id)
    ExportJob.objects.filter(id=job.id).update(
        status=ExportJob.Status.DONE,
        progress=1.0,
        result_blob=name,
        result_size=size,
        result_sha256=sha,
        manifest_sha256=summary.manifest_sha256,
        passphrase_ct=passphrase_ct,
        dek_id=dek_id,
        counts={**summary.counts, "bates_begin": summary.bates_begin, "bates_end": summary.bates_end},
        finished_at=timezone.now(),
    )
    _audit(job, "allowed", f"done formats={','.join(job.formats)}", summary.counts.get("messages"))
    return ExportJob.objects.get(id=job.id)


def run_job_to_path(job_id: int, path: Path) -> ExportJob:
    """Build the job's production straight to ``path`` (the caller owns that file's protection)."""
    job = _start(job_id)
    if job is None:
        return ExportJob.objects.get(id=job_id)
    try:
        with Path(path).open("wb") as fh:
            summary = _run(job, fh)
    except Exception as exc:
        _finish_failure(job, exc)
        return ExportJob.objects.get(id=job.id)
    ExportJob.objects.filter(id=job.id).update(
        status=ExportJob.Status.DONE,
        progress=1.0,
        result_size=Path(path).stat().st_size,
        manifest_sha256=summary.manifest_sha256,
        counts={**summary.counts, "bates_begin": summary.bates_begin, "bates_end": summary.bates_end},
        finished_at=timezone.now(),
    )
    _audit(job, "allowed", f"done to path formats={','.join(job.formats)}", summary.counts.get("messages"))
    return ExportJob.objects.get(id=job.id)


class PassphraseUnavailable(LookupError):
    """No passphrase to give: ``reason`` is ``not_encrypted``, ``not_ready`` or ``already_revealed``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def passphrase_state(job: ExportJob) -> str:
    """``not_encrypted``, ``not_ready``, ``available`` or ``already_revealed`` (plain columns only)."""
    if not job.encrypt_zip:
        return "not_encrypted"
    if job.status != ExportJob.Status.DONE or not job.result_blob:
        return "not_ready"
    return "available" if job.passphrase_ct else "already_revealed"


def reveal_passphrase(job: ExportJob) -> str:
    """The passphrase of the job's AES-encrypted production, **once**.

    The passphrase is random per production, sealed under the job's own data key (never in
    the clear in the row, the task payload, the logs or the zip), and wiped as it is read:
    whoever reveals it must hand it to the recipient through another channel than the zip.
    A lost passphrase cannot be recovered; run the export again. The caller checks who may
    ask (the API and UI: the requester, with ``Capability.EXPORT_PASSPHRASE`` and a declared
    purpose) and audits the request. Raises :class:`PassphraseUnavailable`."""
    state = passphrase_state(job)
    if state == "not_encrypted":
        raise PassphraseUnavailable(state, "This production is not an encrypted zip; it has no passphrase.")
    if state == "not_ready":
        raise PassphraseUnavailable(state, f"This export is not finished ({job.status}).")
    value = job.reveal_passphrase()
    if value is None:
        raise PassphraseUnavailable(
            "already_revealed", "This export's passphrase has already been revealed; run the export again."
        )
    return value


def open_result(job: ExportJob) -> IO[bytes]:
    """The finished production zip, decrypted chunk by chunk as it is read (seekable)."""
    if job.status != ExportJob.Status.DONE or not job.result_blob or job.dek_id is None:
        raise ValueError(f"export {job.id} has no stored result")
    key = get_vault().data_keys_for_read([job.dek_id]).get(job.dek_id)
    if key is None:
        raise ValueError(f"export {job.id}: its key has been destroyed")
    raw = storages["blobs"].open(job.result_blob, "rb")
    return SealedReader(raw, key, job.dek_id, RESULT_FIELD, job.id)  # type: ignore[return-value]

"""The ingest pipeline. Read it top to bottom:

1. ``receive``: copy the upload into blob storage sealed (chunked AES-GCM) as evidence of
   what was received, computing its SHA-256 on the way; create the ``Source``.
2. ``run``: open the sealed evidence as an export tree (decrypted chunk by chunk in memory,
   never to disk), detect the platform unless it was given, stream the importer's
   conversations through the ``ArchiveWriter`` in batches, and record the summary and the
   completeness notes of the format.
3. On an ``ExportError`` (a bad or hostile export) or any other failure, ``discard_partial``
   removes whatever this source added, so a failed import leaves the archive as it was.
   A job killed half-way leaves its source ``running`` and invisible to search; running it
   again completes it, since the writer skips what it already holds.

Background jobs receive the source id, never content.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction

from archive import index
from archive.importers import REGISTRY, get_importer
from archive.importers.base import ExportError
from archive.importers.detect import detect_platform
from archive.importers.tree import ExportTree, open_export_stream
from archive.models import Attachment, Conversation, DataKey, Message, Participant, Source
from archive.parallel import write_parallel
from archive.reading import open_messages
from archive.vault import get_vault
from archive.vault.stream import SealedReader, seal_stream

log = logging.getLogger(__name__)
EVIDENCE_FIELD = "source.evidence"


class IngestError(Exception):
    """A user-facing ingest failure (bad export, unknown platform). Carries no content."""


# -- 1. receive -------------------------------------------------------------------------------


def receive(
    fileobj: IO[bytes], *, name: str, size: int, platform: str = "", owner: str = "", uploaded_by: Any = None
) -> Source:
    if platform and platform not in REGISTRY:
        raise IngestError(f"unknown platform {platform!r}; known: {', '.join(sorted(REGISTRY))}")
    vault = get_vault()
    source = Source(platform=platform, original_size=size, uploaded_by=uploaded_by, original_sha256="")
    dek_id, key = vault.data_key(f"src:{source.id}")
    source.dek_id = dek_id
    # The file name can name a person ("WhatsApp Chat with …"), so it is sealed with the owner.
    label = json.dumps({"owner": owner, "name": Path(name).name})
    source.owner_ct = vault.seal(key, dek_id, "source.owner", source.id, label.encode())
    source.summary = {"file_name_extension": Path(name).suffix.lower()[:10]}
    with SpooledTemporaryFile(max_size=8 * 1024 * 1024) as sealed:
        source.original_sha256 = seal_stream(fileobj, sealed, key, dek_id, EVIDENCE_FIELD, source.id, size)
        sealed.seek(0)
        source.evidence_blob = storages["blobs"].save(f"evidence/{source.id}.sealed", File(sealed))
    source.save(force_insert=True)
    return source


def receive_path(path: Path, **kwargs: Any) -> Source:
    if not path.exists():
        raise IngestError(f"{path.name}: no such file or folder")
    if path.is_dir():
        raise IngestError(f"{path.name}: a folder; zip it first (the original upload is kept as evidence)")
    with path.open("rb") as fh:
        return receive(fh, name=path.name, size=path.stat().st_size, **kwargs)


def open_evidence(source: Source) -> IO[bytes]:
    vault = get_vault()
    key = vault.data_keys_for_read([source.dek_id or 0]).get(source.dek_id or 0)
    if key is None:
        raise IngestError(f"source {source.id}: its key has been destroyed; the upload can no longer be read")
    raw = storages["blobs"].open(source.evidence_blob, "rb")
    return SealedReader(raw, key, source.dek_id or 0, EVIDENCE_FIELD, source.id)  # type: ignore[return-value]


def _label(source: Source) -> dict[str, str]:
    if not source.owner_ct:
        return {}
    label: dict[str, str] = json.loads(
        get_vault().open_field(source.dek_id or 0, "source.owner", source.id, source.owner_ct)
    )
    return label


# -- 2. run -----------------------------------------------------------------------------------


def run(source_id: int, *, on_progress: Callable[[int], None] | None = None) -> Source:
    source = Source.objects.get(id=source_id)
    Source.objects.filter(id=source.id).update(status=Source.Status.RUNNING, error="")
    started = time.perf_counter()
    processed = 0

    def progress(n: int) -> None:
        nonlocal processed
        processed += n
        if on_progress:
            on_progress(n)
        if processed % 20_000 < n:  # a progress figure on the job for the API and UI
            Source.objects.filter(id=source.id).update(summary={**source.summary, "processed": processed})

    try:
        export = _open(source)
        with export:
            platform, importer = _importer(source, export)
            # Consent first: messages of subjects who refused archiving never reach the writer.
            # Erased subjects' identities (tombstones) first: they never come back.
            from compliance import tombstones  # compliance builds on archive, not the reverse
            from compliance.consent import ingest_filter

            consent_filter = ingest_filter(source)
            tombstone_filter = tombstones.ingest_filter()
            written = write_parallel(
                source,
                consent_filter(
                    tombstone_filter(importer.parse(export, owner_hint=_label(source).get("owner", "")))
                ),
                workers=settings.DMVAULT_WRITE_WORKERS,
                on_progress=progress,
                transform_text=_redaction_transform(source),
            )
        summary = written.as_dict()
        summary.update(
            platform=platform,
            seconds=round(time.perf_counter() - started, 2),
            nested_archives=len(getattr(export, "nested_archives", [])),
            completeness=[{"code": n.code, "text": n.text} for n in importer.completeness()],
        )
        Source.objects.filter(id=source.id).update(
            platform=platform, status=Source.Status.DONE, progress=1.0, summary=summary
        )
    except (ExportError, IngestError) as exc:
        _fail(source, str(exc))
        raise IngestError(str(exc)) from None
    except Exception as exc:
        # The message of an unexpected exception could quote input; record only its type.
        log.exception("ingest of source %s failed", source.id)
        _fail(source, f"internal error ({type(exc).__name__}); the archive is unchanged")
        raise
    source.refresh_from_db()
    return source


def _redaction_transform(source: Source) -> Callable[[str], str] | None:
    """Redaction at ingest (irreversible) when the source's redaction policy asks for it."""
    from compliance.redaction_service import ingest_transform

    return ingest_transform(source)


def _open(source: Source) -> ExportTree:
    name = _label(source).get("name") or f"upload{source.summary.get('file_name_extension', '')}"
    return open_export_stream(lambda: open_evidence(source), name, source.original_size)


def _importer(source: Source, export: ExportTree) -> tuple[str, Any]:
    if source.platform and source.platform != "synthetic":
        return source.platform, get_importer(source.platform)
    return detect_platform(export)


def _fail(source: Source, error: str) -> None:
    discard_partial(source)
    Source.objects.filter(id=source.id).update(status=Source.Status.FAILED, error=error[:2000])


# -- 3. undo ----------------------------------------------------------------------------------


def discard_partial(source: Source, *, batch: int = 1000, dry_run: bool = False) -> dict[str, int]:
    """Remove what ``source`` added and nothing else.

    Safe because it only touches rows this source created: messages whose ``source`` is this
    source (a message first stored by another source is never re-attributed), then
    conversations and participants left with no messages and no other source. Postings are
    removed exactly, recomputed from the decrypted text, before the rows go. Runs in batches.
    """
    counts = {"messages": 0, "conversations": 0, "participants": 0}
    qs = Message.objects.filter(source_id=source.id)
    if dry_run:
        counts["messages"] = qs.count()
        return counts
    while True:
        ids = list(qs.values_list("id", flat=True)[:batch])
        if not ids:
            break
        with transaction.atomic():
            remove_postings(ids)
            Attachment.objects.filter(message_id__in=ids).delete()
            counts["messages"] += Message.objects.filter(id__in=ids).delete()[0]
    conv_ids = list(source.conversations.values_list("id", flat=True))
    with transaction.atomic():
        for conv in Conversation.objects.filter(id__in=conv_ids):
            conv.sources.remove(source)
            if not conv.sources.exists() and not Message.objects.filter(conversation_id=conv.id).exists():
                participant_ids = list(conv.participants.values_list("id", flat=True))
                DataKey.objects.filter(conversation_id=conv.id).delete()
                conv.delete()
                counts["conversations"] += 1
                orphans = Participant.objects.filter(
                    id__in=participant_ids, conversations__isnull=True, messages__isnull=True
                )
                orphan_ids = list(orphans.values_list("id", flat=True))
                DataKey.objects.filter(participant_id__in=orphan_ids).delete()
                counts["participants"] += Participant.objects.filter(id__in=orphan_ids).delete()[0]
    return counts


def remove_postings(message_ids: list[int]) -> None:
    """Delete the exact postings of these messages, from their decrypted text (before any shred)."""
    vault = get_vault()
    by_month: dict[int, list[tuple[int, int]]] = {}
    tokenizers: dict[int, index.Tokenizer | None] = {}
    for msg in open_messages(message_ids, vault=vault):
        if msg.erased:
            continue
        month = msg.sent_at.year * 100 + msg.sent_at.month
        if month not in tokenizers:  # one key unwrap and partition lookup per month
            tokenizers[month] = index.tokenizer_for(vault, month, create=False)
        tok = tokenizers[month]
        if tok is None:
            continue
        by_month.setdefault(month, []).extend(
            (token, msg.id) for token in index.message_tokens(tok, msg.text, (msg.share_url,))
        )
    for month, rows in by_month.items():
        index.delete_postings(month, rows)

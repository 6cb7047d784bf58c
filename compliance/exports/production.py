"""Building one production: a zip of every requested format plus a signed manifest.

Layout::

    manifest.json        files (path, SHA-256, size), scope, requester, purpose, time, software,
                         source exports' SHA-256s, Bates range, redaction policy, counts
    manifest.sig         base64 Ed25519 signature of manifest.json's exact bytes
    manifest.pub         the public key ("ed25519 <base64>"); verify against a key obtained
                         out of band with ``verify_export --public-key`` for full assurance
    attachments/         attachment files, once, shared by the formats
    native/ csv/ rsmf/ eml/ html/ pdf/ loadfile/

Formats run in turn, each streaming conversation by conversation; between conversations the
builder reports progress and checks for cancellation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import platform as py_platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import IO, Any

import django
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.models import Source
from compliance.exports import signing
from compliance.exports.collect import Reader, Selection
from compliance.exports.formats import csvfmt, eml, html, loadfile, native, pdf, rsmf
from compliance.exports.formats.base import Cancelled, ExportContext, ProductionZip, attachment_file_name, iso
from compliance.exports.redact import ExportPolicy, ExportRedactor

FORMAT_ORDER = ("native", "csv", "rsmf", "eml", "html", "pdf", "loadfile")
WRITERS: dict[str, Callable[[ExportContext], None]] = {
    "native": native.write,
    "csv": csvfmt.write,
    "rsmf": rsmf.write,
    "eml": eml.write,
    "html": html.write,
    "pdf": pdf.write,
    "loadfile": loadfile.write,
}
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "manifest.pub"
RESERVED = (MANIFEST, SIGNATURE, PUBLIC_KEY)


def software_version() -> str:
    try:
        return metadata.version("dmvault")
    except metadata.PackageNotFoundError:
        return "0.1.0+source"


def normalize_formats(formats: list[str] | tuple[str, ...]) -> list[str]:
    wanted = set(formats)
    unknown = wanted - set(FORMAT_ORDER)
    if unknown:
        raise ValueError(f"unknown export formats: {', '.join(sorted(unknown))}")
    if not wanted:
        raise ValueError("choose at least one format")
    if "loadfile" in wanted:
        wanted.add("pdf")  # the load file describes the PDFs
    return [f for f in FORMAT_ORDER if f in wanted]


@dataclass
class ProductionRequest:
    selection: Selection
    formats: list[str]
    policy: ExportPolicy = field(default_factory=ExportPolicy)
    bates_prefix: str = "DMV"
    bates_start: int = 1
    requested_by: dict[str, Any] = field(default_factory=dict)  # {"id", "username"}
    purpose: str = ""
    matter_ref: str = ""
    scope: dict[str, Any] = field(default_factory=dict)  # how the selection was described
    production_id: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    messages_per_document: int = 5000


@dataclass
class ProductionSummary:
    manifest_sha256: str
    counts: dict[str, int]
    bates_begin: str | None
    bates_end: str | None
    public_key_fingerprint: str


def build_production(
    request: ProductionRequest,
    out: IO[bytes],
    *,
    on_progress: Callable[[float], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    signing_key: Ed25519PrivateKey | None = None,
) -> ProductionSummary:
    formats = normalize_formats(request.formats)
    key = signing_key or signing.load_signing_key()
    reader = Reader(request.selection, ExportRedactor(request.policy))
    conversations = list(reader.conversations())
    zipped = ProductionZip(out, request.created_at)
    passes = (["attachments"] if request.policy.attachment_bytes else []) + formats
    total = max(1, len(passes) * max(1, len(conversations)))
    done_steps = 0
    last_reported = -1.0
    sources: set[int] = set()
    counts = {"conversations": len(conversations), "messages": 0, "attachments": 0}

    def checkpoint(fmt: str, index: int) -> None:
        nonlocal done_steps, last_reported
        done_steps += 1
        if should_cancel is not None and should_cancel():
            raise Cancelled()
        fraction = min(0.99, done_steps / total)
        if on_progress is not None and fraction - last_reported >= 0.01:
            last_reported = fraction
            on_progress(fraction)

    ctx = ExportContext(
        zip=zipped,
        reader=reader,
        conversations=conversations,
        bates_prefix=request.bates_prefix,
        bates_start=request.bates_start,
        checkpoint=checkpoint,
        messages_per_document=request.messages_per_document,
    )
    # Count messages (and collect their sources) during the first format's pass only.
    first = formats[0]
    plain_messages = ctx.messages
    current = {"format": ""}

    def counting_messages(conv: Any) -> Any:
        for msg in plain_messages(conv):
            if current["format"] == first:
                counts["messages"] += 1
                sources.add(msg.source_id)
            yield msg

    ctx.messages = counting_messages  # type: ignore[method-assign]

    try:
        if request.policy.attachment_bytes:
            for index, conv in enumerate(conversations):
                checkpoint("attachments", index)
                for att in reader.attachments(conv):
                    data = reader.attachment_bytes(att)
                    if data is None:
                        continue
                    path = f"attachments/{attachment_file_name(att)}"
                    zipped.add(path, data, compress=False)
                    ctx.attachment_paths[att.id] = path
                    counts["attachments"] += 1
        for fmt in formats:
            current["format"] = fmt
            WRITERS[fmt](ctx)
    except BaseException:
        zipped.abort()
        raise

    manifest = _manifest(request, formats, ctx, counts, sources, key)
    body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
    zipped.add(MANIFEST, body, record=False)
    zipped.add(SIGNATURE, base64.b64encode(key.sign(body)) + b"\n", record=False)
    zipped.add(PUBLIC_KEY, signing.encode_public(key.public_key()).encode(), record=False)
    zipped.close()
    if on_progress is not None:
        on_progress(1.0)
    return ProductionSummary(
        manifest_sha256=hashlib.sha256(body).hexdigest(),
        counts={**counts, "files": len(zipped.files), "pdf_pages": sum(d.pages for d in ctx.pdf_documents)},
        bates_begin=ctx.bates_label(request.bates_start) if ctx.last_bates else None,
        bates_end=ctx.last_bates,
        public_key_fingerprint=signing.fingerprint(key.public_key()),
    )


def _manifest(
    request: ProductionRequest,
    formats: list[str],
    ctx: ExportContext,
    counts: dict[str, int],
    source_ids: set[int],
    key: Ed25519PrivateKey,
) -> dict[str, Any]:
    all_sources = sorted(source_ids | {s for c in ctx.conversations for s in c.source_ids})
    sources = [
        {
            "id": str(s.id),
            "platform": s.platform,
            "original_sha256": s.original_sha256,
            "original_size": s.original_size,
            "uploaded_at": iso(s.uploaded_at),
            "contributed_messages": s.id in source_ids,
        }
        for s in Source.objects.filter(id__in=all_sources).order_by("uploaded_at", "id")
    ]
    return {
        "format": "dmvault-production",
        "version": 1,
        "production_id": request.production_id,
        "created_at": iso(request.created_at),
        "software": {
            "name": "DMVault",
            "version": software_version(),
            "django": django.get_version(),
            "python": py_platform.python_version(),
        },
        "requested_by": request.requested_by,
        "purpose": request.purpose,
        "matter_ref": request.matter_ref,
        "scope": request.scope,
        "formats": formats,
        "redaction": request.policy.as_dict(),
        "bates": {
            "prefix": request.bates_prefix,
            "start": request.bates_start,
            "begin": ctx.bates_label(request.bates_start) if ctx.last_bates else None,
            "end": ctx.last_bates,
            "pages": sum(d.pages for d in ctx.pdf_documents),
        },
        "counts": {**counts, "files": len(ctx.zip.files)},
        "sources": sources,
        "signature": {
            "algorithm": "Ed25519",
            "signed_file": MANIFEST,
            "signature_file": SIGNATURE,
            "public_key_file": PUBLIC_KEY,
            "public_key_sha256": signing.fingerprint(key.public_key()),
        },
        "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in ctx.zip.files],
    }

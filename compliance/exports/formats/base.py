"""What every format writer gets: the production zip (one streamed entry at a time, each hashed
as it is written), the reader, the conversations, Bates numbering and progress/cancellation.

Formats run one after another, each walking the conversations in order and streaming each
conversation's messages from the database, so no format ever holds more than one
conversation's batch (or, for the per-file formats, one output document) in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import IO

from compliance.exports.collect import Reader, XAttachment, XConversation, XMessage, XParticipant


class Cancelled(Exception):
    """The job was cancelled between two conversations."""


@dataclass(frozen=True)
class FileRecord:
    path: str
    sha256: str
    size: int


class EntryWriter:
    """A write-only stream into one zip member that hashes and counts what passes through."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._sha.update(data)
        self.size += len(data)
        self._raw.write(data)
        return len(data)

    def text(self, value: str) -> None:
        self.write(value.encode("utf-8"))

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class ProductionZip:
    def __init__(self, fileobj: IO[bytes], when: datetime) -> None:
        self.zf = zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self.when = when.astimezone(UTC)
        self.files: list[FileRecord] = []
        self._paths: set[str] = set()

    def _info(self, path: str, compress: bool) -> zipfile.ZipInfo:
        if path in self._paths or path.startswith("/") or ".." in PurePosixPath(path).parts:
            raise ValueError(f"bad or repeated production path {path!r}")
        self._paths.add(path)
        when = self.when
        info = zipfile.ZipInfo(
            path, date_time=(when.year, when.month, when.day, when.hour, when.minute, when.second)
        )
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    @contextmanager
    def entry(self, path: str, *, compress: bool = True, record: bool = True) -> Iterator[EntryWriter]:
        info = self._info(path, compress)
        with self.zf.open(info, "w", force_zip64=True) as raw:
            writer = EntryWriter(raw)
            yield writer
        if record:
            self.files.append(FileRecord(path, writer.hexdigest(), writer.size))

    def add(self, path: str, data: bytes, *, compress: bool = True, record: bool = True) -> FileRecord:
        with self.entry(path, compress=compress, record=record) as out:
            out.write(data)
        return FileRecord(path, hashlib.sha256(data).hexdigest(), len(data))

    def copy_from(self, path: str, src: IO[bytes], *, compress: bool = True) -> None:
        with self.entry(path, compress=compress) as out:
            while chunk := src.read(1024 * 1024):
                out.write(chunk)

    def close(self) -> None:
        self.zf.close()

    def abort(self) -> None:
        """Close after a failure (the caller discards the file), so nothing is left half-open."""
        with contextlib.suppress(Exception):  # the production is being thrown away
            self.zf.close()


@dataclass
class PdfDocument:
    """One PDF transcript, as the load file describes it."""

    doc_id: str
    path: str
    conversation_id: int
    part: int
    begin_bates: str
    end_bates: str
    pages: int
    messages: int
    first_sent: datetime | None
    last_sent: datetime | None
    title: str
    platform: str
    participants: str
    custodian: str
    native_path: str
    sha256: str = ""


@dataclass
class ExportContext:
    zip: ProductionZip
    reader: Reader
    conversations: list[XConversation]
    bates_prefix: str = "DMV"
    bates_start: int = 1
    bates_width: int = 8
    checkpoint: Callable[[str, int], None] = lambda fmt, index: None
    attachment_paths: dict[int, str] = field(default_factory=dict)
    pdf_documents: list[PdfDocument] = field(default_factory=list)
    messages_per_document: int = 5000
    counts: dict[str, int] = field(default_factory=dict)
    _next_bates: int = -1

    def next_bates(self) -> str:
        if self._next_bates < 0:
            self._next_bates = self.bates_start
        value = self._next_bates
        self._next_bates += 1
        return self.bates_label(value)

    def bates_label(self, value: int) -> str:
        return f"{self.bates_prefix}{value:0{self.bates_width}d}"

    @property
    def last_bates(self) -> str | None:
        return self.bates_label(self._next_bates - 1) if self._next_bates > self.bates_start else None

    def messages(self, conv: XConversation) -> Iterator[XMessage]:
        return self.reader.messages(conv)

    def person(self, participant_id: int | None) -> XParticipant | None:
        return self.reader.person(participant_id)

    def sender_label(self, msg: XMessage) -> str:
        p = self.person(msg.sender_id)
        if p is None:
            return "(system)"
        return p.name or p.handle or p.platform_id

    def attachment_path(self, att: XAttachment) -> str:
        return self.attachment_paths.get(att.id, "")


def iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def attachment_file_name(att: XAttachment) -> str:
    suffix = PurePosixPath(att.name or "").suffix.lower()
    safe = "".join(c for c in suffix if c.isalnum() or c == ".")[:10]
    return f"{att.id}{safe}"

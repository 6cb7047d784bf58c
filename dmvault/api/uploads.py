"""Streaming, sealed uploads: the plaintext of an uploaded export never touches the disk.

Django's default upload handlers keep a small upload in memory and write a large one to a
temporary file *in plaintext* before the view runs. ``SealingUploadHandler`` replaces them for
the upload endpoint: each chunk is encrypted as it arrives (AES-256-GCM, the ``seal_stream``
chunk format of ``archive.vault.stream``) under an ephemeral key that lives only in this
process's memory, into a spooled file that may spill to disk as *ciphertext*. The view then
hands ``SealedUpload.open()`` (a decrypting reader, one 1 MiB chunk in memory at a time) to
``archive.ingest.receive``, which re-seals it under the source's own key. When the request
ends the spool is closed and the ephemeral key is gone, so whatever reached the disk is noise.

The size limit (``DMVAULT_UPLOAD_MAX_BYTES``) is enforced before the body is read when the
request declares its length, and again on the bytes actually received (413 either way).
"""

from __future__ import annotations

import hashlib
import io
import secrets
from tempfile import SpooledTemporaryFile
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework.exceptions import APIException

from archive.vault import aad
from archive.vault.stream import CHUNK, HEADER, MAGIC, SealedReader

SPOOL_FIELD = "upload.spool"
SPOOL_MEMORY = 8 * 1024 * 1024  # ciphertext kept in memory up to this, then spilled to a temp file
DEFAULT_MAX_BYTES = 20 * 1024**3


def max_upload_bytes() -> int:
    return int(getattr(settings, "DMVAULT_UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES))


class UploadTooLarge(APIException):
    status_code = 413
    default_code = "upload_too_large"
    default_detail = "The upload is larger than this server accepts."

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The upload is larger than this server accepts (at most {limit} bytes; "
            "the limit is the DMVAULT_UPLOAD_MAX_BYTES setting).",
            "upload_too_large",
        )


def _chunk_aad(base: bytes, index: int, final: bool) -> bytes:
    # The same AAD layout as archive.vault.stream, so SealedReader opens the spool.
    return base + b"|chunk|%d|%d" % (index, int(final))


class StreamSealer:
    """Push-based ``seal_stream``: the final chunk is only known at the end, so one chunk of
    plaintext (at most 1 MiB, in memory) is held back; the header's size is patched on close."""

    def __init__(self, dest: IO[bytes], key: AESGCM, field: str, row_id: int, dek_id: int) -> None:
        self.dest, self.key = dest, key
        self.base = aad(field, row_id, dek_id)
        self.buffer = bytearray()
        self.index = 0
        self.size = 0
        self.digest = hashlib.sha256()
        dest.write(HEADER.pack(MAGIC, CHUNK, 0))

    def _seal(self, data: bytes, final: bool) -> None:
        nonce = secrets.token_bytes(12)
        self.dest.write(nonce + self.key.encrypt(nonce, data, _chunk_aad(self.base, self.index, final)))
        self.index += 1

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.digest.update(data)
        self.buffer += data
        # Seal only full chunks that are certainly not the last one.
        while len(self.buffer) > CHUNK:
            self._seal(bytes(self.buffer[:CHUNK]), False)
            del self.buffer[:CHUNK]

    def close(self) -> None:
        self._seal(bytes(self.buffer), True)
        self.buffer.clear()
        self.dest.seek(0)
        self.dest.write(HEADER.pack(MAGIC, CHUNK, self.size))
        self.dest.seek(0)


class SealedUpload(UploadedFile):
    """An uploaded file held as ciphertext under an ephemeral in-memory key."""

    def __init__(self, spool: IO[bytes], key: AESGCM, name: str, size: int, content_type: str) -> None:
        super().__init__(spool, name=name, content_type=content_type, size=size)
        self._spool = spool
        self._key: AESGCM | None = key

    def open_plaintext(self) -> IO[bytes]:
        """A reader of the plaintext, decrypting one chunk at a time (``read(n)`` returns n bytes)."""
        if self._key is None:
            raise ValueError("this upload has been closed")
        self._spool.seek(0)
        raw = _Unclosing(self._spool)
        reader = SealedReader(raw, self._key, 0, SPOOL_FIELD, 0)  # type: ignore[arg-type]
        return io.BufferedReader(reader, buffer_size=CHUNK)

    def close(self) -> None:
        self._key = None
        self._spool.close()


class _Unclosing(io.RawIOBase):
    """Lets a reader be closed without closing the spool under it (the request closes that)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class SealingUploadHandler(FileUploadHandler):
    """Seals every uploaded file as it streams in; counts bytes against the size limit."""

    chunk_size = 256 * 1024

    def __init__(self, request: Any = None, *, limit: int | None = None) -> None:
        super().__init__(request)
        self.limit = limit if limit is not None else max_upload_bytes()
        self.received = 0
        self.sealer: StreamSealer | None = None
        self.spool: IO[bytes] | None = None
        self.key: AESGCM | None = None

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: Any = None,
    ) -> None:
        if content_length and content_length > self.limit + 64 * 1024:  # multipart framing allowance
            raise UploadTooLarge(self.limit)
        return None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.key = AESGCM(AESGCM.generate_key(256))
        self.spool = SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - closed with the upload
        self.sealer = StreamSealer(self.spool, self.key, SPOOL_FIELD, 0, 0)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._discard()
            raise UploadTooLarge(self.limit)
        assert self.sealer is not None
        self.sealer.write(raw_data)
        return None  # no other handler sees the plaintext

    def file_complete(self, file_size: int) -> SealedUpload | None:
        if self.sealer is None or self.spool is None or self.key is None:
            return None
        self.sealer.close()
        upload = SealedUpload(
            self.spool, self.key, self.file_name or "upload", self.sealer.size, self.content_type or ""
        )
        upload.sha256 = self.sealer.digest.hexdigest()  # type: ignore[attr-defined]
        self.sealer = self.spool = self.key = None
        return upload

    def upload_interrupted(self) -> None:
        self._discard()

    def _discard(self) -> None:
        if self.spool is not None:
            self.spool.close()
        self.sealer = self.spool = self.key = None

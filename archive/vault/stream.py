"""Sealed streams: large files (original uploads, kept as evidence) encrypted in 1 MiB chunks.

Each chunk is AES-256-GCM with its own nonce; the AAD names the row, the chunk number and
whether it is the last chunk, so chunks cannot be reordered, dropped or truncated unnoticed.
Chunking gives random access: ``SealedReader`` is a seekable file object, so ``zipfile`` can
read a sealed zip member by member without the plaintext ever being written to disk.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import struct
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive.vault import aad
from archive.vault.errors import CiphertextInvalid

MAGIC = b"DMVS1"
CHUNK = 1024 * 1024
HEADER = struct.Struct(">5sIQ")  # magic, chunk size, plaintext size
OVERHEAD = 12 + 16


def _chunk_aad(base: bytes, index: int, final: bool) -> bytes:
    return base + b"|chunk|%d|%d" % (index, int(final))


def seal_stream(
    src: IO[bytes], dest: IO[bytes], key: AESGCM, dek_id: int, field: str, row_id: int, size: int
) -> str:
    """Encrypt ``size`` bytes of ``src`` into ``dest``; returns the plaintext's SHA-256 hex."""
    base = aad(field, row_id, dek_id)
    digest = hashlib.sha256()
    dest.write(HEADER.pack(MAGIC, CHUNK, size))
    chunks = max(1, -(-size // CHUNK))
    for index in range(chunks):
        data = src.read(CHUNK)
        digest.update(data)
        nonce = secrets.token_bytes(12)
        dest.write(nonce + key.encrypt(nonce, data, _chunk_aad(base, index, index == chunks - 1)))
    if src.read(1):
        raise ValueError("the stream is longer than its declared size")
    return digest.hexdigest()


class SealedReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes], key: AESGCM, dek_id: int, field: str, row_id: int) -> None:
        self._raw = raw
        self._key = key
        self._base = aad(field, row_id, dek_id)
        magic, self._chunk, self._size = HEADER.unpack(raw.read(HEADER.size))
        if magic != MAGIC:
            raise CiphertextInvalid(f"{field} {row_id}: not a sealed stream")
        self._chunks = max(1, -(-self._size // self._chunk))
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _load(self, index: int) -> bytes:
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        self._raw.seek(HEADER.size + index * (self._chunk + OVERHEAD))
        blob = self._raw.read(self._chunk + OVERHEAD)
        try:
            data = self._key.decrypt(
                blob[:12], blob[12:], _chunk_aad(self._base, index, index == self._chunks - 1)
            )
        except InvalidTag:
            raise CiphertextInvalid(
                f"sealed stream chunk {index} does not authenticate (tampered or truncated)"
            ) from None
        self._cached = (index, data)
        return data

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._pos >= self._size:
            return 0
        index, offset = divmod(self._pos, self._chunk)
        data = self._load(index)[offset : offset + len(buffer)]
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class SealedWriter(io.RawIOBase):
    """Write a sealed stream of unknown length: plaintext goes in, ciphertext chunks go to
    ``raw`` (which must be seekable, to patch the size into the header at close). Lets a
    producer such as ``zipfile`` write a production straight into its encrypted form."""

    def __init__(self, raw: IO[bytes], key: AESGCM, dek_id: int, field: str, row_id: int) -> None:
        self._raw = raw
        self._key = key
        self._base = aad(field, row_id, dek_id)
        self._start = raw.tell()
        raw.write(HEADER.pack(MAGIC, CHUNK, 0))
        self._buffer = bytearray()
        self._index = 0
        self._size = 0
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = bytes(data)
        self._buffer += view
        self._size += len(view)
        self.sha256.update(view)
        # Hold back one full chunk: the last chunk must be written with the final flag.
        while len(self._buffer) > CHUNK:
            self._emit(bytes(self._buffer[:CHUNK]), final=False)
            del self._buffer[:CHUNK]
        return len(view)

    def _emit(self, data: bytes, *, final: bool) -> None:
        nonce = secrets.token_bytes(12)
        self._raw.write(nonce + self._key.encrypt(nonce, data, _chunk_aad(self._base, self._index, final)))
        self._index += 1

    def close(self) -> None:
        if self.closed:
            return
        self._emit(bytes(self._buffer), final=True)
        self._buffer.clear()
        end = self._raw.tell()
        self._raw.seek(self._start)
        self._raw.write(HEADER.pack(MAGIC, CHUNK, self._size))
        self._raw.seek(end)
        super().close()

    @property
    def size(self) -> int:
        return self._size

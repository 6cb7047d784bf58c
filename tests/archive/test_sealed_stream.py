"""Sealed streams: chunked AES-GCM files that read back exactly and refuse tampering."""

from __future__ import annotations

import io
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive.vault import CiphertextInvalid
from archive.vault.stream import CHUNK, SealedReader, SealedWriter, seal_stream

KEY = AESGCM(AESGCM.generate_key(256))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_a_writer_of_unknown_length_reads_back_exactly(size: int) -> None:
    data = os.urandom(size)
    raw = io.BytesIO()
    writer = SealedWriter(raw, KEY, 7, "export.result", 42)
    for start in range(0, size, 300_000):
        writer.write(data[start : start + 300_000])
    writer.close()
    assert writer.size == size
    raw.seek(0)
    reader = SealedReader(raw, KEY, 7, "export.result", 42)
    assert reader.read() == data


@pytest.mark.parametrize("size", [0, CHUNK, CHUNK + 5])
def test_seal_stream_and_writer_produce_the_same_layout(size: int) -> None:
    data = os.urandom(size)
    a, b = io.BytesIO(), io.BytesIO()
    seal_stream(io.BytesIO(data), a, KEY, 1, "f", 2, size)
    w = SealedWriter(b, KEY, 1, "f", 2)
    w.write(data)
    w.close()
    assert len(a.getvalue()) == len(b.getvalue())
    for raw in (a, b):
        raw.seek(0)
        assert SealedReader(raw, KEY, 1, "f", 2).read() == data


def test_random_access_reads_what_was_written() -> None:
    data = os.urandom(CHUNK * 2 + 100)
    raw = io.BytesIO()
    seal_stream(io.BytesIO(data), raw, KEY, 1, "f", 2, len(data))
    raw.seek(0)
    reader = SealedReader(raw, KEY, 1, "f", 2)
    reader.seek(CHUNK + 10)
    assert reader.read(50) == data[CHUNK + 10 : CHUNK + 60]
    reader.seek(-20, io.SEEK_END)
    assert reader.read() == data[-20:]


def test_dropping_the_last_chunk_is_detected() -> None:
    data = os.urandom(CHUNK * 2)
    raw = io.BytesIO()
    seal_stream(io.BytesIO(data), raw, KEY, 1, "f", 2, len(data))
    truncated = io.BytesIO(raw.getvalue()[: -(CHUNK + 28)])
    # Claim the shorter size too: the remaining chunk is not marked final, so it fails.
    from archive.vault.stream import HEADER, MAGIC

    body = truncated.getvalue()[HEADER.size :]
    forged = io.BytesIO(HEADER.pack(MAGIC, CHUNK, CHUNK) + body)
    with pytest.raises(CiphertextInvalid):
        SealedReader(forged, KEY, 1, "f", 2).read()


def test_a_stream_sealed_for_another_row_does_not_open() -> None:
    raw = io.BytesIO()
    seal_stream(io.BytesIO(b"evidence"), raw, KEY, 1, "source.evidence", 10, 8)
    raw.seek(0)
    with pytest.raises(CiphertextInvalid):
        SealedReader(raw, KEY, 1, "source.evidence", 11).read()

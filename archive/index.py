"""The blind index: one posting table per month, ``archive_posting_YYYYMM(token, message_id)``.

A token is the first 64 bits of HMAC-SHA256 under that month's index key of a type byte and a
normalized term, so the database never holds a word. Monthly tables keep the B-tree that ingest
writes into small, let a date-bounded query touch only its months, and let retention drop a
whole month at once. ``WITHOUT ROWID`` on SQLite stores each posting once, in the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from django.db import connection

from archive.vault import Vault
from archive.vault.blind_index import terms

WORD = b"w"


def table(month: int) -> str:
    if not 100001 <= month <= 999912:
        raise ValueError(f"bad month {month}")
    return f"archive_posting_{month}"


def existing_months() -> set[int]:
    from archive.models import PostingPartition

    return set(PostingPartition.objects.values_list("month", flat=True))


def ensure_partition(month: int) -> None:
    from archive.models import PostingPartition

    suffix = " WITHOUT ROWID" if connection.vendor == "sqlite" else ""
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {table(month)} "
            f"(token BIGINT NOT NULL, message_id BIGINT NOT NULL, PRIMARY KEY (token, message_id)){suffix}"
        )
    PostingPartition.objects.get_or_create(month=month)


def drop_partition(month: int) -> None:
    from archive.models import PostingPartition

    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table(month)}")
    PostingPartition.objects.filter(month=month).delete()


class Tokenizer:
    """Turns terms into tokens for one month, caching per term: words follow Zipf's law, so
    most of an import's terms repeat and cost one dict lookup instead of an HMAC."""

    def __init__(self, key: bytes) -> None:
        self._base = hmac.new(key, WORD, hashlib.sha256)
        self.cache: dict[str, int] = {}

    def token(self, term: str) -> int:
        tok = self.cache.get(term)
        if tok is None:
            mac = self._base.copy()
            mac.update(term.encode())
            tok = int.from_bytes(mac.digest()[:8], "big", signed=True)
            if len(self.cache) < 500_000:
                self.cache[term] = tok
        return tok


def tokenizer_for(vault: Vault, month: int, *, create: bool) -> Tokenizer | None:
    key = vault.index_key(month, create=create)
    return Tokenizer(key) if key is not None else None


def message_terms(text: str, extra: Iterable[str] = ()) -> set[str]:
    found = terms(text) if text else set()
    for item in extra:
        if item:
            found |= terms(item)
    return found


def insert_postings(month: int, rows: list[tuple[int, int]]) -> None:
    if not rows:
        return
    name = table(month)
    if connection.vendor == "postgresql":
        raw = connection.connection
        with raw.cursor() as cur, cur.copy(f"COPY {name} (token, message_id) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        connection.connection.executemany(
            f"INSERT OR IGNORE INTO {name} (token, message_id) VALUES (?, ?)", rows
        )


def delete_postings(month: int, rows: list[tuple[int, int]]) -> None:
    if not rows:
        return
    with connection.cursor() as cur:
        cur.executemany(f"DELETE FROM {table(month)} WHERE token = %s AND message_id = %s", rows)

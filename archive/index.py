"""The blind index: one posting table per month, ``archive_posting_YYYYMM(token, message_id)``.

A token is the first 64 bits of HMAC-SHA256 under that month's index key of a type byte and a
normalized term, so the database never holds a word. Monthly tables keep the B-tree that ingest
writes into small, let a date-bounded query touch only its months, and let retention drop a
whole month at once. ``WITHOUT ROWID`` on SQLite stores each posting once, in the key.

Besides words (type ``w``) a month may hold prefix tokens (type ``p``, opt-in) and word-pair
tokens (type ``b``, ``DMVAULT_INDEX_PAIRS``): each two index terms that follow each other in a
message, so a phrase finds the messages where its words are adjacent instead of every message
that has them all. Whether a month has pair tokens is fixed when its partition is created
(``PostingPartition.pairs``): the writer adds them, removal recomputes them and the search uses
them only there, so changing the setting never makes an older month unsearchable or leaves
postings behind.

On SQLite each month also has a staging table, ``archive_posting_YYYYMM_staged``, with no key
at all (the table exists on PostgreSQL too, but writers there COPY straight into the month).
Tokens are random, so inserting a batch's postings straight into the month's B-tree dirties
about one page per posting, and once the tree outgrows a batch every commit rewrites nearly
all of it (measured: 12 µs per posting and most of a 4 s commit per 20,000 messages at one
million). The writer appends postings to the staging table instead (sequential pages) and
``merge_staged`` moves them into the month's B-tree in token order, each page written once:
when an import finishes, and during a long import whenever a month has gathered enough.

Staged postings are not searchable yet. That is consistent, not a gap: search shows only
messages of sources whose import is done, and an import merges before it is done. What
deletes postings (retention, erasure, discard) merges the month first, so no staged posting
can outlive its message; a crashed import's staged postings are merged by the next writer.
"""

from __future__ import annotations

import hashlib
import time
from array import array
from collections.abc import Iterable, Iterator
from itertools import repeat

from django.conf import settings
from django.db import IntegrityError, ProgrammingError, connection, transaction

from archive.vault import Vault
from archive.vault.blind_index import _CJK_RE, terms
from archive.vault.blind_index import pair_terms as _pair_terms

WORD = b"w"
PREFIX = b"p"  # opt-in (DMVAULT_INDEX_PREFIXES): the 3- to 8-character prefixes of each word
PREFIX_MIN, PREFIX_MAX = 3, 8
PAIR = b"b"  # DMVAULT_INDEX_PAIRS, per partition: two adjacent word terms, "first second"
PAIR_CACHE_MAX = 0  # pairs are far more varied than words: not worth a cache per month


def table(month: int) -> str:
    if not 100001 <= month <= 999912:
        raise ValueError(f"bad month {month}")
    return f"archive_posting_{month}"


def staged_table(month: int) -> str:
    return f"{table(month)}_staged"


# A month whose staging table holds this many postings is merged during the import, which
# bounds the merge's sort (SQLite sorts in memory: temp_store=MEMORY).
STAGE_MERGE_ROWS = 2_000_000


def existing_months() -> set[int]:
    from archive.models import PostingPartition

    return set(PostingPartition.objects.values_list("month", flat=True))


def pairs_enabled() -> bool:
    return bool(getattr(settings, "DMVAULT_INDEX_PAIRS", True))


def partition_flags(months: Iterable[int]) -> dict[int, tuple[bool, bool]]:
    """``(pairs, prefixes)`` of each month's partition: whether it was created with pair and
    prefix tokens (and so holds them for every message), decided once, when it was created."""
    from archive.models import PostingPartition

    rows = PostingPartition.objects.filter(month__in=list(months)).values_list("month", "pairs", "prefixes")
    return {month: (pairs, prefixes) for month, pairs, prefixes in rows}


def ensure_partition(month: int) -> None:
    from archive.models import PostingPartition

    suffix = " WITHOUT ROWID" if connection.vendor == "sqlite" else ""
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {table(month)} "
        f"(token BIGINT NOT NULL, message_id BIGINT NOT NULL, PRIMARY KEY (token, message_id)){suffix}"
    )
    staged = f"CREATE TABLE IF NOT EXISTS {staged_table(month)} (token BIGINT NOT NULL, message_id BIGINT NOT NULL)"
    for statement in (ddl, staged):
        for attempt in range(5):
            try:
                with transaction.atomic(), connection.cursor() as cur:
                    cur.execute(statement)
                break
            except (IntegrityError, ProgrammingError):
                # Two writers creating the same month at once: even with IF NOT EXISTS,
                # PostgreSQL reports the race as a unique violation on its catalogue or as
                # "type ... already exists". Once the other writer commits, the table exists.
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
    try:
        with transaction.atomic():
            PostingPartition.objects.get_or_create(
                month=month, defaults={"pairs": pairs_enabled(), "prefixes": prefixes_enabled()}
            )
    except IntegrityError:  # created by a parallel writer in between
        pass


def drop_partition(month: int) -> None:
    from archive.models import PostingPartition

    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table(month)}")
        cur.execute(f"DROP TABLE IF EXISTS {staged_table(month)}")
    PostingPartition.objects.filter(month=month).delete()


class Tokenizer:
    """Turns terms into tokens for one month, caching per term: words follow Zipf's law, so
    most of an import's terms repeat and cost one dict lookup instead of an HMAC."""

    def __init__(
        self,
        key: bytes,
        kind: bytes = WORD,
        *,
        pairs: bool = False,
        prefixes: bool = False,
        cache_max: int = 500_000,
    ) -> None:
        self._key = key
        self._kind = kind
        self._cache_max = cache_max
        # HMAC-SHA256 (RFC 2104) with the keyed inner and outer states computed once: the same
        # tokens as ``hmac.digest(key, kind + term)`` at a fraction of the cost per term.
        block = hashlib.sha256(key).digest() if len(key) > 64 else key
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block) + kind)
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self.pairs = pairs  # the month's partition holds pair tokens
        self.prefixes = prefixes  # ... and prefix tokens
        self.cache: dict[str, int] = {}
        self._prefix: Tokenizer | None = None
        self._pair: Tokenizer | None = None

    def token(self, term: str) -> int:
        tok = self.cache.get(term)
        if tok is None:
            inner = self._inner.copy()
            inner.update(term.encode())
            outer = self._outer.copy()
            outer.update(inner.digest())
            tok = int.from_bytes(outer.digest()[:8], "big", signed=True)
            if len(self.cache) < self._cache_max:
                self.cache[term] = tok
        return tok

    def prefix_token(self, prefix: str) -> int:
        """The token of a prefix term: same month key, type byte ``p``, so it never equals a word's."""
        if self._prefix is None:
            self._prefix = Tokenizer(self._key, PREFIX)
        return self._prefix.token(prefix)

    def pair_token(self, pair: str) -> int:
        """The token of a pair term (``"first second"``): type byte ``b``, never a word's or a prefix's."""
        if self._pair is None:
            # Most pairs are rare: a cache per month would hold most of them, in every writer
            # and for every month it touches, to save about a microsecond each.
            self._pair = Tokenizer(self._key, PAIR, cache_max=PAIR_CACHE_MAX)
        return self._pair.token(pair)


def tokenizer_for(vault: Vault, month: int, *, create: bool) -> Tokenizer | None:
    """The month's tokenizer, ``pairs`` and ``prefixes`` set as its partition has those tokens."""
    key = vault.index_key(month, create=create)
    if key is None:
        return None
    pairs, prefixes = partition_flags([month]).get(month, (False, False))
    return Tokenizer(key, pairs=pairs, prefixes=prefixes)


def tokenizers_for(vault: Vault, months: Iterable[int]) -> dict[int, Tokenizer]:
    """The tokenizers of the ``months`` that have an index key: two queries in all."""
    wanted = list(months)
    keys = vault.index_keys(wanted)
    flags = partition_flags(wanted)
    out = {}
    for month, key in keys.items():
        pairs, prefixes = flags.get(month, (False, False))
        out[month] = Tokenizer(key, pairs=pairs, prefixes=prefixes)
    return out


def message_terms(text: str, extra: Iterable[str] = ()) -> set[str]:
    found = terms(text) if text else set()
    for item in extra:
        if item:
            found |= terms(item)
    return found


def prefixes_enabled() -> bool:
    return bool(getattr(settings, "DMVAULT_INDEX_PREFIXES", False))


def is_prefixable(term: str) -> bool:
    """Prefix tokens are made for alphabetic-script words, not CJK bigrams or emoji."""
    return len(term) >= PREFIX_MIN and term[0].isalnum() and not _CJK_RE.match(term[0])


def prefix_terms(words: Iterable[str]) -> set[str]:
    """The prefix terms (3 to 8 characters, the whole word included when it is that short) of a
    message's word terms, for a partition that has prefix tokens. A query prefix longer than 8
    characters looks up its first 8 and is confirmed on the decrypted text."""
    out: set[str] = set()
    for word in words:
        if is_prefixable(word):
            out.update(word[:n] for n in range(PREFIX_MIN, min(PREFIX_MAX, len(word)) + 1))
    return out


def pair_terms(text: str) -> set[str]:
    """The word pairs of a message's text (not of ``extra``: phrases are matched in the text
    only), for a partition that has pair tokens; see ``blind_index.pair_terms``."""
    return _pair_terms(text) if text else set()


def message_tokens(tok: Tokenizer, text: str, extra: Iterable[str] = ()) -> list[int]:
    """Every token a message is indexed under (words, prefixes and pairs when the month has
    them): what removing a message's postings must delete."""
    words = message_terms(text, extra)
    out = [tok.token(t) for t in words]
    if tok.prefixes:
        out.extend(tok.prefix_token(p) for p in prefix_terms(words))
    if tok.pairs:
        out.extend(tok.pair_token(p) for p in pair_terms(text))
    return out


class PostingBuffer:
    """A writer's pending postings for one month, as two arrays of 64-bit integers: 16 bytes a
    posting instead of ~120 for a list of tuples (a 10,000-message batch holds ~220,000)."""

    __slots__ = ("ids", "tokens")

    def __init__(self) -> None:
        self.tokens = array("q")
        self.ids = array("q")

    def add(self, tokens: list[int], message_id: int) -> None:
        self.tokens.extend(tokens)
        self.ids.extend(repeat(message_id, len(tokens)))

    def __len__(self) -> int:
        return len(self.tokens)

    def rows(self) -> Iterator[tuple[int, int]]:
        return zip(self.tokens, self.ids, strict=True)

    def sorted_rows(self) -> list[tuple[int, int]]:
        return sorted(self.rows())


def insert_postings(month: int, rows: Iterable[tuple[int, int]]) -> None:
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


def stages_postings() -> bool:
    """Whether writers stage postings. SQLite only: PostgreSQL absorbs a batch's sorted COPY
    into the month's B-tree well, and merging a million staged postings there took 10-20 s per
    month (measured at 1M messages), more than it saved."""
    return connection.vendor == "sqlite"


def stage_postings(month: int, rows: Iterable[tuple[int, int]]) -> None:
    """Append postings to the month's staging table (see the module docstring); the caller's
    transaction is the message rows' own, so a message and its postings commit together."""
    assert stages_postings(), "only SQLite writers stage postings"
    connection.connection.executemany(
        f"INSERT INTO {staged_table(month)} (token, message_id) VALUES (?, ?)", rows
    )


def merge_staged(month: int) -> int:
    """Move the month's staged postings into its B-tree, in key order; returns how many moved.
    Run it inside a transaction (SQLite has one writer at a time, so nothing is staged meanwhile)."""
    staged, name = staged_table(month), table(month)
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {staged}")
        count = int(cur.fetchone()[0])
        if count:
            cur.execute(
                f"INSERT OR IGNORE INTO {name} (token, message_id) "
                f"SELECT token, message_id FROM {staged} ORDER BY token, message_id"
            )
            cur.execute(f"DELETE FROM {staged}")
        return count


def refresh_statistics(months: Iterable[int]) -> None:
    """On PostgreSQL, after an import: vacuum and analyze the posting tables it wrote to and
    the message table. A fresh posting table has no planner statistics and no visibility map
    until autovacuum gets to it (it may lag behind a large import, or be off): queries then
    plan with guessed row counts and their index-only scans visit the heap for every posting
    (measured at 1M: two-word queries twice as slow). Inside a transaction (VACUUM cannot run
    there) only the statistics are refreshed. SQLite needs neither."""
    wanted = sorted(set(months))
    if connection.vendor != "postgresql" or not wanted:
        return
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cur:
        for name in [*(table(m) for m in wanted), "archive_message"]:
            cur.execute(f"{command} {name}")


def has_staged(month: int) -> bool:
    """Whether the month has postings waiting to be merged (never on PostgreSQL: no query)."""
    if not stages_postings():
        return False
    with connection.cursor() as cur:
        cur.execute(f"SELECT 1 FROM {staged_table(month)} LIMIT 1")
        return cur.fetchone() is not None


def delete_postings(month: int, rows: list[tuple[int, int]]) -> None:
    if not rows:
        return
    if has_staged(month):  # a posting still staged must go too: merge, then delete exactly
        merge_staged(month)
    with connection.cursor() as cur:
        cur.executemany(f"DELETE FROM {table(month)} WHERE token = %s AND message_id = %s", rows)

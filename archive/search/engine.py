"""Lookups on the blind index and the plain message columns, page by page.

For each month in range (newest first, or oldest first) the query terms become that month's
tokens. A query is an AND of groups; a group is an OR of alternatives; an alternative is an AND
of terms (words, prefixes when the prefix index is on, word pairs of a phrase). The cheapest
group drives the scan: each of its alternatives scans the posting list of its rarest term in id
order, and everything else is checked with ``EXISTS`` / ``NOT EXISTS`` on the same primary key;
the alternatives' pages are merged. Metadata filters (sources, conversations, senders, kinds,
flags) are plain columns of ``archive_message``, joined after the posting lookup; when a
conversation or sender filter holds fewer messages in the month than the driving term has
postings, the month is scanned from ``archive_message`` instead (its ``(conversation, id)`` /
``(sender, id)`` indexes) with every term checked by ``EXISTS``. A query without terms scans
``archive_message`` in id order. A phrase's alternative carries its words and its word pairs:
in a month built with pair tokens the pairs replace the words they cover (only messages where
the words are adjacent come out), in a month without them the pairs are left out (every message
with all the words comes out); either way the caller checks the phrase on the decrypted text.
Months with no index key (none written, or destroyed by retention) are skipped. Only ids come
out of here; ``archive.reading`` decrypts the page.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from django.db import connection

from archive import index
from archive.ids import LOW_BITS
from archive.vault import Vault, get_vault

Order = Literal["newest", "oldest"]
MAX_ID = (1 << 63) - 1


@dataclass(frozen=True)
class IdRange:
    low: int = 0  # inclusive
    high: int = MAX_ID  # exclusive

    @property
    def empty(self) -> bool:
        return self.low >= self.high


@dataclass(frozen=True)
class IndexTerm:
    text: str
    prefix: bool = False  # a prefix token (type ``p``) rather than a word token
    pair: bool = False  # a word-pair token (type ``b``): ``text`` is "first second"


Alternative = tuple[IndexTerm, ...]  # AND
Group = tuple[Alternative, ...]  # OR


@dataclass(frozen=True)
class IndexQuery:
    """``groups`` must all match (empty: no term condition); no ``excluded`` term may."""

    groups: tuple[Group, ...] = ()
    excluded: tuple[IndexTerm, ...] = ()


@dataclass(frozen=True)
class MessageFilter:
    """Conditions on the plain columns of ``archive_message``. ``None`` means no condition;
    an empty tuple means nothing passes (the caller should not search at all)."""

    source_ids: tuple[int, ...] | None = None
    conversation_ids: tuple[int, ...] | None = None
    exclude_conversation_ids: tuple[int, ...] = ()
    sender_ids: tuple[int, ...] | None = None
    exclude_sender_ids: tuple[int, ...] = ()
    kinds: tuple[str, ...] | None = None
    exclude_kinds: tuple[str, ...] = ()
    flags: tuple[tuple[str, bool], ...] = ()  # (column, value): has_attachment, has_link, edited, deleted
    # A searcher's scope that is an OR: (sources, conversations, also conversations) means
    # ``(source in sources and conversation in conversations) or conversation in also`` (``None``:
    # no condition on that axis). See ``archive.search.service.SearchScope``.
    scope_any: tuple[tuple[int, ...] | None, tuple[int, ...] | None, tuple[int, ...]] | None = None

    @property
    def matches_nothing(self) -> bool:
        return any(
            v is not None and not v
            for v in (self.source_ids, self.conversation_ids, self.sender_ids, self.kinds)
        )

    @property
    def trivial(self) -> bool:
        return self == MessageFilter()

    def sql(self, alias: str = "m") -> tuple[list[str], list[Any]]:
        conds: list[str] = []
        params: list[Any] = []

        # PostgreSQL takes a set as one array parameter: a platform's few hundred conversation
        # ids are then one value to bind and plan, not one placeholder each, in every month's query.
        arrays = connection.vendor == "postgresql"

        def member(column: str, values: Iterable[Any], negate: bool = False) -> str:
            """The condition that ``column`` is (or is not) one of ``values``; binds them."""
            values = list(values)
            if arrays:
                op = "<> ALL" if negate else "= ANY"
                if column == "kind":
                    params.append(values)
                    return f"{alias}.{column} {op} (%s)"
                # Ids: one array literal, not a list psycopg quotes element by element.
                params.append(_id_array(tuple(values)))
                return f"{alias}.{column} {op} (%s::bigint[])"
            params.extend(values)
            return f"{alias}.{column} {'NOT IN' if negate else 'IN'} ({', '.join(['%s'] * len(values))})"

        if self.source_ids is not None:
            conds.append(member("source_id", self.source_ids))
        if self.conversation_ids is not None:
            conds.append(member("conversation_id", self.conversation_ids))
        if self.exclude_conversation_ids:
            conds.append(member("conversation_id", self.exclude_conversation_ids, negate=True))
        if self.sender_ids is not None:
            conds.append(member("sender_id", self.sender_ids))
        if self.exclude_sender_ids:
            excluded = member("sender_id", self.exclude_sender_ids, negate=True)
            conds.append(f"({alias}.sender_id IS NULL OR {excluded})")
        if self.kinds is not None:
            conds.append(member("kind", self.kinds))
        if self.exclude_kinds:
            conds.append(member("kind", self.exclude_kinds, negate=True))
        if self.scope_any is not None:
            sources, conversations, also = self.scope_any
            parts = []
            if not (
                (sources is not None and not sources) or (conversations is not None and not conversations)
            ):
                both = [member("source_id", sources)] if sources else []
                both += [member("conversation_id", conversations)] if conversations else []
                parts.append(" AND ".join(both) if both else "1 = 1")
            if also:
                parts.append(member("conversation_id", also))
            conds.append("(" + " OR ".join(f"({p})" for p in parts) + ")" if parts else "1 = 0")
        for column, value in self.flags:
            if column not in ("has_attachment", "has_link", "edited", "deleted"):
                raise ValueError(f"not a flag column: {column}")
            conds.append(f"{alias}.{column} = %s")
            params.append(value)
        return conds, params


@functools.lru_cache(maxsize=64)
def _id_array(ids: tuple[Any, ...]) -> str:
    """A PostgreSQL array literal of integer ids (``int`` refuses anything else); a search
    uses the same filter in every month's query, so the literal is built once."""
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


def _month_bounds(month: int) -> tuple[int, int]:
    from datetime import UTC, datetime

    year, mon = divmod(month, 100)
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=UTC)
    return int(start.timestamp() * 1000) << LOW_BITS, int(end.timestamp() * 1000) << LOW_BITS


def months_in(id_range: IdRange, order: Order = "newest") -> list[int]:
    """Months that have a posting table and overlap the range, newest first by default."""
    out = []
    for month in sorted(index.existing_months(), reverse=order == "newest"):
        lo, hi = _month_bounds(month)
        if hi > id_range.low and lo < id_range.high:
            out.append(month)
    return out


def _estimate(cur: Any, table: str, token: int, cap: int = 20_000) -> int:
    cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE token = %s LIMIT {cap}) t", [token])
    return int(cur.fetchone()[0])


Stats = dict[Any, int]  # per search: term estimates and the filter's row estimate
_FILTER_ROWS = ("filter-rows",)
WITHOUT_PREFIXES = "without-prefixes"  # stats key (with the month) of a month a prefix could not search


def months_without_prefixes(stats: Stats) -> int:
    """How many months a search skipped for a ``word*`` term because they hold no prefix tokens."""
    return sum(1 for key in stats if isinstance(key, tuple) and key[0] == WITHOUT_PREFIXES)


# PostgreSQL joins a conversation/sender filter by hashing its rows once per month when they
# are at most this many times the driver's postings (a hashed row costs about a fifth of a
# message lookup), counting the filter's rows up to FILTER_ROWS_CAP to decide.
SEMI_JOIN_RATIO = 5
FILTER_ROWS_CAP = 10_000


class _Month:
    def __init__(self, cur: Any, month: int, tok: index.Tokenizer, estimates: Stats) -> None:
        self.cur = cur
        self.month = month
        self.name = index.table(month)
        self.tok = tok
        self.estimates = estimates
        self.n = 0
        self.ref = "p0.message_id"  # the message id column of the driving table

    def token(self, term: IndexTerm) -> int:
        if term.pair:
            return self.tok.pair_token(term.text)
        return self.tok.prefix_token(term.text) if term.prefix else self.tok.token(term.text)

    def terms_of(self, alt: Alternative) -> Alternative | None:
        """The terms this month can look up: pairs where the month has pair tokens, instead of
        the words they cover (a pair is only posted where both words are); without pair tokens,
        the words alone. ``None`` when the alternative needs prefix tokens the month lacks (it
        was indexed before ``DMVAULT_INDEX_PREFIXES`` was on): the search reports such months."""
        if not self.tok.prefixes and any(t.prefix for t in alt):
            self.estimates[(WITHOUT_PREFIXES, self.month)] = 1
            return None
        if not any(t.pair for t in alt):
            return alt
        if not self.tok.pairs:
            return tuple(t for t in alt if not t.pair)
        covered = {w for t in alt if t.pair for w in t.text.split(" ")}
        return tuple(t for t in alt if t.pair or t.prefix or t.text not in covered)

    def estimate(self, term: IndexTerm) -> int:
        # Word frequencies are stable across months: estimate each term once per search.
        found = self.estimates.get(term)
        if found is None:
            found = self.estimates[term] = _estimate(self.cur, self.name, self.token(term))
        return found

    def exists(self, term: IndexTerm, negate: bool = False) -> tuple[str, int]:
        self.n += 1
        alias = f"x{self.n}"
        sql = f"{'NOT ' if negate else ''}EXISTS (SELECT 1 FROM {self.name} {alias} WHERE {alias}.token = %s AND {alias}.message_id = {self.ref})"
        return sql, self.token(term)

    def conditions(self, groups: list[Group], excluded: tuple[IndexTerm, ...]) -> tuple[list[str], list[Any]]:
        conds: list[str] = []
        params: list[Any] = []
        for group in groups:
            ors = []
            for alt in group:
                ands = []
                for term in alt:
                    sql, param = self.exists(term)
                    ands.append(sql)
                    params.append(param)
                ors.append("(" + " AND ".join(ands) + ")")
            conds.append("(" + " OR ".join(ors) + ")")
        for term in excluded:
            sql, param = self.exists(term, negate=True)
            conds.append(sql)
            params.append(param)
        return conds, params

    def filter_rows(self, filt: MessageFilter, low: int, high: int, cap: int) -> int:
        conds, params = filt.sql("m")
        where = " AND ".join(["m.id >= %s", "m.id < %s", *conds])
        self.cur.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM archive_message m WHERE {where} LIMIT %s) t",
            [low, high, *params, cap],
        )
        return int(self.cur.fetchone()[0])

    def plan(
        self, query: IndexQuery, filt: MessageFilter, id_range: IdRange, need_estimates: bool
    ) -> list[tuple[str, list[Any]]]:
        """One SELECT of message ids per alternative of the driving group (to be ordered by
        id and limited by the caller). The driver is the rarest group's posting lists, or the
        message table itself when a conversation/sender filter is rarer still."""
        groups = []
        for group in query.groups:
            usable = tuple(terms for terms in map(self.terms_of, group) if terms is not None)
            if not usable:
                return []  # nothing this month can match through its index
            groups.append(usable)
        narrowing = filt.conversation_ids is not None or filt.sender_ids is not None

        def cost(group: Group) -> int:
            return sum(min(self.estimate(t) for t in alt) for alt in group)

        if (need_estimates or narrowing) and len(groups) > 1:
            groups.sort(key=cost)
        driver, others = groups[0], groups[1:]
        semi_join = False
        month_lo, month_hi = _month_bounds(self.month)
        low, high = max(id_range.low, month_lo), min(id_range.high, month_hi)
        if narrowing:
            budget = cost(driver)
            semi_ok = connection.vendor == "postgresql"
            # Like term frequencies, the filter's share is estimated once per search.
            rows = self.estimates.get(_FILTER_ROWS)
            if rows is None:
                # Counted far enough to tell "fewer than the postings" and, on PostgreSQL, "few
                # enough to hash" apart.
                cap = max(budget, min(SEMI_JOIN_RATIO * budget, FILTER_ROWS_CAP)) if semi_ok else budget
                rows = self.estimates[_FILTER_ROWS] = self.filter_rows(filt, low, high, cap + 1)
            # PostgreSQL: when the driver's postings are many next to the filter's rows, one
            # index-only pass over the filter's (conversation or sender, id) index, hashed, beats
            # a message-table lookup per posting (measured at 1M: a platform and a frequent word,
            # 5 ms instead of 24 per month); with few postings the lookups win.
            semi_join = semi_ok and budget < rows <= SEMI_JOIN_RATIO * budget
            if rows <= budget:
                self.ref = "p0.id"
                conds, cparams = self.conditions(groups, query.excluded)
                fconds, fparams = filt.sql("p0")
                cond = " AND ".join(["p0.id >= %s", "p0.id < %s", *fconds, *conds])
                return [
                    (f"SELECT p0.id FROM archive_message p0 WHERE {cond}", [low, high, *fparams, *cparams])
                ]
        common, common_params = self.conditions(others, query.excluded)
        fconds, fparams = filt.sql("m")
        if fconds and not semi_join:
            # The month's bounds on the joined message rows too: without them PostgreSQL may
            # hash every message of the filter's conversations in all months (111,000 index
            # rows for one platform at 1M) to join one month's postings.
            fconds = ["m.id >= %s", "m.id < %s", *fconds]
            fparams = [low, high, *fparams]
        if semi_join:
            # OFFSET 0 keeps the planner from flattening the subquery back into a lookup per row.
            inside = " AND ".join(["m.id >= %s", "m.id < %s", *fconds])
            common.append(f"p0.message_id IN (SELECT m.id FROM archive_message m WHERE {inside} OFFSET 0)")
            common_params.extend([low, high, *fparams])
        else:
            common.extend(fconds)
            common_params.extend(fparams)
        join = "" if filt.trivial or semi_join else " JOIN archive_message m ON m.id = p0.message_id"
        out = []
        for alt in driver:
            terms = (
                sorted(alt, key=self.estimate)
                if (need_estimates or narrowing) and len(alt) > 1
                else list(alt)
            )
            # The search's own range here, not the month's: month bounds made PostgreSQL
            # misjudge two-word plans (two-word p95 38 ms instead of 20 at 1M).
            where = ["p0.token = %s", "p0.message_id >= %s", "p0.message_id < %s"]
            args: list[Any] = [self.token(terms[0]), id_range.low, id_range.high]
            for term in terms[1:]:
                sql, param = self.exists(term)
                where.append(sql)
                args.append(param)
            out.append(
                (
                    f"SELECT p0.message_id FROM {self.name} p0{join} WHERE " + " AND ".join(where + common),
                    args + common_params,
                )
            )
        return out


Tokenizers = dict[int, "index.Tokenizer | None"]


# Month tokenizers (unwrapped index keys) kept for a few seconds per vault, so a search does
# not look up and unwrap up to one key per month on every request. Short on purpose: a key
# destroyed by retention also drops its posting table, and is forgotten here within the TTL.
TOKENIZER_TTL_S = 30.0
_recent: weakref.WeakKeyDictionary[Vault, dict[int, tuple[float, index.Tokenizer]]] = (
    weakref.WeakKeyDictionary()
)


def _tokenizer(vault: Vault, month: int, cache: Tokenizers | None) -> index.Tokenizer | None:
    """The month's tokenizer; ``cache`` (one per search request) saves a key lookup per month
    on the next page batch and the count."""
    if cache is not None and month in cache:
        return cache[month]
    now = time.monotonic()
    recent = _recent.setdefault(vault, {})
    hit = recent.get(month)
    if hit is not None and hit[0] > now:
        tok: index.Tokenizer | None = hit[1]
    else:
        tok = index.tokenizer_for(vault, month, create=False)
        if tok is not None:
            recent[month] = (now + TOKENIZER_TTL_S, tok)
        else:
            recent.pop(month, None)
    if cache is not None:
        cache[month] = tok
    return tok


def _preload_tokenizers(vault: Vault, months: list[int], cache: Tokenizers | None) -> None:
    """Load the month keys a search may need and has not used recently in one go: two queries
    instead of two per month (a rare term visits every month)."""
    now = time.monotonic()
    recent = _recent.setdefault(vault, {})
    missing = [
        m for m in months if (cache is None or m not in cache) and not (m in recent and recent[m][0] > now)
    ]
    if len(missing) < 2:
        return
    loaded = index.tokenizers_for(vault, missing)
    for month in missing:
        tok = loaded.get(month)
        if tok is not None:
            recent[month] = (now + TOKENIZER_TTL_S, tok)
        else:
            recent.pop(month, None)


def forget_tokenizers() -> None:
    """Drop the cached month keys (after retention destroyed a month, and in tests)."""
    _recent.clear()


def _needs_estimates(query: IndexQuery) -> bool:
    return len(query.groups) > 1 or any(len(alt) > 1 for g in query.groups for alt in g)


def find_matching(
    query: IndexQuery,
    *,
    limit: int,
    id_range: IdRange | None = None,
    order: Order = "newest",
    filt: MessageFilter | None = None,
    vault: Vault | None = None,
    tokenizers: Tokenizers | None = None,
    stats: Stats | None = None,
) -> list[int]:
    """Ids of messages matching ``query`` and ``filt`` within ``id_range``, in ``order``, at most
    ``limit``."""
    id_range = id_range or IdRange()
    filt = filt or MessageFilter()
    if limit <= 0 or id_range.empty or filt.matches_nothing:
        return []
    direction = "DESC" if order == "newest" else "ASC"
    if not query.groups:
        return _scan_messages(filt, id_range, direction, limit)
    vault = vault or get_vault()
    found: list[int] = []
    estimates: Stats = stats if stats is not None else {}
    months = months_in(id_range, order)
    _preload_tokenizers(vault, months, tokenizers)
    with connection.cursor() as cur:
        for month in months:
            tok = _tokenizer(vault, month, tokenizers)
            if tok is None:
                continue
            want = limit - len(found)
            month_ids: set[int] = set()
            plans = _Month(cur, month, tok, estimates).plan(query, filt, id_range, _needs_estimates(query))
            for sql, params in plans:
                cur.execute(f"{sql} ORDER BY 1 {direction} LIMIT %s", [*params, want])
                month_ids.update(row[0] for row in cur.fetchall())
            found.extend(sorted(month_ids, reverse=order == "newest")[:want])
            if len(found) >= limit:
                break
    return found


def _scan_messages(filt: MessageFilter, id_range: IdRange, direction: str, limit: int) -> list[int]:
    """A query with no required term: the plain message table in id order (exclusions, which
    need index tokens, are left to the caller's check on the decrypted page)."""
    conds, params = filt.sql("m")
    where = " AND ".join(["m.id >= %s", "m.id < %s", *conds])
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT m.id FROM archive_message m WHERE {where} ORDER BY m.id {direction} LIMIT %s",
            [id_range.low, id_range.high, *params, limit],
        )
        return [row[0] for row in cur.fetchall()]


def count_matching(
    query: IndexQuery,
    *,
    cap: int,
    id_range: IdRange | None = None,
    filt: MessageFilter | None = None,
    vault: Vault | None = None,
    tokenizers: Tokenizers | None = None,
    stats: Stats | None = None,
) -> tuple[int, bool]:
    """How many messages match, counting at most ``cap``: ``(count, exact)``."""
    id_range = id_range or IdRange()
    filt = filt or MessageFilter()
    if cap <= 0 or id_range.empty or filt.matches_nothing:
        return 0, cap > 0 or id_range.empty or filt.matches_nothing
    total = 0
    with connection.cursor() as cur:
        if not query.groups:
            conds, params = filt.sql("m")
            where = " AND ".join(["m.id >= %s", "m.id < %s", *conds])
            cur.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM archive_message m WHERE {where} LIMIT %s) t",
                [id_range.low, id_range.high, *params, cap + 1],
            )
            total = int(cur.fetchone()[0])
            return min(total, cap), total <= cap
        vault = vault or get_vault()
        estimates: Stats = stats if stats is not None else {}
        months = months_in(id_range)
        _preload_tokenizers(vault, months, tokenizers)
        for month in months:
            tok = _tokenizer(vault, month, tokenizers)
            if tok is None:
                continue
            plans = _Month(cur, month, tok, estimates).plan(query, filt, id_range, _needs_estimates(query))
            if not plans:
                continue
            union = " UNION ".join(sql for sql, _ in plans)
            params = [p for _, ps in plans for p in ps]
            cur.execute(f"SELECT count(*) FROM ({union} LIMIT %s) t", [*params, cap + 1 - total])
            total += int(cur.fetchone()[0])
            if total > cap:
                return cap, False
    return total, True


def find_ids(
    terms: list[str],
    *,
    limit: int,
    id_range: IdRange | None = None,
    before_id: int | None = None,
    vault: Vault | None = None,
) -> list[int]:
    """Ids of messages containing every term, newest first, at most ``limit``."""
    if not terms:
        raise ValueError("at least one term is needed")
    id_range = id_range or IdRange()
    if before_id is not None:
        id_range = IdRange(id_range.low, min(id_range.high, before_id))
    query = IndexQuery(groups=tuple(((IndexTerm(t),),) for t in dict.fromkeys(terms)))
    return find_matching(query, limit=limit, id_range=id_range, vault=vault)

"""Word lookups on the blind index, newest first, stopping once a page is full.

For each month in range (newest first) the query terms become that month's tokens; the rarest
term's posting list drives the scan and the others are checked with ``EXISTS`` on the same
primary key. Months with no index key (none written, or destroyed by retention) are skipped.
Only the page of ids found here is ever fetched and decrypted (``archive.reading``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from archive import index
from archive.ids import LOW_BITS
from archive.vault import Vault, get_vault


@dataclass(frozen=True)
class IdRange:
    low: int = 0  # inclusive
    high: int = (1 << 63) - 1  # exclusive


def _month_bounds(month: int) -> tuple[int, int]:
    from datetime import UTC, datetime

    year, mon = divmod(month, 100)
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=UTC)
    return int(start.timestamp() * 1000) << LOW_BITS, int(end.timestamp() * 1000) << LOW_BITS


def months_in(id_range: IdRange) -> list[int]:
    """Months that have a posting table and overlap the range, newest first."""
    out = []
    for month in sorted(index.existing_months(), reverse=True):
        lo, hi = _month_bounds(month)
        if hi > id_range.low and lo < id_range.high:
            out.append(month)
    return out


def _estimate(cur: object, table: str, token: int, cap: int = 20_000) -> int:
    cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE token = %s LIMIT {cap}) t", [token])  # type: ignore[attr-defined]
    return int(cur.fetchone()[0])  # type: ignore[attr-defined]


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
    vault = vault or get_vault()
    id_range = id_range or IdRange()
    high = min(id_range.high, before_id) if before_id is not None else id_range.high
    found: list[int] = []
    with connection.cursor() as cur:
        for month in months_in(IdRange(id_range.low, high)):
            tok = index.tokenizer_for(vault, month, create=False)
            if tok is None:
                continue
            tokens = [tok.token(t) for t in dict.fromkeys(terms)]
            name = index.table(month)
            if len(tokens) > 1:
                tokens.sort(key=lambda t: _estimate(cur, name, t))
            sql = [
                f"SELECT p0.message_id FROM {name} p0 WHERE p0.token = %s AND p0.message_id >= %s AND p0.message_id < %s"
            ]
            params: list[int] = [tokens[0], id_range.low, high]
            for n, other in enumerate(tokens[1:], start=1):
                sql.append(
                    f"AND EXISTS (SELECT 1 FROM {name} p{n} WHERE p{n}.token = %s AND p{n}.message_id = p0.message_id)"
                )
                params.append(other)
            sql.append("ORDER BY p0.message_id DESC LIMIT %s")
            params.append(limit - len(found))
            cur.execute(" ".join(sql), params)
            found.extend(row[0] for row in cur.fetchall())
            if len(found) >= limit:
                break
    return found

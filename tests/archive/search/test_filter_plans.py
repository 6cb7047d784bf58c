"""A platform or conversation filter combined with a word finds the same messages whichever
way the engine joins them: a message lookup per posting, the filter's rows hashed once per
month (PostgreSQL, when the word's postings are many next to the filter's rows), or the
filter's rows driving (when they are fewer than the postings)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import Source
from archive.search import engine
from archive.search.service import SearchScope, search
from archive.writer import ArchiveWriter

pytestmark = pytest.mark.django_db

ALL = SearchScope.everything()


def _conversation(platform: str, thread: str, texts: list[str]) -> ParsedConversation:
    people = [ParsedParticipant(f"{thread}-a", "Ada"), ParsedParticipant(f"{thread}-b", "Bo")]
    start = datetime(2025, 5, 2, 8, tzinfo=UTC)
    msgs = [
        ParsedMessage(
            start + timedelta(minutes=n), str(n), people[n % 2].platform_id, text, platform_message_id=str(n)
        )
        for n, text in enumerate(texts)
    ]
    return ParsedConversation(platform, thread, ConversationKind.GROUP, thread, people, msgs)


@pytest.fixture
def archive() -> dict[str, int]:
    """Telegram: 40 messages, 12 about the ledger; Slack: 30 messages, 20 about the ledger."""
    telegram = [f"the ledger line {n}" if n % 10 < 3 else f"small talk {n}" for n in range(40)]
    slack = [f"ledger review {n}" if n % 3 else f"standup {n}" for n in range(30)]
    source = Source.objects.create(platform="telegram", original_sha256="3" * 64, original_size=1)
    ArchiveWriter(source).write(
        [_conversation("telegram", "tg", telegram), _conversation("slack", "sl", slack)]
    )
    Source.objects.filter(id=source.id).update(status="done")
    return {"telegram": 12, "slack": 20}


def _run(query: str) -> tuple[list[int], int, str]:
    with CaptureQueriesContext(connection) as captured:
        result = search(query, scope=ALL, limit=5)
    sql = " ".join(q["sql"] for q in captured.captured_queries)
    return [h.message.id for h in result.items], result.count, sql


def test_every_join_strategy_finds_the_same_messages(
    archive: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 12 telegram postings of "ledger" among 32 ledger postings: filter rows (40) lie between
    # the postings (32) and five times them, so PostgreSQL hashes the filter's rows.
    hashed_ids, hashed_count, hashed_sql = _run("platform:telegram ledger")
    assert hashed_count == archive["telegram"] and len(hashed_ids) == 5
    assert ("OFFSET 0" in hashed_sql) == (connection.vendor == "postgresql")

    monkeypatch.setattr(engine, "SEMI_JOIN_RATIO", 1)  # never hash: a lookup per posting
    looked_up_ids, looked_up_count, looked_up_sql = _run("platform:telegram ledger")
    assert "OFFSET 0" not in looked_up_sql and "JOIN archive_message m" in looked_up_sql
    # The joined message rows are bounded by the month too, so PostgreSQL cannot choose to hash
    # every message of the platform in all months to join one month's postings.
    assert re.search(
        r"JOIN archive_message m ON m\.id = p0\.message_id WHERE [^()]* AND m\.id >= \d+ AND m\.id < \d+",
        looked_up_sql,
    )
    assert (looked_up_ids, looked_up_count) == (hashed_ids, hashed_count)

    # Slack's 30 rows are fewer than the 32 postings: the filter's rows drive.
    driven_ids, driven_count, driven_sql = _run("platform:slack ledger")
    assert driven_count == archive["slack"] and "FROM archive_message p0" in driven_sql
    monkeypatch.setattr(engine, "SEMI_JOIN_RATIO", 5)
    assert _run("platform:slack ledger")[:2] == (driven_ids, driven_count)


def test_excluding_a_platform_keeps_the_word_search_exact(archive: dict[str, int]) -> None:
    ids, count, _ = _run("-platform:telegram ledger")
    assert count == archive["slack"] and len(ids) == 5


def test_a_filtered_word_search_spanning_months_counts_each_month_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One Telegram thread over three months (a ledger message a day) beside a Slack thread of
    the same words: each month's lookup join sees only that month's messages."""
    source = Source.objects.create(platform="telegram", original_sha256="4" * 64, original_size=1)
    people = [ParsedParticipant("a", "Ada"), ParsedParticipant("b", "Bo")]
    start = datetime(2025, 3, 20, 8, tzinfo=UTC)

    def thread(platform: str, days: int) -> ParsedConversation:
        msgs = [
            ParsedMessage(
                start + timedelta(days=n),
                str(n),
                people[n % 2].platform_id,
                f"ledger {n}",
                platform_message_id=str(n),
            )
            for n in range(days)
        ]
        return ParsedConversation(platform, platform, ConversationKind.GROUP, platform, people, msgs)

    ArchiveWriter(source).write([thread("telegram", 60), thread("slack", 45)])
    Source.objects.filter(id=source.id).update(status="done")
    monkeypatch.setattr(engine, "SEMI_JOIN_RATIO", 1)  # a lookup per posting in every month
    newest = search("platform:telegram ledger", scope=ALL, limit=50)
    oldest = search("platform:telegram ledger", scope=ALL, limit=50, order="oldest")
    assert newest.count == oldest.count == 60
    assert [h.message.id for h in newest.items] == sorted((h.message.id for h in newest.items), reverse=True)
    assert {h.message.id for h in oldest.items} | {h.message.id for h in newest.items} == {
        h.message.id for h in search("platform:telegram ledger", scope=ALL, limit=100).items
    }

"""A search that visits many months reads their index keys in one query, not one per month,
and still finds what each month holds; a tampered month key is still a clear error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import IndexKey, Source
from archive.search.engine import forget_tokenizers
from archive.search.service import SearchScope, search
from archive.vault import CiphertextInvalid, get_vault
from archive.writer import ArchiveWriter

pytestmark = pytest.mark.django_db

ALL = SearchScope.everything()
MONTHS = 7


@pytest.fixture
def spread_over_months() -> None:
    people = [ParsedParticipant("a", "Ada"), ParsedParticipant("b", "Bo")]
    msgs = [
        ParsedMessage(
            datetime(2024, 1 + n, 3, 9, tzinfo=UTC),
            str(n),
            "ab"[n % 2],
            f"the quarterly bellwether report number {n}",
            platform_message_id=str(n),
        )
        for n in range(MONTHS)
    ]
    source = Source.objects.create(platform="slack", original_sha256="2" * 64, original_size=1)
    ArchiveWriter(source).write(
        [ParsedConversation("slack", "C1", ConversationKind.GROUP, "c", people, msgs)]
    )
    Source.objects.filter(id=source.id).update(status="done")
    forget_tokenizers()


def _key_queries(captured: CaptureQueriesContext) -> int:
    return sum(1 for q in captured.captured_queries if "archive_indexkey" in q["sql"])


def test_a_search_over_every_month_reads_the_month_keys_once(spread_over_months: None) -> None:
    with CaptureQueriesContext(connection) as captured:
        result = search("bellwether", scope=ALL)
    assert len(result.items) == MONTHS and (result.count, result.count_exact) == (MONTHS, True)
    assert _key_queries(captured) == 1
    with CaptureQueriesContext(connection) as again:
        assert search("bellwether", scope=ALL).count == MONTHS
    assert _key_queries(again) == 0  # kept for a few seconds


def test_a_tampered_month_key_is_a_clear_error_in_the_batch_read_too(spread_over_months: None) -> None:
    row = IndexKey.objects.order_by("month").first()
    assert row is not None
    wrapped = bytearray(row.wrapped)
    wrapped[-1] ^= 1
    IndexKey.objects.filter(month=row.month).update(wrapped=bytes(wrapped))
    with pytest.raises(CiphertextInvalid, match=f"month {row.month}"):
        get_vault().index_keys([row.month, row.month + 1])

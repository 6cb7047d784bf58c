"""search_ids: the ids a chart needs, the same set the search service finds, decrypting only
when the query has a text check."""

from __future__ import annotations

import pytest

from archive.search.service import SearchScope, search, search_ids

from .conftest import Archive

ALL = SearchScope.everything()


def _all_ids(query: str) -> list[int]:
    return sorted(h.message.id for h in search(query, scope=ALL, order="oldest", limit=500).items)


@pytest.mark.parametrize(
    "query",
    [
        "invoice",
        "invoice paid",
        '"invoice paid"',
        "invoice -paid",
        "invoice OR receipt",
        "platform:slack invoice",
    ],
)
def test_search_ids_equal_the_search_services_results(archive: Archive, query: str) -> None:
    assert sorted(search_ids(query, scope=ALL)) == _all_ids(query)


def test_search_ids_respect_the_cap_and_the_scope(archive: Archive) -> None:
    assert len(search_ids("invoice", scope=ALL, cap=1)) == 1
    assert search_ids("invoice", scope=SearchScope(conversation_ids=[-1])) == []

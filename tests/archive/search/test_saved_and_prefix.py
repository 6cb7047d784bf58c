"""Saved searches (sealed at rest, re-run within the runner's scope) and the opt-in prefix index."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from archive import index
from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import Message, SavedSearch, Source
from archive.search.query import QuerySyntaxError
from archive.search.service import (
    SearchScope,
    create_saved_search,
    delete_saved_search,
    get_saved_search,
    list_saved_searches,
    run_saved_search,
    search,
    update_saved_search,
)
from archive.writer import ArchiveWriter
from compliance.redaction_service import Viewer

from .conftest import Archive

pytestmark = pytest.mark.django_db


@pytest.fixture
def users():
    model = get_user_model()
    return model.objects.create_user("officer1", password="x"), model.objects.create_user(
        "lawyer1", password="x"
    )


def test_saved_searches_are_sealed_listed_and_rerun(archive: Archive, users) -> None:
    officer, lawyer = users
    saved = create_saved_search(officer, "Bartholomew's invoices", "from:bquince invoice")
    assert (saved.name, saved.query, saved.shared, saved.share_token) == (
        "Bartholomew's invoices",
        "from:bquince invoice",
        False,
        None,
    )
    row = SavedSearch.objects.get(id=saved.id)
    assert b"bquince" not in bytes(row.query_ct) and b"Bartholomew" not in bytes(row.name_ct)
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM archive_savedsearch")
        assert "bquince" not in repr(cur.fetchall())
    create_saved_search(officer, "hotel", "hotel")
    assert [s.name for s in list_saved_searches(officer)] == ["hotel", "Bartholomew's invoices"]
    assert list_saved_searches(lawyer) == []
    result = run_saved_search(saved, viewer=Viewer(officer), scope=SearchScope.everything())
    assert {h.message.text for h in result.items} == {
        "The invoice was paid yesterday",
        "Paid, invoice number seven",
    }
    assert result.count == 2


def test_shared_searches_run_in_the_runners_scope(archive: Archive, users) -> None:
    officer, lawyer = users
    saved = create_saved_search(officer, "all invoices", "invoice", shared=True)
    assert saved.share_token
    opened = get_saved_search(share_token=saved.share_token)
    assert opened.query == "invoice"
    lawyer_scope = SearchScope.of(conversations=[archive.c_slack.id])
    assert run_saved_search(opened, viewer=Viewer(lawyer), scope=lawyer_scope).count == 1
    assert run_saved_search(opened, viewer=Viewer(lawyer), scope=SearchScope.everything()).count == 4
    unshared = update_saved_search(saved.id, officer, shared=False)
    assert unshared.share_token is None
    with pytest.raises(SavedSearch.DoesNotExist):
        get_saved_search(share_token=saved.share_token)
    with pytest.raises(SavedSearch.DoesNotExist):
        get_saved_search(owner=lawyer, saved_id=saved.id)
    assert get_saved_search(owner=officer, saved_id=saved.id).name == "all invoices"


def test_saved_search_update_validate_and_delete(archive: Archive, users) -> None:
    officer, lawyer = users
    with pytest.raises(QuerySyntaxError):
        create_saved_search(officer, "broken", '"unclosed')
    with pytest.raises(ValueError, match="needs a name"):
        create_saved_search(officer, "  ", "invoice")
    saved = create_saved_search(officer, "x", "invoice")
    updated = update_saved_search(saved.id, officer, name="receipts", query="receipt")
    assert (updated.name, updated.query) == ("receipts", "receipt")
    assert updated.updated_at >= saved.updated_at
    with pytest.raises(QuerySyntaxError):
        update_saved_search(saved.id, officer, query="OR")
    assert not delete_saved_search(saved.id, lawyer)
    assert delete_saved_search(saved.id, officer)
    assert list_saved_searches(officer) == []


def _prefix_archive() -> None:
    source = Source.objects.create(platform="slack", original_sha256="3" * 64, original_size=1)
    when = datetime(2025, 5, 1, tzinfo=UTC)
    texts = ["compliance review", "complimentary coffee", "the complete budget", "budgeting ahead", "combo"]
    conv = ParsedConversation(
        "slack",
        "prefixes",
        ConversationKind.GROUP,
        "p",
        [ParsedParticipant("u1")],
        [
            ParsedMessage(when.replace(minute=i), str(i), "u1", t, platform_message_id=f"x{i}")
            for i, t in enumerate(texts)
        ],
    )
    ArchiveWriter(source).write([conv])
    Source.objects.filter(id=source.id).update(status="done")


def test_prefix_search_with_the_prefix_index(settings) -> None:
    settings.DMVAULT_INDEX_PREFIXES = True
    _prefix_archive()
    every = SearchScope.everything()

    def texts(q: str) -> set[str]:
        return {h.message.text for h in search(q, scope=every).items}

    assert texts("compl*") == {"compliance review", "complimentary coffee", "the complete budget"}
    assert texts("compli*") == {"compliance review", "complimentary coffee"}
    assert texts("budget*") == {"the complete budget", "budgeting ahead"}  # the whole word is a prefix too
    assert texts("complian*") == {"compliance review"}
    assert texts("compliment*") == {"complimentary coffee"}  # 10 letters: checked on the text
    assert texts("complimentz*") == set()
    assert texts("compl* -coffee") == {"compliance review", "the complete budget"}
    assert texts("coffee OR budg*") == {"complimentary coffee", "the complete budget", "budgeting ahead"}
    [hit] = search("budg* complete", scope=every).items
    assert [hit.message.text[a:b] for a, b in hit.highlights] == ["complete", "budget"]
    # Prefix postings are separate tokens (type p): a word search does not see them.
    assert texts("compl") == set()


def test_without_the_setting_no_prefix_postings_are_written(settings) -> None:
    settings.DMVAULT_INDEX_PREFIXES = False
    settings.DMVAULT_INDEX_PAIRS = False  # word postings only
    _prefix_archive()
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {index.table(202505)}")
        plain = cur.fetchone()[0]
    assert plain == 9  # compliance review complimentary coffee complete budget budgeting ahead combo
    with pytest.raises(QuerySyntaxError, match="not enabled"):
        search("compl*", scope=SearchScope.everything())
    assert index.prefix_terms({"compliance", "ab", "東京"}) == {
        "com",
        "comp",
        "compl",
        "compli",
        "complia",
        "complian",
    }


def test_message_tokens_cover_prefix_postings_for_removal(settings) -> None:
    settings.DMVAULT_INDEX_PREFIXES = True
    _prefix_archive()
    from archive.vault import get_vault

    tok = index.tokenizer_for(get_vault(), 202505, create=False)
    assert tok is not None
    wanted = set(index.message_tokens(tok, "compliance review"))
    with connection.cursor() as cur:
        cur.execute(f"SELECT token FROM {index.table(202505)}")
        stored = {row[0] for row in cur.fetchall()}
    # 2 words, com..complian, rev..review, and the pair "compliance review"
    assert wanted <= stored and len(wanted) == 2 + 6 + 4 + 1


def _month_archive(month: int, texts: list[str]) -> None:
    year, mon = divmod(month, 100)
    source = Source.objects.create(
        platform="slack", original_sha256=f"{month}".ljust(64, "0"), original_size=1
    )
    when = datetime(year, mon, 3, tzinfo=UTC)
    conv = ParsedConversation(
        "slack",
        f"c{month}",
        ConversationKind.GROUP,
        "p",
        [ParsedParticipant("u1")],
        [
            ParsedMessage(when.replace(minute=i), str(i), "u1", t, platform_message_id=f"{month}-{i}")
            for i, t in enumerate(texts)
        ],
    )
    ArchiveWriter(source).write([conv])
    Source.objects.filter(id=source.id).update(status="done")


def test_a_month_keeps_the_prefix_setting_it_was_created_with(settings) -> None:
    settings.DMVAULT_INDEX_PREFIXES = False
    _month_archive(202503, ["compliance in march"])
    settings.DMVAULT_INDEX_PREFIXES = True
    _month_archive(202504, ["compliance in april"])
    assert index.partition_flags([202503, 202504]) == {202503: (True, False), 202504: (True, True)}

    # A word* search finds the April message and says that March could not be searched.
    result = search("compl*", scope=SearchScope.everything())
    assert [h.message.text for h in result.items] == ["compliance in april"]
    assert result.months_without_prefixes == 1
    # A plain word search covers both months and has nothing to report.
    plain = search("compliance", scope=SearchScope.everything())
    assert plain.count == 2 and plain.months_without_prefixes == 0


def test_removal_takes_prefix_postings_after_the_setting_is_turned_off(settings) -> None:
    """Removal follows the month's own flag: a month built with prefix tokens loses them with its
    messages even when the setting has been turned off since."""
    from compliance.purge import remove_postings

    settings.DMVAULT_INDEX_PREFIXES = True
    _prefix_archive()
    settings.DMVAULT_INDEX_PREFIXES = False
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {index.table(202505)}")
        before = cur.fetchone()[0]
    removed = remove_postings(list(Message.objects.values_list("id", flat=True)))
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {index.table(202505)}")
        assert cur.fetchone()[0] == 0
    assert removed == before > 9  # more than the 9 word postings: the prefixes and pairs went too

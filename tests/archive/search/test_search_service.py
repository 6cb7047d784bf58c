"""The search service over the encrypted archive: operators, checks on decrypted text,
highlights, context, pagination, scope and unfinished sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import Message, Source
from archive.search import service
from archive.search.query import QuerySyntaxError
from archive.search.service import InvalidCursor, SearchScope, highlights, search
from archive.vault.operations import shred_participants
from archive.writer import ArchiveWriter

from .conftest import Archive

pytestmark = pytest.mark.django_db

ALL = SearchScope.everything()


def found(archive: Archive, query: str, **kw: object) -> set[str]:
    by_id = {v: k for k, v in archive.ids.items()}
    result = search(query, scope=kw.pop("scope", ALL), limit=kw.pop("limit", 50), **kw)  # type: ignore[arg-type]
    return {by_id[h.message.id] for h in result.items}


# --- words, phrases, negation, OR ---------------------------------------------------------------


def test_words_must_all_match(archive: Archive) -> None:
    assert found(archive, "invoice") == {"m1", "m2", "m5", "n1"}
    assert found(archive, "invoice paid") == {"m2", "m5"}
    assert found(archive, "INVOICE Paid march") == set()


def test_phrases_are_checked_on_the_decrypted_text(archive: Archive) -> None:
    # Both messages hold both words; only one has them in this order and next to each other.
    assert found(archive, '"invoice was paid"') == {"m2"}
    assert found(archive, '"paid invoice"') == {"m5"}  # the comma between them is not a word
    assert found(archive, '"invoice paid"') == set()
    result = search('"invoice was paid"', scope=ALL)
    # Only the index's candidates were decrypted: the pair "invoice paid" (the stop word left
    # out) leaves m2; "Paid, invoice number seven" has both words but not that pair.
    assert result.candidates_checked == 1
    # Stop words inside a phrase count even though they are not indexed.
    assert found(archive, '"the invoice"') == {"m1", "m2"}
    assert found(archive, '"send the invoice"') == {"m1"}


def test_a_phrase_of_frequent_words_is_not_fooled_by_word_order(archive: Archive) -> None:
    assert found(archive, '"the receipt"') == {"n3"}
    assert found(archive, '"receipt attached"') == {"m3"}


def test_negation_of_words_and_phrases(archive: Archive) -> None:
    assert found(archive, "invoice -paid") == {"m1", "n1"}
    assert found(archive, 'invoice -"was paid"') == {"m1", "m5", "n1"}
    assert found(archive, "invoice -(paid OR march)") == {"n1"}
    assert found(archive, "receipt -hotel -noon") == {"m3"}


def test_or(archive: Archive) -> None:
    assert found(archive, "invoice OR receipt") == {"m1", "m2", "m3", "m5", "n1", "n2", "n3"}
    assert found(archive, "hotel OR march OR noon") == {"n2", "m1", "n3"}
    assert found(archive, "paid (invoice OR receipt)") == {"m2", "m5"}
    assert found(archive, '("invoice was paid" OR hotel)') == {"m2", "n2"}
    assert found(archive, "(new client OR hotel) -receipt") == {"n1"}


def test_stop_words_are_ignored_when_other_words_remain(archive: Archive) -> None:
    result = search("the hotel", scope=ALL)
    assert result.query.ignored == ("the",)
    assert [h.message.text for h in result.items] == ["Receipt from the hotel"]


def test_a_phrase_with_no_indexed_word_needs_a_filter(archive: Archive) -> None:
    with pytest.raises(QuerySyntaxError, match="needs at least one indexed word"):
        search('"at the"', scope=ALL)
    assert found(archive, '"at noon" platform:slack') == {"n3"}


# --- Unicode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["cafe", "CAFÉ", "café", "strasse", "STRASSE", "straße", "abcd", "ＡＢＣＤ", "🎉", '"cafe au lait"'],
)
def test_unicode_folding(archive: Archive, query: str) -> None:
    assert found(archive, query) == {"m4"}


def test_highlights_point_into_the_original_text(archive: Archive) -> None:
    text = "Café au lait near the Straße ＡＢＣＤ 🎉"
    result = search("cafe strasse abcd 🎉", scope=ALL)
    [hit] = result.items
    assert [text[a:b] for a, b in hit.highlights] == ["Café", "Straße", "ＡＢＣＤ", "🎉"]
    [hit] = search('"invoice was paid"', scope=ALL).items
    assert [hit.message.text[a:b] for a, b in hit.highlights] == ["invoice was paid"]
    [hit] = [h for h in search("noon OR receipt", scope=ALL).items if "noon" in h.message.text]
    assert [hit.message.text[a:b] for a, b in hit.highlights] == ["noon", "receipt"]
    assert highlights("e\u0301te\u0301 ETE", service.parse("ete")) == [(0, 5), (6, 9)]  # decomposed accents
    # Word boundaries are the index's: "don" is not a word of "don't", "invoice" not of "invoices".
    assert highlights("don't pay the invoice, invoices", service.parse("don invoice")) == [(14, 21)]


def test_hyphenated_words_match_as_phrases(archive: Archive) -> None:
    assert found(archive, "rendez-vous") == {"n3"}
    assert found(archive, '"rendez vous"') == {"n3"}
    assert found(archive, "vous-rendez") == set()


# --- filters ------------------------------------------------------------------------------------


def test_participants_by_id_handle_name_and_subject(archive: Archive) -> None:
    bob_msgs = {"m2", "m4", "m5", "m7"}
    for value in ("bob-id", "bquince", "@bquince", "Bartholomew", '"bartholomew quince"', "QUINCE"):
        assert found(archive, f"from:{value}") == bob_msgs, value
    subject = archive.s_wa.owner_id
    alice_msgs = {"m1", "m3", "m6", "m8"}
    assert found(archive, f"from:subject:{subject}") == alice_msgs
    assert found(archive, f"from:participant:{archive.pid('alice-id')}") == alice_msgs
    assert found(archive, "from:alicia invoice") == {"m1"}
    assert found(archive, "from:nobody-at-all") == set()
    assert found(archive, "from:bob-id,U-CAROL invoice") == {"m2", "m5", "n1"}
    assert found(archive, "-from:bob-id invoice") == {"m1", "n1"}


def test_to_and_with(archive: Archive) -> None:
    assert found(archive, "to:alice-id") == {"m2", "m4", "m5", "m7"}
    assert found(archive, "to:carol") == {"n2"}
    assert found(archive, "with:carol") == {"n1", "n2", "n3"}
    assert found(archive, "with:carol with:dave receipt") == {"n2", "n3"}
    assert found(archive, "with:carol with:bquince") == set()
    assert found(archive, "-with:carol invoice") == {"m1", "m2", "m5"}


def test_a_participant_of_an_unfinished_source_is_not_found_there(archive: Archive) -> None:
    assert found(archive, "from:eve-id") == set()
    assert found(archive, "from:eve") == set()


def test_platform_conversation_source_label(archive: Archive) -> None:
    assert found(archive, "platform:slack invoice") == {"n1"}
    assert found(archive, "platform:slack,whatsapp invoice") == {"m1", "m2", "m5", "n1"}
    assert found(archive, "-platform:slack invoice") == {"m1", "m2", "m5"}
    assert found(archive, f"conversation:{archive.c_slack.id}") == {"n1", "n2", "n3"}
    assert found(archive, f"-conversation:{archive.c_slack.id} receipt") == {"m3"}
    assert found(archive, f"source:{archive.s_wa.id} invoice") == {"m1", "m2", "m5"}
    assert found(archive, f"-source:{archive.s_wa.id} invoice") == {"n1"}
    assert found(archive, f"source:{archive.s_running.id}") == set()  # not done: invisible
    assert found(archive, "label:archived") == {"n1", "n2", "n3"}
    assert found(archive, "label:INBOX invoice") == {"m1", "m2", "m5"}


def test_kind_and_flags(archive: Archive) -> None:
    assert found(archive, "kind:call") == {"m8"}
    assert found(archive, "kind:call,text platform:whatsapp -is:deleted") == {
        "m1",
        "m2",
        "m3",
        "m4",
        "m5",
        "m6",
        "m8",
    }
    assert found(archive, "-kind:text") == {"m8"}
    assert found(archive, "has:attachment") == {"m3"}
    assert found(archive, "receipt -has:attachment") == {"n2", "n3"}
    assert found(archive, "has:link") == {"m6"}
    assert found(archive, "is:edited") == {"m6"}
    assert found(archive, "is:deleted") == {"m7"}
    assert found(archive, "contract has:link is:edited") == {"m6"}
    # The link's words are indexed with the message, as the writer indexes them.
    assert found(archive, "example") == {"m6"}


def test_lang_is_parsed_but_not_supported_yet(archive: Archive) -> None:
    with pytest.raises(QuerySyntaxError, match="lang: is not supported yet") as err:
        search("invoice lang:en", scope=ALL)
    assert err.value.position == 8


def test_negated_to_is_refused(archive: Archive) -> None:
    with pytest.raises(QuerySyntaxError, match="-to: is not supported"):
        search("-to:bob-id", scope=ALL)


# --- dates --------------------------------------------------------------------------------------


def test_dates_and_time_zones(archive: Archive) -> None:
    assert found(archive, "on:2025-01-10") == {"m1", "m2", "m3", "n1"}
    assert found(archive, "after:2025-03-01") == {"n2", "n3"}
    assert found(archive, "before:2025-01-11 invoice") == {"m1", "m2", "n1"}
    assert found(archive, "on:2025-02") == {"m6", "m7", "m8"}
    # m4 was sent 2025-01-11 23:30 UTC: still the 11th in UTC, already the 12th in Berlin.
    assert "m4" in found(archive, "on:2025-01-11")
    assert "m4" not in found(archive, "on:2025-01-11", tz="Europe/Berlin")
    assert "m4" in found(archive, "on:2025-01-12", tz="Europe/Berlin")
    assert found(archive, "after:2025-01-10T11:00+02:00 before:2025-01-10T11:06+02:00") == {"m1", "m2"}
    assert found(archive, "after:2025-01-10T11:01+02:00 before:2025-01-10T11:10:01+02:00") == {"m2", "m3"}
    assert found(archive, "after:2025-01-10T09:05 before:2025-01-10T09:06", tz="UTC") == {"m2"}
    assert found(archive, "after:2025-02-01 before:2025-01-01") == set()


# --- paging, order, context, counts --------------------------------------------------------------


@pytest.fixture
def many(archive: Archive) -> list[int]:
    start = datetime(2025, 4, 1, tzinfo=UTC)
    msgs = [
        ParsedMessage(
            start + timedelta(hours=i),
            str(i),
            "p1" if i % 2 else "p2",
            f"ledger entry {i}" if i % 3 else f"entry for the ledger {i}",
            platform_message_id=f"l{i}",
        )
        for i in range(75)
    ]
    source = Source.objects.create(platform="telegram", original_sha256="1" * 64, original_size=1)
    conv = ParsedConversation(
        "telegram",
        "ledger",
        ConversationKind.GROUP,
        "ledger",
        [ParsedParticipant("p1"), ParsedParticipant("p2")],
        msgs,
    )
    ArchiveWriter(source).write([conv])
    Source.objects.filter(id=source.id).update(status="done")
    return sorted(Message.objects.filter(source=source).values_list("id", flat=True))


def pages(query: str, limit: int, order: str = "newest", **kw: object) -> list[list[int]]:
    out, cursor = [], None
    while True:
        result = search(query, scope=ALL, limit=limit, order=order, cursor=cursor, **kw)  # type: ignore[arg-type]
        out.append([h.message.id for h in result.items])
        cursor = result.next_cursor
        if cursor is None:
            return out


@pytest.mark.parametrize(
    "query", ["ledger", '"ledger entry"', 'ledger -"entry for"', "entry OR ledger", "platform:telegram"]
)
@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_cursor_pagination_has_no_duplicates_and_no_gaps(many: list[int], query: str, order: str) -> None:
    expected = [i for n, i in enumerate(many) if n % 3] if '"' in query else many
    got = pages(query, 7, order)
    flat = [i for page in got for i in page]
    assert len(flat) == len(set(flat))
    assert flat == (sorted(expected, reverse=order == "newest"))
    assert all(len(p) == 7 for p in got[:-1])


def test_counts_exact_and_capped(many: list[int]) -> None:
    result = search("ledger", scope=ALL, limit=10)
    assert (result.count, result.count_exact, result.count_label) == (75, True, "75")
    capped = search("ledger", scope=ALL, limit=10, count_cap=20)
    assert (capped.count, capped.count_exact, capped.count_label) == (20, False, "at least 20")
    whole = search('"ledger entry"', scope=ALL, limit=100)
    assert (whole.count, whole.count_exact) == (50, True)
    partial = search('"ledger entry"', scope=ALL, limit=10)
    assert partial.count == 10 and not partial.count_exact
    meta = search("platform:telegram", scope=ALL, limit=5)
    assert (meta.count, meta.count_exact) == (75, True)
    skipped = search("ledger", scope=ALL, limit=10, count_cap=0)
    assert (skipped.count, skipped.count_exact, skipped.count_label) == (10, False, "at least 10")
    assert search("hotel", scope=ALL, count_cap=0).count_label == "1"


def test_the_first_page_counts_in_the_same_pass_and_later_pages_count_the_whole_result(
    many: list[int],
) -> None:
    at_cap = search("ledger", scope=ALL, limit=10, count_cap=75)
    assert (at_cap.count, at_cap.count_exact) == (75, True)
    below = search("ledger", scope=ALL, limit=10, count_cap=74)
    assert (below.count, below.count_exact) == (74, False)
    page_larger_than_cap = search("ledger", scope=ALL, limit=50, count_cap=20)
    assert (len(page_larger_than_cap.items), page_larger_than_cap.count) == (50, 20)
    assert not page_larger_than_cap.count_exact
    second = search("ledger", scope=ALL, limit=10, cursor=at_cap.next_cursor)
    assert (second.count, second.count_exact) == (75, True)
    assert [h.message.id for h in second.items] == sorted(many, reverse=True)[10:20]


def test_a_candidate_budget_truncates_and_the_cursor_resumes(many: list[int]) -> None:
    result = search('"entry for"', scope=ALL, limit=50, max_candidates=40)
    assert result.truncated and result.next_cursor
    rest = search('"entry for"', scope=ALL, limit=50, cursor=result.next_cursor)
    got = {h.message.id for h in result.items} | {h.message.id for h in rest.items}
    assert got == {i for n, i in enumerate(many) if n % 3 == 0}


def test_cursors_are_signed_and_bound_to_the_query(many: list[int]) -> None:
    cursor = search("ledger", scope=ALL, limit=5).next_cursor
    assert cursor
    with pytest.raises(InvalidCursor):
        search("entry", scope=ALL, limit=5, cursor=cursor)
    with pytest.raises(InvalidCursor):
        search("ledger", scope=ALL, limit=5, cursor=cursor, order="oldest")
    with pytest.raises(InvalidCursor):
        search("ledger", scope=SearchScope.of(sources=[1]), limit=5, cursor=cursor)
    with pytest.raises(InvalidCursor):
        search("ledger", scope=ALL, limit=5, cursor=cursor[:-2] + "xx")


def test_context_messages_before_and_after(archive: Archive) -> None:
    [hit] = search('"invoice was paid"', scope=ALL, context=2).items
    assert [m.id for m in hit.before] == [archive.ids["m1"]]
    assert [m.id for m in hit.after] == [archive.ids["m3"], archive.ids["m4"]]
    assert hit.after[0].text == "Receipt attached"
    [hit] = search("hotel", scope=ALL, context=1).items
    assert [m.text for m in hit.before] == ["invoice for the new client"]


def test_oldest_first(archive: Archive) -> None:
    result = search("invoice", scope=ALL, order="oldest")
    assert [h.message.id for h in result.items] == sorted(archive.ids[k] for k in ("m1", "m2", "m5", "n1"))


def test_bad_arguments(archive: Archive) -> None:
    for kw in ({"order": "random"}, {"limit": 0}, {"limit": 10_000}, {"context": 99}, {"tz": "Nowhere/City"}):
        with pytest.raises(ValueError):
            search("invoice", scope=ALL, **kw)  # type: ignore[arg-type]


# --- scope and visibility -----------------------------------------------------------------------


def test_unfinished_sources_are_invisible(archive: Archive) -> None:
    result = search("invoice", scope=ALL)
    texts = [h.message.text for h in result.items]
    assert not any("running" in t or "failed" in t for t in texts)
    assert result.count == 4
    assert found(archive, "import") == set()
    assert found(archive, f"conversation:{archive.c_running.id}") == set()
    assert len(search("", scope=ALL).items) == 11
    Source.objects.filter(id=archive.s_running.id).update(status="done")
    assert found(archive, "invoice") == {"m1", "m2", "m5", "n1", "r1"}


def test_scope_by_source_and_conversation(archive: Archive) -> None:
    wa_only = SearchScope.of(sources=[archive.s_wa.id])
    result = search("invoice OR receipt", scope=wa_only)
    assert {h.message.conversation_id for h in result.items} == {archive.c_wa.id}
    assert result.count == 4 and result.count_exact
    assert found(archive, "platform:slack", scope=wa_only) == set()
    assert found(archive, f"source:{archive.s_slack.id}", scope=wa_only) == set()
    assert found(archive, f"conversation:{archive.c_slack.id}", scope=wa_only) == set()
    slack_conv = SearchScope.of(conversations=[archive.c_slack.id])
    assert found(archive, "invoice", scope=slack_conv) == {"n1"}
    assert search("invoice", scope=slack_conv).count == 1
    assert search("", scope=slack_conv).count == 3
    assert found(archive, "from:bob-id", scope=slack_conv) == set()
    # Scope cannot be widened into an unfinished source.
    running = SearchScope.of(sources=[archive.s_running.id])
    assert search("invoice", scope=running).count == 0
    both = SearchScope.of(sources=[archive.s_wa.id], conversations=[archive.c_slack.id])
    assert search("", scope=both).count == 0


def test_context_stays_inside_scope(archive: Archive) -> None:
    # A later import added a message to the WhatsApp chat through another source.
    source = Source.objects.create(platform="whatsapp", original_sha256="2" * 64, original_size=1)
    conv = ParsedConversation(
        "whatsapp",
        "wa-thread",
        ConversationKind.DIRECT,
        "Chat with Bartholomew",
        [ParsedParticipant("bob-id")],
        [
            ParsedMessage(
                datetime(2025, 1, 10, 9, 7, tzinfo=UTC),
                "x",
                "bob-id",
                "late addition",
                platform_message_id="m2b",
            )
        ],
    )
    ArchiveWriter(source).write([conv])
    Source.objects.filter(id=source.id).update(status="done")
    [hit] = search('"invoice was paid"', scope=ALL, context=1).items
    assert [m.text for m in hit.after] == ["late addition"]
    [hit] = search('"invoice was paid"', scope=SearchScope.of(sources=[archive.s_wa.id]), context=1).items
    assert [m.text for m in hit.after] == ["Receipt attached"]


def test_participants_are_resolved_within_the_conversation_scope(archive: Archive) -> None:
    slack_conv = SearchScope.of(conversations=[archive.c_slack.id])
    directory = service.ParticipantDirectory()
    assert search("with:bartholomew", scope=slack_conv, directory=directory).count == 0
    assert search("with:carol", scope=slack_conv, directory=directory).count == 3


def test_shredded_messages_never_match_text_but_are_listed_by_filters(archive: Archive) -> None:
    shred_participants([archive.pid("bob-id")])
    assert found(archive, "invoice") == {"m1", "n1"}
    listed = search("from:bob-id", scope=ALL)
    assert listed.items and all(h.message.erased for h in listed.items)


def test_narrow_filters_drive_the_scan_from_the_message_table(archive: Archive, many: list[int]) -> None:
    # The ledger chat holds every "ledger" message: the conversation filter is at least as
    # selective as the word, so the engine scans the conversation's messages and checks the
    # word with EXISTS; results and paging must be the same as the posting-driven plan.
    conv = Message.objects.get(id=many[0]).conversation_id
    got = [i for page in pages(f"conversation:{conv} ledger", 8) for i in page]
    assert got == sorted(many, reverse=True)
    got = [i for page in pages('from:p1 ledger -"entry for"', 8, order="oldest") for i in page]
    assert got == [i for n, i in enumerate(many) if n % 2 and n % 3]
    assert search(f"conversation:{conv} ledger", scope=ALL, limit=5).count == 75
    assert found(archive, f"conversation:{archive.c_slack.id} invoice OR hotel") == {"n1", "n2"}

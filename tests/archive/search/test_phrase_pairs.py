"""Word-pair tokens (``DMVAULT_INDEX_PAIRS``): a phrase looks up the messages where its words are
adjacent, months built without pairs are still searched word by word, and every way of removing
or rewriting a message takes its pair postings with it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.db import connection

from archive import index
from archive.ids import month_of
from archive.importers.base import ConversationKind, ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import DataSubject, Message, Participant, PostingPartition, Source
from archive.reading import open_messages
from archive.search.engine import forget_tokenizers
from archive.search.service import SearchScope, search
from archive.vault import get_vault
from archive.vault.blind_index import pair_terms
from archive.writer import ArchiveWriter

pytestmark = pytest.mark.django_db

ALL = SearchScope.everything()
ALICE = ParsedParticipant("alice-id", "Alicia Vantablack", "alicia.vb")
BOB = ParsedParticipant("bob-id", "Bartholomew Quince", "bquince")


def _write(
    texts: list[tuple[str, str, str]],
    *,
    thread: str = "pairs",
    transform: Callable[[str], str] | None = None,
    status: str = "done",
) -> Source:
    """``texts``: (ISO date, sender platform id, text). Returns the finished source."""
    source = Source.objects.create(platform="whatsapp", original_sha256="7" * 64, original_size=1)
    conv = ParsedConversation(
        "whatsapp",
        thread,
        ConversationKind.DIRECT,
        "Chat with Bartholomew",
        [ALICE, BOB],
        [
            ParsedMessage(
                datetime.fromisoformat(day).replace(tzinfo=UTC),
                day,
                sender,
                text,
                platform_message_id=f"{thread}-{i}",
            )
            for i, (day, sender, text) in enumerate(texts)
        ],
    )
    ArchiveWriter(source, transform_text=transform).write([conv])
    Source.objects.filter(id=source.id).update(status=status)
    source.refresh_from_db()
    forget_tokenizers()  # a partition's pair flag is part of the cached tokenizer
    return source


def found(query: str) -> set[str]:
    return {h.message.text for h in search(query, scope=ALL, limit=100).items}


def _stored() -> set[tuple[int, int, int]]:
    """Every posting in every partition, as (month, token, message id)."""
    out = set()
    with connection.cursor() as cur:
        for month in index.existing_months():
            cur.execute(f"SELECT token, message_id FROM {index.table(month)}")
            out |= {(month, tok, mid) for tok, mid in cur.fetchall()}
    return out


def _expected() -> set[tuple[int, int, int]]:
    """The postings the stored messages should have: recomputed from their decrypted text."""
    vault = get_vault()
    out = set()
    ids = list(Message.objects.values_list("id", flat=True))
    for msg in open_messages(ids, vault=vault):
        if msg.erased:
            continue
        month = month_of(msg.id)
        tok = index.tokenizer_for(vault, month, create=False)
        assert tok is not None
        out |= {(month, t, msg.id) for t in index.message_tokens(tok, msg.text, (msg.share_url,))}
    return out


def assert_index_exact() -> None:
    """No orphan posting (of a removed message, or of a message's old text) and none missing."""
    assert _stored() == _expected()


def _pair_postings(month: int) -> int:
    tok = index.tokenizer_for(get_vault(), month, create=False)
    assert tok is not None
    with connection.cursor() as cur:
        cur.execute(f"SELECT token FROM {index.table(month)}")
        tokens = [row[0] for row in cur.fetchall()]
    words = {tok.token(t) for t in ("meet", "station", "red", "car", "fast", "noon", "lets", "let's")}
    pairs = {
        tok.pair_token(p)
        for p in ("meet station", "red car", "car fast", "let's meet", "station noon", "car redacted")
    }
    assert not words & pairs
    return sum(1 for t in tokens if t in pairs)


# --- the terms --------------------------------------------------------------------------------------


def test_pair_terms_skip_stop_words_and_stop_at_cjk_and_emoji() -> None:
    assert pair_terms("Let's meet at the station at noon!") == {"let's meet", "meet station", "station noon"}
    assert pair_terms("Plan B, now") == {"plan now"}  # one-letter words are left out too
    assert pair_terms("very very good") == {"very very", "very good"}
    assert pair_terms("Café au lait") == {"cafe au", "au lait"}  # folded like the word terms
    assert pair_terms("hello 🎉 world") == set()
    assert pair_terms("meeting 東京 station today") == {"station today"}
    assert pair_terms("the") == set()


def test_a_pair_token_is_never_a_word_or_prefix_token(settings) -> None:
    settings.DMVAULT_INDEX_PREFIXES = True
    _write([("2025-05-02T10:00:00", "alice-id", "red car")])
    tok = index.tokenizer_for(get_vault(), 202505, create=False)
    assert tok is not None and tok.pairs
    assert len({tok.token("red car"), tok.prefix_token("red car"), tok.pair_token("red car")}) == 3


# --- searching ----------------------------------------------------------------------------------------


def test_a_phrase_is_found_only_where_its_words_are_adjacent() -> None:
    _write(
        [
            ("2025-05-02T10:00:00", "alice-id", "The red car is fast"),
            ("2025-05-02T10:01:00", "bob-id", "A car that is red"),
            ("2025-05-02T10:02:00", "alice-id", "red car"),
            ("2025-05-02T10:03:00", "bob-id", "car red"),
            ("2025-05-02T10:04:00", "bob-id", "red, car!"),
        ]
    )
    assert PostingPartition.objects.get(month=202505).pairs  # on by default
    result = search('"red car"', scope=ALL)
    assert {h.message.text for h in result.items} == {"The red car is fast", "red car", "red, car!"}
    assert result.candidates_checked == 3  # neither "A car that is red" nor "car red" was decrypted
    assert found('"car red"') == {"car red"}
    assert found("red car") == {"The red car is fast", "A car that is red", "red car", "car red", "red, car!"}
    assert found('"red car is fast"') == {"The red car is fast"}
    assert found('"car fast"') == set()  # the pair exists ("is" is a stop word), the text decides


def test_a_phrase_across_stop_words() -> None:
    _write(
        [
            ("2025-05-03T10:00:00", "alice-id", "Let's meet at the station at noon"),
            ("2025-05-03T10:01:00", "bob-id", "meet me at the station"),
            ("2025-05-03T10:02:00", "bob-id", "meet the station"),
            ("2025-05-03T10:03:00", "alice-id", "the station, where we meet"),
        ]
    )
    result = search('"meet at the station"', scope=ALL)
    assert {h.message.text for h in result.items} == {"Let's meet at the station at noon"}
    # Pair "meet station": "meet the station" is a candidate (other stop words), rejected on the text.
    assert result.candidates_checked == 2
    assert found('"at the station"') == {
        "Let's meet at the station at noon",
        "meet me at the station",
    }  # one indexed word: looked up as a word
    assert found('"meet me at the station"') == {"meet me at the station"}


def test_a_phrase_in_a_month_built_without_pairs_is_still_found(settings) -> None:
    settings.DMVAULT_INDEX_PAIRS = False
    _write(
        [
            ("2025-03-10T10:00:00", "alice-id", "the red car, in March"),
            ("2025-03-10T10:01:00", "bob-id", "my car is red, in March"),
        ],
        thread="march",
    )
    settings.DMVAULT_INDEX_PAIRS = True
    _write(
        [
            ("2025-04-10T10:00:00", "alice-id", "the red car, in April"),
            ("2025-04-10T10:01:00", "bob-id", "my car is red, in April"),
            # March was created without pairs: this one is written without them too
            ("2025-03-20T10:00:00", "alice-id", "a red car again in March"),
        ],
        thread="april",
    )
    assert dict(PostingPartition.objects.values_list("month", "pairs")) == {202503: False, 202504: True}
    assert _pair_postings(202503) == 0
    assert _pair_postings(202504) == 1
    result = search('"red car"', scope=ALL)
    assert {h.message.text for h in result.items} == {
        "the red car, in March",
        "a red car again in March",
        "the red car, in April",
    }
    assert result.candidates_checked == 4  # March: every message with both words; April: the pair
    assert_index_exact()


def test_turning_pairs_off_keeps_a_pair_month_whole(settings) -> None:
    _write([("2025-06-01T10:00:00", "alice-id", "the red car")], thread="on")
    settings.DMVAULT_INDEX_PAIRS = False
    _write(
        [("2025-06-02T10:00:00", "bob-id", "another red car"), ("2025-07-01T10:00:00", "bob-id", "red car")]
    )
    assert dict(PostingPartition.objects.values_list("month", "pairs")) == {202506: True, 202507: False}
    assert _pair_postings(202506) == 2  # the month has pairs, so its later messages get them too
    assert found('"red car"') == {"the red car", "another red car", "red car"}
    assert_index_exact()


@pytest.mark.parametrize("pairs", [True, False])
def test_far_fewer_candidates_for_a_phrase_whose_words_are_not_adjacent(settings, pairs: bool) -> None:
    settings.DMVAULT_INDEX_PAIRS = pairs
    texts = [("2025-05-04T10:00:00", "alice-id", f"invoice number {i} was paid on time") for i in range(60)]
    texts += [("2025-05-05T10:00:00", "bob-id", f"paid invoice {i}") for i in range(2)]
    _write(texts)
    result = search('"paid invoice"', scope=ALL, limit=50)
    assert len(result.items) == 2
    assert result.candidates_checked == (2 if pairs else 62)
    assert not result.truncated


def test_a_split_word_uses_its_pairs_too() -> None:
    _write(
        [
            ("2025-05-06T10:00:00", "alice-id", "mail me at example.com"),
            ("2025-05-06T10:01:00", "bob-id", "example site or .com address"),
        ]
    )
    result = search("example.com", scope=ALL)
    assert [h.message.text for h in result.items] == ["mail me at example.com"]
    assert result.candidates_checked == 1


# --- removal ------------------------------------------------------------------------------------------

TEXTS = [
    ("2025-05-02T10:00:00", "alice-id", "Let's meet at the station at noon, Bartholomew"),
    ("2025-05-02T10:01:00", "bob-id", "the red car is fast"),
    ("2025-05-03T10:02:00", "bob-id", "meet me at the station"),
    ("2025-06-03T10:03:00", "alice-id", "red car for Bartholomew Quince"),
]


def test_discarding_a_partial_import_removes_its_pair_postings() -> None:
    from archive.ingest import discard_partial

    kept = _write(TEXTS[:1], thread="kept")
    # Redaction at ingest: the postings are those of the redacted text, and so is their removal.
    partial = _write(
        TEXTS[1:], thread="partial", transform=lambda t: t.replace("fast", "[redacted]"), status="failed"
    )
    # let's meet, meet station, station noon; red car, car redacted ("car fast" never was)
    assert _pair_postings(202505) == 5 and _pair_postings(202506) == 1
    discard_partial(partial)
    assert {m.text for m in open_messages(list(Message.objects.values_list("id", flat=True)))} == {
        TEXTS[0][2]
    }
    assert _pair_postings(202505) == 3 and _pair_postings(202506) == 0
    assert_index_exact()
    assert kept.id == Message.objects.get().source_id


def test_erasure_removes_pair_postings_and_rewrites_mentions() -> None:
    from compliance.subjects import erase_subject

    _write(TEXTS)
    subject = DataSubject.objects.create(label_ct=b"x", dek_id=1)
    vault = get_vault()
    Participant.objects.filter(dedup_key=vault.keyed_hash(b"participant", "whatsapp", "bob-id")).update(
        subject=subject
    )
    bob_ids = set(Message.objects.filter(sender__subject=subject).values_list("id", flat=True))
    assert len(bob_ids) == 2
    assert found('"noon bartholomew"') == {TEXTS[0][2]}
    result = erase_subject(subject.id, None, two_person=False)
    assert result.refused is None
    assert not {mid for _, _, mid in _stored()} & bob_ids
    # Alice's messages named Bartholomew: rewritten, their old pairs swapped for the new text's.
    assert found('"noon bartholomew"') == set()  # "noon, Bartholomew" -> "noon, [erased]"
    assert found('"noon erased"') == {TEXTS[0][2].replace("Bartholomew", _erased())}
    assert "Bartholomew" not in {
        m.text for m in open_messages(list(Message.objects.values_list("id", flat=True)))
    }
    assert found('"red car"') == {"red car for Bartholomew Quince".replace("Bartholomew Quince", _erased())}
    assert_index_exact()


def _erased() -> str:
    from compliance.subjects import ERASED

    return ERASED


def test_retention_of_part_of_a_month_removes_its_pair_postings() -> None:
    from compliance import retention

    _write(TEXTS, thread="wa")
    source = Source.objects.create(platform="slack", original_sha256="8" * 64, original_size=1)
    conv = ParsedConversation(
        "slack",
        "sl",
        ConversationKind.GROUP,
        "finance",
        [ParsedParticipant("U-C")],
        [
            ParsedMessage(
                datetime(2025, 5, 9, tzinfo=UTC),
                "x",
                "U-C",
                "red car at the station",
                platform_message_id="s1",
            )
        ],
    )
    ArchiveWriter(source).write([conv])
    Source.objects.filter(id=source.id).update(status="done")
    slack_id = Message.objects.get(source=source).id
    assert _pair_postings(202505) == 6  # let's meet, meet station, station noon, red car, car fast; red car
    retention.create_policy(name="slack", platform="slack", period_days=30)
    plan = retention.plan(datetime(2025, 8, 1, tzinfo=UTC))
    assert plan.delete_ids == [slack_id] and plan.full_months == []
    retention.run(datetime(2025, 8, 1, tzinfo=UTC))
    assert not Message.objects.filter(id=slack_id).exists()
    assert slack_id not in {mid for _, _, mid in _stored()}
    assert _pair_postings(202505) == 5
    assert_index_exact()


@pytest.mark.parametrize("key", [b"k" * 32, bytes(range(80)), b""])
def test_tokens_are_the_hmac_of_type_and_term(key: bytes) -> None:
    # The tokenizer precomputes HMAC's keyed states: tokens must stay exactly HMAC-SHA256.
    import hmac

    tok = index.Tokenizer(key)
    for term in ("station", "été", "meet station", ""):
        for kind, token in ((b"w", tok.token), (b"p", tok.prefix_token), (b"b", tok.pair_token)):
            digest = hmac.digest(key, kind + term.encode(), "sha256")
            assert token(term) == int.from_bytes(digest[:8], "big", signed=True)

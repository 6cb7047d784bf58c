"""The query language: structure of what parses, and a clear error (with position) for what doesn't."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from archive.search.query import QuerySyntaxError, parse, time_bounds


def test_words_phrases_and_exclusions() -> None:
    q = parse('Invoice "was PAID" -draft -"not yet"')
    assert [[[t.kind for t in alt.terms] for alt in g.alternatives] for g in q.required] == [
        [["word"]],
        [["phrase"]],
    ]
    assert q.required[0].alternatives[0].terms[0].terms == ("invoice",)
    phrase = q.required[1].alternatives[0].terms[0]
    assert phrase.words == ("was", "paid") and phrase.terms == ("paid",)  # "was" is a stop word
    assert [(t.kind, t.words) for t in q.excluded] == [("word", ("draft",)), ("phrase", ("not", "yet"))]
    assert phrase.position == 8


def test_or_binds_tighter_than_and_and_parentheses_are_optional() -> None:
    plain = parse("paid invoice OR receipt")
    grouped = parse("paid (invoice OR receipt)")
    assert len(plain.required) == len(grouped.required) == 2
    for q in (plain, grouped):
        assert [t.text for alt in q.required[1].alternatives for t in alt.terms] == ["invoice", "receipt"]
    multi = parse('(red car OR "blue bike") sold')
    assert [[t.text for t in alt.terms] for alt in multi.required[0].alternatives] == [
        ["red", "car"],
        ["blue bike"],
    ]
    assert len(parse("a1 OR b1 OR c1").required[0].alternatives) == 3


def test_negated_group_is_a_list_of_exclusions() -> None:
    q = parse("invoice -(draft OR test)")
    assert [t.text for t in q.excluded] == ["draft", "test"]


def test_filters_and_values() -> None:
    q = parse(
        'from:"Ana Lima" to:@bob with:subject:12 platform:Slack,discord kind:call -has:attachment is:edited label:inbox conversation:5 source:7'
    )
    got = {(f.key, f.values, f.negated) for f in q.filters}
    assert ("from", ("Ana Lima",), False) in got
    assert ("to", ("@bob",), False) in got
    assert ("with", ("subject:12",), False) in got
    assert ("platform", ("slack", "discord"), False) in got
    assert ("kind", ("call",), False) in got
    assert ("has", ("attachment",), True) in got
    assert ("is", ("edited",), False) in got
    assert ("label", ("inbox",), False) in got
    assert ("conversation", ("5",), False) in got and ("source", ("7",), False) in got
    assert not q.required


def test_unknown_keys_are_text() -> None:
    q = parse("meeting 10:30 re:budget")
    assert [t.words for g in q.required for t in g.alternatives[0].terms] == [
        ("meeting",),
        ("10", "30"),
        ("re", "budget"),
    ]


def test_stop_words_alone_are_ignored_and_reported() -> None:
    q = parse("the invoice")
    assert q.ignored == ("the",) and len(q.required) == 1


def test_empty_query_is_a_browse_of_everything() -> None:
    q = parse("   ")
    assert not q.required and not q.filters and not q.has_text


def test_dates_with_time_zones() -> None:
    q = parse("after:2025-01-01T00:00+02:00 before:2025-02-01")
    low, high = time_bounds(q, "Europe/Berlin")
    assert low == datetime(2024, 12, 31, 22, 0, tzinfo=UTC)
    assert high is not None and high.utcoffset() == timedelta(hours=1) and high.date() == date(2025, 2, 1)
    low, high = time_bounds(parse("on:2025-03"), "UTC")
    assert (low, high) == (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    low, high = time_bounds(parse("on:2025"), "UTC")
    assert (low, high) == (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    low, _ = time_bounds(parse("after:2025-06-01T09:00"), "America/New_York")
    assert low == datetime(2025, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=-4)))
    low, high = time_bounds(parse("after:2025-01-10 before:2025-01-05"), "UTC")
    assert low is not None and high is not None and low > high  # an empty range, not an error
    with pytest.raises(ValueError, match="unknown time zone"):
        time_bounds(q, "Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ('invoice "unclosed', "unclosed quote", 8),
        ('""', "empty phrase", 0),
        ("(invoice OR receipt", "'(' is never closed", 0),
        ("invoice)", "')' without a matching '('", 7),
        ("((a1 OR b1))", "parentheses cannot be nested", 1),
        ("()", "empty parentheses", 0),
        ("OR invoice", "OR needs a word, phrase or group on each side", 0),
        ("invoice OR", "OR needs a word, phrase or group on each side", 8),
        ("invoice OR OR receipt", "OR needs a word, phrase or group on each side", 8),
        ("(invoice OR)", "OR needs a word, phrase or group on each side", 11),
        ("invoice OR -receipt", "a negated term cannot be joined with OR", 11),
        ("-invoice OR receipt", "a negated term cannot be joined with OR", 9),
        ("from:alice OR from:bob", "filters cannot be joined with OR; list values instead (from:a,b)", 11),
        ("invoice OR from:bob", "filters cannot be joined with OR; list values instead (from:a,b)", 11),
        ("(invoice from:bob)", "filters are not allowed inside parentheses", 9),
        ("(invoice -draft)", "'-' is not allowed inside parentheses; exclude outside them", 9),
        ("-(red car OR bike)", "-( ) excludes alternatives of one word or phrase each", 1),
        ("from:", "from: needs a value", 0),
        ("platform:myspace", "platform:myspace is not known; use one of", 0),
        ("kind:video", "kind:video is not known; use one of", 0),
        ("has:pdf", "has:pdf is not known; use one of attachment, attachments, link, links", 0),
        ("is:read", "is:read is not known; use one of deleted, edited", 0),
        ("conversation:abc", "conversation: takes a numeric id", 0),
        ("source:1,x", "source: takes a numeric id", 0),
        ("from:subject:x", "from:subject: takes a numeric id", 0),
        ("platform:slack,", "platform: has an empty value in its list", 0),
        (
            "after:yesterday",
            "after: expects a date such as 2025-01-31 or a time such as 2025-01-31T09:00+02:00",
            0,
        ),
        ("before:2025-13-01", "before: expects a date such as 2025-01-31", 0),
        ("on:2025-01-01T10:00", "on: takes a date (YYYY, YYYY-MM or YYYY-MM-DD), not a time", 0),
        ("-after:2025-01-01", "after: cannot be negated", 1),
        ("lang:english!", "lang: takes a language code such as en or pt-BR", 0),
        ("the of a", "nothing to search for: stop words and one-letter words are not indexed", 0),
        ("inv*oice", "'*' is only allowed once, at the end of a word", 0),
        ("inv**", "'*' is only allowed once, at the end of a word", 0),
        ("invoice -", None, None),
        ("- OR", "OR needs a word, phrase or group on each side", 2),
    ],
)
def test_syntax_errors(text: str, message: str | None, position: int | None) -> None:
    if message is None:
        parse(text)  # a dash standing alone is punctuation, not an error
        return
    with pytest.raises(QuerySyntaxError) as err:
        parse(text)
    assert err.value.message.startswith(message), err.value.message
    assert err.value.position == position
    assert f"at character {position + 1}" in str(err.value)


def test_prefix_needs_the_prefix_index(settings) -> None:
    settings.DMVAULT_INDEX_PREFIXES = False
    with pytest.raises(QuerySyntaxError, match=r"prefix search \(word\*\) is not enabled") as err:
        parse("budget inv*")
    assert err.value.position == 7
    settings.DMVAULT_INDEX_PREFIXES = True
    term = parse("Invoi*").required[0].alternatives[0].terms[0]
    assert (term.kind, term.terms, term.needs_check) == ("prefix", ("invoi",), False)
    long = parse("compliances*").required[0].alternatives[0].terms[0]
    assert long.terms == ("complian",) and long.needs_check
    for bad in ("in*", "*", "a-b*"):
        with pytest.raises(QuerySyntaxError):
            parse(bad)


def test_too_long_a_query_is_refused() -> None:
    with pytest.raises(QuerySyntaxError, match="too long"):
        parse("word " * 500)

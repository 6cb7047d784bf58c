"""LinkedIn messages.csv importer."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.importers.base import ConversationKind, ExportError, MessageKind
from archive.importers.linkedin import LinkedInImporter
from archive.importers.tree import open_export

from ._helpers_b import FIXTURES, SAMPLES, assert_sorted, collect, mangle, parse_bytes_only_export_error

SAMPLE = SAMPLES / "linkedin" / "4annadaneshwari__LinkedIn-Data-Analysis" / "messages.csv"
FIX = FIXTURES / "linkedin"


def test_sample_every_row_becomes_one_message_grouped_by_conversation_id() -> None:
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    per_conv = Counter(r["CONVERSATION ID"] for r in rows)
    convs = collect(LinkedInImporter(), SAMPLE)
    assert {c.conv.thread_id: len(c.messages) for c in convs} == dict(per_conv)
    assert sum(len(c.messages) for c in convs) == len(rows)


def test_sample_dates_are_utc_and_messages_oldest_first() -> None:
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        expected = sorted(
            datetime.strptime(r["DATE"], "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
            for r in csv.DictReader(fh)
        )
    convs = collect(LinkedInImporter(), SAMPLE)
    got = sorted(m.sent_at for c in convs for m in c.messages)
    assert got == expected
    for c in convs:
        assert_sorted(c.messages)
        assert all(m.raw_timestamp.endswith(" UTC") for m in c.messages)


def test_sample_owner_is_the_profile_present_in_the_most_conversations() -> None:
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    seen: dict[str, set[str]] = {}
    for r in rows:
        for url in (r["SENDER PROFILE URL"], r["RECIPIENT PROFILE URLS"]):
            if url:
                seen.setdefault(url, set()).add(r["CONVERSATION ID"])
    expected_owner = max(seen, key=lambda u: len(seen[u]))
    convs = collect(LinkedInImporter(), SAMPLE)
    owners = {p.platform_id for c in convs for p in c.conv.participants if p.is_owner}
    assert owners == {expected_owner}


def test_sample_folders_become_labels() -> None:
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        folders = {r["FOLDER"].lower() for r in csv.DictReader(fh) if r["FOLDER"]}
    convs = collect(LinkedInImporter(), SAMPLE)
    assert {label for c in convs for label in c.conv.labels} == folders


def test_sample_rows_without_sender_are_system_messages() -> None:
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        no_from = sum(1 for r in csv.DictReader(fh) if not r["FROM"] and not r["SENDER PROFILE URL"])
    convs = collect(LinkedInImporter(), SAMPLE)
    system = [m for c in convs for m in c.messages if m.sender_id is None]
    assert len(system) == no_from
    assert all(m.kind == MessageKind.SYSTEM for m in system)


def test_detects_both_column_sets() -> None:
    for path in (SAMPLE, FIX / "v2021"):
        with open_export(path) as tree:
            assert LinkedInImporter().detect(tree) >= 90


def test_2021_columns_matched_by_name_with_quoted_multiline_and_commas_in_names() -> None:
    convs = {c.conv.thread_id: c for c in collect(LinkedInImporter(), FIX / "v2021")}
    a = convs["2-AAAA"]
    assert [m.text for m in a.messages] == ['Hello "Robin"', "Thanks, see you\non Monday"]
    names = {p.display_name for p in a.conv.participants}
    assert names == {"Robin Vale", "Casey Lund, CPA"}  # TO is never split on commas
    assert a.conv.kind == ConversationKind.DIRECT
    assert a.conv.labels == ["inbox"]
    owner = [p for p in a.conv.participants if p.is_owner]
    assert [p.platform_id for p in owner] == ["https://www.linkedin.com/in/robin-vale"]


def test_naive_dates_are_utc_and_title_kept() -> None:
    convs = {c.conv.thread_id: c for c in collect(LinkedInImporter(), FIX / "v2021")}
    b = convs["2-BBBB"]
    assert b.conv.title == "Team intro"
    assert b.conv.labels == ["archive"]
    assert b.messages[-1].sent_at == datetime(2021, 2, 1, 8, 0, tzinfo=UTC)
    assert b.messages[0].kind == MessageKind.SYSTEM


def test_owner_hint_by_display_name() -> None:
    convs = collect(LinkedInImporter(), FIX / "v2021", owner_hint="Dana Ok")
    owners = {p.platform_id for c in convs for p in c.conv.participants if p.is_owner}
    assert owners == {"Dana Ok"}


def test_broken_quote_is_an_export_error_with_line() -> None:
    with pytest.raises(ExportError) as err, open_export(FIX / "broken") as tree:
        for conv in LinkedInImporter().parse(tree):
            list(conv.messages)
    assert err.value.file.endswith("messages.csv")
    assert err.value.line is not None


def test_missing_required_column_is_an_export_error(tmp_path) -> None:
    (tmp_path / "messages.csv").write_text("FROM,DATE\nA,2021-01-01 00:00:00 UTC\n")
    with pytest.raises(ExportError, match="CONVERSATION ID"), open_export(tmp_path) as tree:
        list(LinkedInImporter().parse(tree))


def test_bad_date_names_the_line(tmp_path) -> None:
    (tmp_path / "messages.csv").write_text("CONVERSATION ID,FROM,DATE,CONTENT\nc1,A,yesterday,hi\n")
    with pytest.raises(ExportError) as err, open_export(tmp_path) as tree:
        list(LinkedInImporter().parse(tree))
    assert err.value.line == 2


def test_completeness_notes_exist() -> None:
    assert LinkedInImporter().completeness()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, 10_000),
    flips=st.lists(st.integers(0, 10_000), max_size=4),
    junk=st.binary(max_size=40),
)
def test_mangled_input_raises_only_export_error(cut: int, flips: list[int], junk: bytes) -> None:
    data = (FIX / "v2021" / "messages.csv").read_bytes()
    parse_bytes_only_export_error(LinkedInImporter(), {"messages.csv": mangle(data, cut, flips, junk)})


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_export_error(data: bytes) -> None:
    parse_bytes_only_export_error(LinkedInImporter(), {"messages.csv": data})

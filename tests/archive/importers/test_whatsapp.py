"""WhatsApp "Export chat" importer."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.importers.base import ConversationKind, ExportError, MessageKind
from archive.importers.tree import open_export
from archive.importers.whatsapp import WhatsAppImporter

from ._helpers_b import (
    FIXTURES,
    SAMPLES,
    assert_sorted,
    collect,
    make_zip,
    mangle,
    parse_bytes_only_export_error,
)

SAMPLE_DIR = SAMPLES / "whatsapp"
SAMPLE_FILES = sorted(SAMPLE_DIR.glob("*/*.txt"))
FIX = FIXTURES / "whatsapp"
# Independent of the importer: a line that starts (after bidi marks) with a date is a message.
HEADER = re.compile(r"^[\u200e\u200f]*\[?\d{1,4}[./-]\d{1,2}[./-]\d{1,4},? ")


def one(path, owner_hint: str = "", **kw):
    convs = collect(WhatsAppImporter(**kw), path, owner_hint=owner_hint)
    assert len(convs) == 1
    return convs[0]


def sample(rel: str):
    return one(SAMPLE_DIR / rel)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_parses_one_message_per_header_line_oldest_first(path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    expected = sum(1 for line in lines if HEADER.match(line))
    chat = one(path)
    assert len(chat.messages) == expected
    assert_sorted(chat.messages)
    with open_export(path) as tree:
        assert WhatsAppImporter().detect(tree) >= 60


@pytest.mark.parametrize(
    ("rel", "first_utc"),
    [
        ("DoctorDalek1963__language-whatsapp/_chat.txt", datetime(2020, 11, 2, 21, 47, 19, tzinfo=UTC)),
        ("Huizerd__whatsapp/_chat.txt", datetime(2015, 5, 19, 23, 15, 22, tzinfo=UTC)),
        ("JaydenCJ__chatcarve/ambiguous-mdy-android.txt", datetime(2024, 5, 6, 9, 0, tzinfo=UTC)),
        ("JaydenCJ__chatcarve/ar-sa-ios.txt", datetime(2024, 3, 15, 21, 12, 5, tzinfo=UTC)),
        ("JaydenCJ__chatcarve/de-de-android.txt", datetime(2023, 10, 3, 19, 22, tzinfo=UTC)),
        ("JaydenCJ__chatcarve/en-us-android.txt", datetime(2023, 12, 31, 20, 3, tzinfo=UTC)),
        ("JaydenCJ__chatcarve/es-mx-android.txt", datetime(2023, 12, 31, 23, 40, tzinfo=UTC)),
        ("joweich__chat-miner/test_[mmddyy]_24hrs.txt", datetime(2019, 1, 1, 11, 25, tzinfo=UTC)),
        ("joweich__chat-miner/test_mmddyyyy_12hrs.txt", datetime(2019, 1, 1, 11, 25, tzinfo=UTC)),
        ("joweich__chat-miner/test_yyyymmdd_24hrs.txt", datetime(2019, 1, 1, 11, 25, tzinfo=UTC)),
        ("mlomb__chat-analytics/4A_11M.txt", datetime(2020, 12, 9, 23, 16, tzinfo=UTC)),
    ],
)
def test_date_order_and_12h_markers_are_inferred_per_file(rel: str, first_utc: datetime) -> None:
    assert sample(rel).messages[0].sent_at == first_utc


def test_same_chat_in_every_date_order_gives_the_same_times() -> None:
    names = [
        "test_ddmmyy_24hrs.txt",
        "test_mmddyyyy_12hrs.txt",
        "test_yyyymmdd_24hrs.txt",
        "test_[mmddyy]_24hrs.txt",
    ]
    times = [[m.sent_at for m in sample(f"joweich__chat-miner/{n}").messages] for n in names]
    assert all(t == times[0] for t in times)
    assert times[0][-1] == datetime(2021, 12, 30, 22, 1, tzinfo=UTC)


def test_multiline_messages_and_system_lines() -> None:
    chat = sample("JaydenCJ__chatcarve/en-us-android.txt")
    assert chat.messages[4].text == "Me!\nIt needs:\ncorn husks\ntwo pounds of masa"
    system = [m for m in chat.messages if m.kind == MessageKind.SYSTEM]
    assert len(system) == 3 and all(m.sender_id is None for m in system)
    assert chat.conv.kind == ConversationKind.GROUP
    assert chat.conv.title == "Family recipes"
    assert {p.platform_id for p in chat.conv.participants} == {"Aunt May", "Grandma Rosa"}


def test_deleted_media_and_call_markers_in_several_languages() -> None:
    for rel in (
        "JaydenCJ__chatcarve/en-us-android.txt",
        "JaydenCJ__chatcarve/de-de-android.txt",
        "JaydenCJ__chatcarve/es-mx-android.txt",
    ):
        msgs = sample(rel).messages
        assert sum(m.deleted for m in msgs) == 1, rel
        media = [m for m in msgs if m.kind == MessageKind.MEDIA]
        assert len(media) == 2, rel
        assert {bool(m.attachments[0].name) for m in media} == {True, False}  # named file + omitted
    calls = [
        m for m in sample("JaydenCJ__chatcarve/es-mx-android.txt").messages if m.kind == MessageKind.CALL
    ]
    assert len(calls) == 1


def test_ios_marks_attachments_polls_locations_edits() -> None:
    msgs = sample("timelinize__timelinize/_chat.txt").messages
    kinds = [m.kind for m in msgs]
    assert kinds.count(MessageKind.POLL) == 2
    assert kinds.count(MessageKind.LOCATION) == 2
    assert sum(m.deleted for m in msgs) == 2
    assert sum(m.edited for m in msgs) == 1
    edited = next(m for m in msgs if m.edited)
    assert edited.text == "An edited message"
    video = next(m for m in msgs if m.kind == MessageKind.CALL and m.call_duration_s)
    assert video.call_duration_s == 300
    doc = next(m for m in msgs if any(a.name == "some-doc.pdf" for a in m.attachments))
    assert doc.text == "A PDF.pdf"
    assert msgs[0].kind == MessageKind.SYSTEM and msgs[0].sender_id is None  # E2E notice


def test_localised_attachment_tags_and_ampm() -> None:
    ar = sample("JaydenCJ__chatcarve/ar-sa-ios.txt").messages
    assert [a.name for m in ar for a in m.attachments] == ["00000019-PHOTO-2024-03-15-21-15-48.jpg"]
    assert ar[-1].sent_at == datetime(2024, 3, 16, 8, 5, tzinfo=UTC)  # ص = AM
    assert ar[-1].kind == MessageKind.CALL
    fr = sample("JaydenCJ__chatcarve/fr-fr-ios.txt").messages
    assert fr[2].attachments[0].name == "00000012-PHOTO-2024-01-06-14-05-37.jpg"
    assert fr[3].attachments[0].content_type == "video/*"
    assert fr[-1].kind == MessageKind.SYSTEM  # "Maman a ajouté Camille"


def test_old_ios_bare_image_lines_are_media() -> None:
    msgs = sample("Huizerd__whatsapp/_chat.txt").messages
    lines = (SAMPLE_DIR / "Huizerd__whatsapp/_chat.txt").read_text(encoding="utf-8").splitlines()
    assert sum(m.kind == MessageKind.MEDIA for m in msgs) == sum(
        line.endswith(": \u200eimage") for line in lines
    )


def test_out_of_order_line_is_sorted_with_stable_ties() -> None:
    msgs = sample("mlomb__chat-analytics/2A_5M.txt").messages
    assert [m.text for m in msgs][2:4] == ["All good", "This message should be reordered"]
    assert msgs[-1].kind == MessageKind.MEDIA


def test_zip_with_media_opens_attached_file(tmp_path) -> None:
    zpath = make_zip(
        tmp_path / "WhatsApp Chat - Rosa.zip",
        {
            "WhatsApp Chat with Rosa Pine.txt": FIX / "android_ddmm.txt",
            "IMG-20240312-WA0001.jpg": FIX / "IMG-20240312-WA0001.jpg",
        },
    )
    with open_export(zpath) as tree:
        assert WhatsAppImporter().detect(tree) >= 90
    chat = one(zpath)
    assert chat.conv.thread_id == "chat:Rosa Pine"
    photo = next(m for m in chat.messages if m.attachments and m.attachments[0].name)
    assert photo.text == "look at this"
    with open_export(zpath) as tree:
        conv = next(WhatsAppImporter().parse(tree))
        att = next(m for m in conv.messages if m.attachments and m.attachments[0].name).attachments[0]
        assert att.open is not None
        assert att.open().read() == b"fake-jpeg-bytes"


def test_crlf_day_first_and_out_of_order_fixture() -> None:
    msgs = one(FIX / "android_ddmm.txt").messages
    assert msgs[0].sent_at == datetime(2024, 3, 12, 21, 5, tzinfo=UTC)
    assert [m.text for m in msgs if m.sent_at.day == 13][:2] == ["early bird", ""]
    assert msgs[-1].text == "Line one\nline two"
    assert not any("\r" in m.text for m in msgs)


def test_month_first_ios_with_narrow_nbsp_ampm_edits_calls_and_deletes() -> None:
    chat = one(FIX / "ios_mdy_chat.txt")
    msgs = chat.messages
    assert msgs[0].sent_at == datetime(2024, 3, 4, 21, 15, 2, tzinfo=UTC)
    assert msgs[0].kind == MessageKind.MEDIA and msgs[0].attachments[0].open is None
    assert msgs[1].edited and msgs[1].text == "nice"
    assert msgs[2].call_duration_s == 120
    assert msgs[3].deleted and msgs[3].sent_at == datetime(2024, 3, 13, 8, 0, tzinfo=UTC)
    assert chat.conv.kind == ConversationKind.DIRECT


def test_timezone_option_converts_wall_clock_to_utc() -> None:
    msgs = one(FIX / "android_ddmm.txt", timezone="Europe/Berlin").messages
    assert msgs[0].sent_at == datetime(2024, 3, 12, 20, 5, tzinfo=UTC)
    assert msgs[0].raw_timestamp == "12/03/2024, 21:05"
    with pytest.raises(ValueError):
        WhatsAppImporter(timezone="Mars/Olympus")


def test_owner_hint_marks_the_participant() -> None:
    chat = one(FIX / "ios_mdy_chat.txt", owner_hint="Kim Alder")
    assert [p.platform_id for p in chat.conv.participants if p.is_owner] == ["Kim Alder"]


def test_unparseable_header_names_file_and_line() -> None:
    with pytest.raises(ExportError) as err, open_export(FIX / "bad_header.txt") as tree:
        list(WhatsAppImporter().parse(tree))
    assert err.value.file == "bad_header.txt" and err.value.line == 1


def test_invalid_utf8_is_an_export_error(tmp_path) -> None:
    (tmp_path / "_chat.txt").write_bytes(b"12/03/2024, 21:05 - A: ok\n12/03/2024, 21:06 - A: \xff\xfe\n")
    with pytest.raises(ExportError) as err, open_export(tmp_path / "_chat.txt") as tree:
        for conv in WhatsAppImporter().parse(tree):
            list(conv.messages)
    assert err.value.line == 2


def test_thread_id_is_stable_across_runs() -> None:
    path = SAMPLE_DIR / "timelinize__timelinize/_chat.txt"
    assert one(path).conv.thread_id == one(path).conv.thread_id


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, 2000), flips=st.lists(st.integers(0, 2000), max_size=6), junk=st.binary(max_size=60)
)
def test_mangled_input_raises_only_export_error(cut: int, flips: list[int], junk: bytes) -> None:
    data = (SAMPLE_DIR / "timelinize__timelinize/_chat.txt").read_bytes()
    parse_bytes_only_export_error(WhatsAppImporter(), {"_chat.txt": mangle(data, cut, flips, junk)})


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=200))
def test_random_text_raises_only_export_error(text: str) -> None:
    parse_bytes_only_export_error(WhatsAppImporter(), {"_chat.txt": ("1/2/24, 10:00 - " + text).encode()})

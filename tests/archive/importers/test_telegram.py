"""Telegram Desktop result.json importer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.importers.base import ConversationKind, ExportError, MessageKind
from archive.importers.telegram import TelegramImporter
from archive.importers.tree import open_export

from ._helpers_b import FIXTURES, SAMPLES, assert_sorted, collect, mangle, parse_bytes_only_export_error

SINGLE = SAMPLES / "telegram" / "Eklipti__telegram-chat-analyzer" / "raw[0].json"
BATCH = SAMPLES / "telegram" / "joweich__chat-miner" / "test_batch_export.json"
FULL = FIXTURES / "telegram" / "full"


def test_samples_are_detected() -> None:
    for path in (SINGLE, BATCH, FULL):
        with open_export(path) as tree:
            assert TelegramImporter().detect(tree) >= 50


def test_single_chat_sample_counts_kinds_edits_replies_reactions() -> None:
    raw = json.loads(SINGLE.read_text(encoding="utf-8"))
    [chat] = collect(TelegramImporter(), SINGLE)
    assert chat.conv.thread_id == str(raw["id"])
    assert chat.conv.kind == ConversationKind.GROUP
    assert len(chat.messages) == len(raw["messages"])
    assert_sorted(chat.messages)
    assert sum(m.kind == MessageKind.SYSTEM for m in chat.messages) == sum(
        m["type"] == "service" for m in raw["messages"]
    )
    assert sum(m.edited for m in chat.messages) == sum("edited" in m for m in raw["messages"])
    assert sum(bool(m.reply_to) for m in chat.messages) == sum(
        "reply_to_message_id" in m for m in raw["messages"]
    )
    expected_reactions = sum(
        len(r.get("recent", [])) for m in raw["messages"] for r in m.get("reactions", [])
    )
    assert sum(len(m.reactions) for m in chat.messages) == expected_reactions
    photos = sum("photo" in m for m in raw["messages"])
    assert sum(len(m.attachments) for m in chat.messages) >= photos
    assert all(a.open is None for m in chat.messages for a in m.attachments)  # "(File not included…)"


def test_single_chat_sample_uses_date_unixtime_in_utc() -> None:
    raw = json.loads(SINGLE.read_text(encoding="utf-8"))
    [chat] = collect(TelegramImporter(), SINGLE)
    expected = sorted(datetime.fromtimestamp(int(m["date_unixtime"]), UTC) for m in raw["messages"])
    assert [m.sent_at for m in chat.messages] == expected
    assert {m.raw_timestamp for m in chat.messages} == {m["date_unixtime"] for m in raw["messages"]}
    senders = {m.get("from_id") or m.get("actor_id") for m in raw["messages"]}
    assert senders <= {p.platform_id for p in chat.conv.participants}


def test_batch_sample_text_parts_are_joined() -> None:
    raw = json.loads(BATCH.read_text(encoding="utf-8"))
    [chat] = collect(TelegramImporter(), BATCH)
    assert len(chat.messages) == len(raw["chats"]["list"][0]["messages"])
    assert chat.messages[1].text == "Link:https://telegram.org/"
    assert chat.conv.title == "Chatname"


def test_full_export_owner_left_chats_and_kinds() -> None:
    convs = {c.conv.thread_id: c for c in collect(TelegramImporter(), FULL)}
    assert set(convs) == {"2002", "3003", "5005"}
    assert convs["2002"].conv.kind == ConversationKind.DIRECT
    assert convs["3003"].conv.kind == ConversationKind.GROUP
    assert convs["5005"].conv.kind == ConversationKind.CHANNEL
    assert convs["5005"].conv.labels == ["left"]
    for c in convs.values():
        assert [p.platform_id for p in c.conv.participants if p.is_owner] == ["user1001"]


def test_full_export_messages() -> None:
    msgs = next(c for c in collect(TelegramImporter(), FULL) if c.conv.thread_id == "2002").messages
    assert [m.platform_message_id for m in msgs] == ["9", "10", "11", "12", "13", "14"]
    assert msgs[0].raw_timestamp == "2023-05-01T11:00:00"  # no date_unixtime: falls back to date
    assert msgs[1].text == "see https://example.org!"
    assert msgs[2].edited and msgs[2].reply_to == "10"
    assert msgs[2].reactions[0].actor_id == "user1001"
    assert msgs[2].reactions[0].timestamp == datetime(2023, 5, 1, 12, 2, tzinfo=UTC)
    assert msgs[3].kind == MessageKind.CALL and msgs[3].call_duration_s == 95
    assert msgs[4].kind == MessageKind.MEDIA
    photo = msgs[4].attachments[0]
    assert photo.uri == "photos/photo_1.jpg" and photo.open is not None
    assert msgs[5].kind == MessageKind.STICKER and msgs[5].attachments[0].open is None


def test_full_export_photo_bytes_are_readable() -> None:
    with open_export(FULL) as tree:
        conv = next(TelegramImporter().parse(tree))
        photo = next(m for m in conv.messages if m.kind == MessageKind.MEDIA).attachments[0]
        assert photo.open is not None and photo.open().read() == b"fakephoto"


def test_poll_and_service_messages() -> None:
    msgs = next(c for c in collect(TelegramImporter(), FULL) if c.conv.thread_id == "3003").messages
    assert msgs[0].kind == MessageKind.SYSTEM and msgs[0].sender_id == "user1001"
    assert msgs[1].kind == MessageKind.POLL and msgs[1].text == "Which book?"


def test_truncated_json_is_an_export_error(tmp_path) -> None:
    (tmp_path / "result.json").write_bytes((FULL / "result.json").read_bytes()[:900])
    with pytest.raises(ExportError) as err, open_export(tmp_path) as tree:
        for conv in TelegramImporter().parse(tree):
            list(conv.messages)
    assert err.value.file == "result.json"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, 5000), flips=st.lists(st.integers(0, 5000), max_size=4), junk=st.binary(max_size=40)
)
def test_mangled_input_raises_only_export_error(cut: int, flips: list[int], junk: bytes) -> None:
    data = (FULL / "result.json").read_bytes()
    parse_bytes_only_export_error(TelegramImporter(), {"result.json": mangle(data, cut, flips, junk)})


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_export_error(data: bytes) -> None:
    parse_bytes_only_export_error(TelegramImporter(), {"result.json": data})

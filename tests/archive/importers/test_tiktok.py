"""TikTok user_data(_tiktok).json importer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.importers.base import ConversationKind, ExportError, MessageKind
from archive.importers.tiktok import TikTokImporter
from archive.importers.tree import open_export

from ._helpers_b import FIXTURES, SAMPLES, assert_sorted, collect, mangle, parse_bytes_only_export_error

SAMPLE_DIR = SAMPLES / "tiktok"
EXCERPT = SAMPLE_DIR / "textandgetrich__Jupiter__DM-EXCERPT" / "user_data_tiktok.json"
EMPTY = SAMPLE_DIR / "LamineLSU__Privacy-Cost-of-Fun" / "user_data_tiktok.json"
OLD = FIXTURES / "tiktok" / "user_data.json"


def test_every_sample_is_detected() -> None:
    for path in SAMPLE_DIR.glob("*/*.json"):
        with open_export(path) as tree:
            assert TikTokImporter().detect(tree) >= 80


def test_new_layout_sample_counts_chats_and_messages() -> None:
    history = json.loads(EXCERPT.read_text(encoding="utf-8"))["Direct Message"]["Direct Messages"][
        "ChatHistory"
    ]
    convs = collect(TikTokImporter(), EXCERPT)
    expected = {
        k.removeprefix("Chat History with ").removesuffix(":") or "(unknown account)": len(v)
        for k, v in history.items()
    }
    assert {c.conv.thread_id: len(c.messages) for c in convs} == expected


def test_new_layout_sample_times_are_utc_and_sorted() -> None:
    history = json.loads(EXCERPT.read_text(encoding="utf-8"))["Direct Message"]["Direct Messages"][
        "ChatHistory"
    ]
    expected = sorted(
        datetime.fromisoformat(m["Date"]).replace(tzinfo=UTC) for v in history.values() for m in v
    )
    convs = collect(TikTokImporter(), EXCERPT)
    assert sorted(m.sent_at for c in convs for m in c.messages) == expected
    for c in convs:
        assert_sorted(c.messages)


def test_sample_deleted_account_chat_and_inferred_owner() -> None:
    history = json.loads(EXCERPT.read_text(encoding="utf-8"))["Direct Message"]["Direct Messages"][
        "ChatHistory"
    ]
    # The account holder is the sender present in the most chats.
    chats_per_sender: dict[str, int] = {}
    for msgs in history.values():
        for sender in {m["From"] for m in msgs if m["From"]}:
            chats_per_sender[sender] = chats_per_sender.get(sender, 0) + 1
    owner = max(chats_per_sender, key=chats_per_sender.__getitem__)
    convs = collect(TikTokImporter(), EXCERPT)
    for c in convs:
        assert [p.platform_id for p in c.conv.participants if p.is_owner] == [owner]
    unknown = next(c for c in convs if c.conv.thread_id == "(unknown account)")
    assert unknown.conv.kind == ConversationKind.DIRECT


def test_sample_with_empty_chat_history_yields_nothing() -> None:
    assert collect(TikTokImporter(), EMPTY) == []


def test_old_layout_group_chat_and_owner_from_profile() -> None:
    convs = {c.conv.thread_id: c for c in collect(TikTokImporter(), OLD)}
    assert set(convs) == {"pixel_otter", "Group_Chat_55501"}
    group = convs["Group_Chat_55501"]
    assert group.conv.kind == ConversationKind.GROUP
    assert {p.platform_id for p in group.conv.participants} == {"quiet_heron", "amber_lynx", "pixel_otter"}
    assert [p.platform_id for p in group.conv.participants if p.is_owner] == ["quiet_heron"]
    assert group.messages[1].text == ""  # missing Content tolerated


def test_descending_chat_is_sorted_and_escapes_decoded() -> None:
    chat = next(c for c in collect(TikTokImporter(), OLD) if c.conv.thread_id == "pixel_otter")
    assert_sorted(chat.messages)
    assert chat.messages[0].text == "hi über 😀"
    assert chat.messages[0].raw_timestamp == "2022-05-01 08:59:59"


def test_media_are_links_only() -> None:
    chat = next(c for c in collect(TikTokImporter(), OLD) if c.conv.thread_id == "pixel_otter")
    share, gif = chat.messages[1], chat.messages[2]
    assert share.kind == MessageKind.SHARE
    assert share.share_url.startswith("https://www.tiktokv.com/share/video/")
    assert gif.kind == MessageKind.MEDIA
    assert gif.attachments[0].uri == "https://media.tenor.com/abc123/dance.gif"
    assert all(a.open is None for m in chat.messages for a in m.attachments)


def test_owner_hint_overrides_profile() -> None:
    convs = collect(TikTokImporter(), OLD, owner_hint="pixel_otter")
    assert all([p.platform_id for p in c.conv.participants if p.is_owner] == ["pixel_otter"] for c in convs)


def test_truncated_json_is_an_export_error(tmp_path) -> None:
    (tmp_path / "user_data.json").write_bytes(OLD.read_bytes()[:300])
    with pytest.raises(ExportError) as err, open_export(tmp_path / "user_data.json") as tree:
        for conv in TikTokImporter().parse(tree):
            list(conv.messages)
    assert err.value.file == "user_data.json"


def test_bad_date_is_an_export_error(tmp_path) -> None:
    body = {
        "Direct Messages": {
            "Chat History": {
                "ChatHistory": {"Chat History with x:": [{"Date": "soon", "From": "x", "Content": "hi"}]}
            }
        }
    }
    (tmp_path / "user_data.json").write_text(json.dumps(body))
    with pytest.raises(ExportError), open_export(tmp_path / "user_data.json") as tree:
        list(TikTokImporter().parse(tree))


def test_completeness_says_media_are_links() -> None:
    assert any(n.code == "media-links-only" for n in TikTokImporter().completeness())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, 5000), flips=st.lists(st.integers(0, 5000), max_size=4), junk=st.binary(max_size=40)
)
def test_mangled_input_raises_only_export_error(cut: int, flips: list[int], junk: bytes) -> None:
    parse_bytes_only_export_error(
        TikTokImporter(), {"user_data.json": mangle(OLD.read_bytes(), cut, flips, junk)}
    )


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_export_error(data: bytes) -> None:
    parse_bytes_only_export_error(TikTokImporter(), {"user_data_tiktok.json": data})

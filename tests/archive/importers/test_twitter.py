"""TwitterImporter: X/Twitter archive direct messages (1:1 and group)."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.importers.base import (
    ConversationKind,
    ExportError,
    MessageKind,
    ParsedConversation,
    ParsedMessage,
)
from archive.importers.tree import open_export
from archive.importers.twitter import TwitterImporter

IMPORTER = TwitterImporter()
OWNER = "1000000000000000001"


def parse(path: Path, owner_hint: str = "") -> list[tuple[ParsedConversation, list[ParsedMessage]]]:
    with open_export(path) as tree:
        return [(c, list(c.messages)) for c in IMPORTER.parse(tree, owner_hint=owner_hint)]


def load_js(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    data: list[dict[str, Any]] = json.loads(text[text.index("=") + 1 :])
    return data


@pytest.fixture
def archive_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "twitter"


def test_one_to_one_conversation(archive_dir: Path) -> None:
    convs = {c.thread_id: (c, m) for c, m in parse(archive_dir)}
    conv, msgs = convs[f"{OWNER}-9007199254740993123"]
    assert conv.kind is ConversationKind.DIRECT
    assert [p.platform_id for p in conv.participants] == [OWNER, "9007199254740993123"]
    owner = conv.participants[0]
    assert owner.is_owner and owner.handle == "owen_owner" and owner.display_name == "Owen Owner"
    assert [m.platform_message_id for m in msgs] == [
        "1700000000000000001",
        "1700000000000000002",
        "1700000000000000003",
    ]  # oldest first; ids beyond 2**53 kept exactly as strings
    assert msgs[0].sent_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert msgs[0].raw_timestamp == "2023-11-14T22:13:20.000Z"


def test_text_is_unescaped_and_links_become_shares(archive_dir: Path) -> None:
    convs = {c.thread_id: m for c, m in parse(archive_dir)}
    msg = convs[f"{OWNER}-9007199254740993123"][1]
    assert msg.text == "Tom & Jerry <3 https://t.co/BBB"
    assert msg.kind is MessageKind.SHARE and msg.share_url == "https://example.com/page"
    assert [(r.actor_id, r.reaction) for r in msg.reactions] == [(OWNER, "funny")]
    assert msg.reactions[0].timestamp == datetime(2023, 11, 14, 22, 14, 30, tzinfo=UTC)


def test_media_is_linked_to_the_local_file(archive_dir: Path) -> None:
    convs = {c.thread_id: m for c, m in parse(archive_dir)}
    msg = convs[f"{OWNER}-9007199254740993123"][2]
    (att,) = msg.attachments
    assert att.uri == "data/direct_messages_media/1700000000000000003-pic.jpg"
    assert att.open is not None and att.open().read() == b"\xff\xd8\xff\xe0fake-tw"
    assert msg.share_url == ""  # the media page link is not a share


def test_group_events_become_system_messages(archive_dir: Path) -> None:
    convs = {c.thread_id: (c, m) for c, m in parse(archive_dir)}
    conv, msgs = convs["1800000000000000000"]
    assert conv.kind is ConversationKind.GROUP
    assert conv.title == "Book club"
    assert {p.platform_id for p in conv.participants} == {OWNER, "1000000000000000002", "1000000000000000003"}
    assert [m.kind for m in msgs] == [
        MessageKind.SYSTEM,  # joinConversation
        MessageKind.SYSTEM,  # participantsJoin
        MessageKind.TEXT,
        MessageKind.SYSTEM,  # conversationNameUpdate
        MessageKind.SYSTEM,  # participantsLeave
    ]
    assert msgs[3].sender_id == "1000000000000000002" and "Book club" in msgs[3].text
    assert msgs[4].sender_id == "1000000000000000003"


def test_owner_hint_overrides_the_manifest(archive_dir: Path) -> None:
    convs = {c.thread_id: c for c, _ in parse(archive_dir, owner_hint="9007199254740993123")}
    conv = convs[f"{OWNER}-9007199254740993123"]
    assert [p.platform_id for p in conv.participants if p.is_owner] == ["9007199254740993123"]


def test_a_dm_file_given_alone(archive_dir: Path) -> None:
    result = parse(archive_dir / "data" / "direct-messages.js")
    assert len(result) == 1 and len(result[0][1]) == 3
    assert not any(p.is_owner for p in result[0][0].participants)  # no manifest, no hint


def test_detection(archive_dir: Path) -> None:
    with open_export(archive_dir) as tree:
        assert IMPORTER.detect(tree) >= 90


def test_missing_prefix_is_an_export_error(tmp_path: Path) -> None:
    (tmp_path / "direct-messages.js").write_text("[]")
    with pytest.raises(ExportError, match=r"window\.YTD") as err:
        parse(tmp_path)
    assert err.value.file == "direct-messages.js"


def test_truncated_file_is_an_export_error_naming_it(archive_dir: Path, tmp_path: Path) -> None:
    data = (archive_dir / "data" / "direct-messages.js").read_bytes()
    (tmp_path / "direct-messages.js").write_bytes(data[: len(data) // 2])
    with pytest.raises(ExportError) as err:
        parse(tmp_path)
    assert err.value.file == "direct-messages.js"
    assert "hi there" not in str(err.value)


def test_float_ids_are_refused_rather_than_rounded(tmp_path: Path) -> None:
    body = [{"dmConversation": {"conversationId": 1.5, "messages": []}}]
    (tmp_path / "direct-messages.js").write_text("window.YTD.direct_messages.part0 = " + json.dumps(body))
    with pytest.raises(ExportError, match="id"):
        parse(tmp_path)


FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures/twitter/data/direct-messages.js").read_bytes()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mangled_files_raise_only_export_error(tmp_path: Path, data: st.DataObject) -> None:
    blob = bytearray(FIXTURE)
    for _ in range(data.draw(st.integers(0, 6))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    (tmp_path / "direct-messages.js").write_bytes(bytes(blob[: data.draw(st.integers(0, len(blob)))]))
    with contextlib.suppress(ExportError):
        parse(tmp_path)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=15,
)
EVENT = st.dictionaries(
    st.sampled_from(
        ["messageCreate", "joinConversation", "participantsLeave", "conversationNameUpdate", "x"]
    ),
    st.dictionaries(
        st.sampled_from(["id", "senderId", "text", "createdAt", "reactions", "urls", "mediaUrls", "userIds"]),
        JSON | st.just("2020-01-01T00:00:00Z"),
    ),
    min_size=1,
    max_size=1,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conv_id=JSON, events=st.lists(EVENT | JSON, max_size=4))
def test_random_structures_raise_only_export_error(tmp_path: Path, conv_id: Any, events: Any) -> None:
    body = [{"dmConversation": {"conversationId": conv_id, "messages": events}}]
    (tmp_path / "direct-messages-group.js").write_text(
        "window.YTD.direct_messages_group.part0 = " + json.dumps(body)
    )
    with contextlib.suppress(ExportError):
        parse(tmp_path)


# -- the real samples -----------------------------------------------------------------------


def dm_files(samples: Path) -> list[Path]:
    return sorted((samples / "twitter-x").glob("*/direct-messages*.js"))


def test_there_are_twitter_samples(samples_dir: Path) -> None:
    assert len(dm_files(samples_dir)) == 4


@pytest.mark.parametrize("index", range(4))
def test_real_sample_files(samples_dir: Path, index: int) -> None:
    path = dm_files(samples_dir)[index]
    expected = load_js(path)
    result = parse(path)
    assert len(result) == len(expected)
    for (conv, msgs), item in zip(result, expected, strict=True):
        raw = item["dmConversation"]
        assert conv.thread_id == raw["conversationId"]
        assert conv.kind is (ConversationKind.GROUP if "group" in path.name else ConversationKind.DIRECT)
        assert len(msgs) == len(raw["messages"])
        assert [m.sent_at for m in msgs] == sorted(m.sent_at for m in msgs)
        assert all(m.sent_at.tzinfo is UTC for m in msgs)
        creates = [e["messageCreate"] for e in raw["messages"] if "messageCreate" in e]
        produced = [m for m in msgs if m.platform_message_id]
        assert sorted(m.platform_message_id for m in produced) == sorted(c["id"] for c in creates)
        assert all(isinstance(m.platform_message_id, str) for m in produced)
        assert sum(len(m.reactions) for m in msgs) == sum(len(c.get("reactions", [])) for c in creates)
        assert sum(1 for m in msgs if m.kind is MessageKind.SYSTEM) == len(raw["messages"]) - len(creates)
        ids = {p.platform_id for p in conv.participants}
        assert {c["senderId"] for c in creates} <= ids
        assert all(re.fullmatch(r"\d+", i) for i in ids)
        for c in creates:
            m = next(x for x in msgs if x.platform_message_id == c["id"])
            assert "&amp;" not in m.text
            assert m.sent_at == datetime.fromisoformat(c["createdAt"])


def test_real_archive_owner_comes_from_the_manifest(samples_dir: Path) -> None:
    folder = samples_dir / "twitter-x" / "milahu__twitter-milahu104"
    manifest = json.loads((folder / "manifest.js").read_text().split("=", 1)[1])
    owner = manifest["userInfo"]["accountId"]
    result = parse(folder)
    assert len(result) == len(load_js(folder / "direct-messages.js"))  # the empty group file adds nothing
    for conv, _ in result:
        assert [p.platform_id for p in conv.participants if p.is_owner] == [owner]

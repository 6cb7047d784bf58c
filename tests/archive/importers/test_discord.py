"""Discord importer: official data package and DiscordChatExporter JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.importers.base import ConversationKind, ExportError, MessageKind
from archive.importers.discord import DiscordImporter
from archive.importers.tree import open_export

from ._helpers_b import (
    FIXTURES,
    SAMPLES,
    assert_sorted,
    collect,
    make_zip,
    mangle,
    parse_bytes_only_export_error,
)

SAMPLE_FILES = sorted((SAMPLES / "discord").glob("*/*.json"))
PACKAGE = FIXTURES / "discord" / "package"
DCE = FIXTURES / "discord" / "dce"


@pytest.mark.parametrize("path", [*SAMPLE_FILES, PACKAGE, DCE], ids=lambda p: p.name)
def test_everything_is_detected(path) -> None:
    with open_export(path) as tree:
        assert DiscordImporter().detect(tree) >= 80


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_dce_samples_counts_authors_times_calls_replies(path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    [chat] = collect(DiscordImporter(), path)
    assert chat.conv.thread_id == raw["channel"]["id"]
    assert len(chat.messages) == len(raw["messages"])
    assert_sorted(chat.messages)
    assert chat.participant_ids == {m["author"]["id"] for m in raw["messages"]}
    expected = sorted(datetime.fromisoformat(m["timestamp"]).astimezone(UTC) for m in raw["messages"])
    assert [m.sent_at for m in chat.messages] == expected
    calls = [m for m in raw["messages"] if m["type"] == "Call"]
    got_calls = [m for m in chat.messages if m.kind == MessageKind.CALL]
    assert len(got_calls) == len(calls)
    for got, want in zip(got_calls, sorted(calls, key=lambda m: m["timestamp"]), strict=True):
        span = datetime.fromisoformat(want["callEndedTimestamp"]) - datetime.fromisoformat(want["timestamp"])
        assert got.call_duration_s == int(span.total_seconds())
    system = sum(m["type"] not in ("Default", "Reply", "Call") for m in raw["messages"])
    assert sum(m.kind == MessageKind.SYSTEM for m in chat.messages) == system
    assert sum(bool(m.reply_to) for m in chat.messages) == sum("reference" in m for m in raw["messages"])
    kind = {"DirectTextChat": ConversationKind.DIRECT, "DirectGroupTextChat": ConversationKind.GROUP}
    assert chat.conv.kind == kind[raw["channel"]["type"]]


def test_dce_sample_reaction_counts_without_users_are_not_attributed() -> None:
    [chat] = collect(DiscordImporter(), SAMPLES / "discord" / "mlomb__chat-analytics" / "DM_2A_2M.json")
    assert all(m.reactions == [] for m in chat.messages)
    assert any(n.code == "reaction-counts" for n in DiscordImporter().completeness())


def test_dce_guild_channel_reactions_attachments_edits_and_owner() -> None:
    [chat] = collect(DiscordImporter(), DCE, owner_hint="nova_q")
    assert chat.conv.kind == ConversationKind.CHANNEL
    assert chat.conv.title == "Fake Server / general"
    assert [p.platform_id for p in chat.conv.participants if p.is_owner] == ["2"]
    msgs = chat.messages
    assert [m.platform_message_id for m in msgs] == ["13", "10", "11", "12"]
    assert msgs[0].kind == MessageKind.SYSTEM
    hi = msgs[1]
    assert hi.sent_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC) and hi.edited
    assert [(r.actor_id, r.reaction) for r in hi.reactions] == [("2", "👍"), ("3", "👍"), ("2", ":party:")]
    assert hi.attachments[0].uri == "assets/pic.png" and hi.attachments[0].size == 7
    assert msgs[2].reply_to == "10"
    assert msgs[3].kind == MessageKind.SYSTEM  # ChannelPinnedMessage


def test_dce_local_attachment_opens() -> None:
    with open_export(DCE) as tree:
        conv = next(DiscordImporter().parse(tree))
        att = next(a for m in conv.messages for a in m.attachments)
        assert att.open is not None and att.open().read() == b"fakepng"


def test_package_only_owner_messages_csv_and_json() -> None:
    convs = {c.conv.thread_id: c for c in collect(DiscordImporter(), PACKAGE)}
    assert set(convs) == {"111", "222"}
    dm, guild = convs["111"], convs["222"]
    assert dm.conv.kind == ConversationKind.DIRECT and dm.conv.title == "Direct Message with orbit_k#0000"
    assert guild.conv.kind == ConversationKind.CHANNEL
    owner = "900000000000000001"
    assert all(m.sender_id == owner for c in convs.values() for m in c.messages)
    assert [p.platform_id for p in dm.conv.participants if p.is_owner] == [owner]
    assert dm.participant_ids == {owner, "900000000000000002"}
    assert [m.text for m in dm.messages] == ["", "two\nlines"]  # sorted, quoted multi-line CSV
    assert dm.messages[0].kind == MessageKind.MEDIA
    assert dm.messages[0].attachments[0].uri.endswith("/cat.png")
    assert [m.sent_at for m in guild.messages] == [
        datetime(2024, 5, 1, 8, 0, 0, 500000, tzinfo=UTC),
        datetime(2024, 5, 2, 6, 0, tzinfo=UTC),
    ]
    assert any(n.code == "owner-only" for n in DiscordImporter().completeness())


def test_package_with_capitalised_folders_in_a_zip(tmp_path) -> None:
    members = {}
    for p in PACKAGE.rglob("*"):
        if p.is_file():
            rel = str(p.relative_to(PACKAGE)).replace("messages/", "Messages/")
            members[f"package/{rel}"] = p
    zpath = make_zip(tmp_path / "package.zip", members)
    assert sum(len(c.messages) for c in collect(DiscordImporter(), zpath)) == 4


def test_bad_package_timestamp_names_line(tmp_path) -> None:
    folder = tmp_path / "messages" / "c1"
    folder.mkdir(parents=True)
    (folder / "channel.json").write_text('{"id": "1", "type": 1}')
    (folder / "messages.csv").write_text("ID,Timestamp,Contents,Attachments\n1,not a time,hi,\n")
    with pytest.raises(ExportError) as err, open_export(tmp_path) as tree:
        list(DiscordImporter().parse(tree))
    assert err.value.line == 2 and err.value.file == "messages/c1/messages.csv"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, 4000), flips=st.lists(st.integers(0, 4000), max_size=4), junk=st.binary(max_size=40)
)
def test_mangled_dce_raises_only_export_error(cut: int, flips: list[int], junk: bytes) -> None:
    data = (DCE / "server-general.json").read_bytes()
    parse_bytes_only_export_error(DiscordImporter(), {"chat.json": mangle(data, cut, flips, junk)})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(0, 400), flips=st.lists(st.integers(0, 400), max_size=4), junk=st.binary(max_size=40))
def test_mangled_package_raises_only_export_error(cut: int, flips: list[int], junk: bytes) -> None:
    csv_bytes = (PACKAGE / "messages" / "c111" / "messages.csv").read_bytes()
    channel = (PACKAGE / "messages" / "c111" / "channel.json").read_bytes()
    parse_bytes_only_export_error(
        DiscordImporter(),
        {
            "messages/c111/channel.json": mangle(channel, cut, flips, b""),
            "messages/c111/messages.csv": mangle(csv_bytes, cut, flips, junk),
        },
    )


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_export_error(data: bytes) -> None:
    parse_bytes_only_export_error(DiscordImporter(), {"chat.json": data})

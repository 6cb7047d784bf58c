"""Slack workspace-export importer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.importers.base import ConversationKind, ExportError, MessageKind
from archive.importers.slack import SlackImporter, parse_ts, redact_url
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

SAMPLE_DIR = SAMPLES / "slack"
HOUSTON = SAMPLE_DIR / "houstondatavis__slack-export"
FAX = SAMPLE_DIR / "Faxulous__supersecretbetcodehistoryformcp"
RUSQ = SAMPLE_DIR / "rusq__slackdump"
WS = FIXTURES / "slack" / "ws"


def day_files(root):
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*/*.json"))}


@pytest.mark.parametrize("root", [HOUSTON, FAX, RUSQ, WS], ids=lambda p: p.name)
def test_every_sample_is_detected(root) -> None:
    with open_export(root) as tree:
        assert SlackImporter().detect(tree) >= 60


@pytest.mark.parametrize("root", [HOUSTON, FAX], ids=lambda p: p.name)
def test_sample_message_counts_and_times(root) -> None:
    days = day_files(root)
    convs = collect(SlackImporter(), root)
    by_title = {c.conv.title: c for c in convs}
    for folder, messages in days.items():
        chat = by_title[folder]
        assert len(chat.messages) == len(messages)
        assert_sorted(chat.messages)
        expected = sorted(
            datetime.fromtimestamp(int(m["ts"].split(".")[0]), UTC).replace(
                microsecond=int(m["ts"].split(".")[1])
            )
            for m in messages
        )
        assert [m.sent_at for m in chat.messages] == expected
        assert [m.raw_timestamp for m in chat.messages] == sorted(m["ts"] for m in messages)


@pytest.mark.parametrize("root", [HOUSTON, FAX], ids=lambda p: p.name)
def test_sample_subtypes_edits_replies_reactions_files(root) -> None:
    raw = [m for msgs in day_files(root).values() for m in msgs]
    msgs = [m for c in collect(SlackImporter(), root) for m in c.messages]
    content = {None, "file_share", "thread_broadcast", "bot_message", "tombstone", "me_message"}
    assert sum(m.kind == MessageKind.SYSTEM for m in msgs) == sum(
        r.get("subtype") not in content for r in raw
    )
    assert sum(m.deleted for m in msgs) == sum(r.get("subtype") == "tombstone" for r in raw)
    assert sum(m.edited for m in msgs) == sum("edited" in r for r in raw)
    assert sum(bool(m.reply_to) for m in msgs) == sum(r.get("thread_ts", r["ts"]) != r["ts"] for r in raw)
    assert sum(len(m.reactions) for m in msgs) == sum(
        len(x["users"]) for r in raw for x in r.get("reactions", [])
    )
    assert sum(len(m.attachments) for m in msgs) == sum(len(r.get("files", [])) + ("file" in r) for r in raw)
    assert all("xox" not in a.uri for m in msgs for a in m.attachments)  # tokens redacted


def test_channels_json_gives_ids_members_and_renamed_folder() -> None:
    channels = json.loads((HOUSTON / "channels.json").read_text(encoding="utf-8"))
    convs = {c.conv.thread_id: c for c in collect(SlackImporter(), HOUSTON)}
    assert set(convs) == {ch["id"] for ch in channels}
    meetup = next(c for c in convs.values() if c.conv.title == "meetup-")
    expected_members = next(ch["members"] for ch in channels if ch["name"] == "meetup-")
    assert set(expected_members) <= meetup.participant_ids
    assert all(c.conv.kind == ConversationKind.CHANNEL for c in convs.values())


def test_dms_and_mpims_index_files() -> None:
    dms = json.loads((RUSQ / "dms.json").read_text(encoding="utf-8"))
    mpims = json.loads((RUSQ / "mpims.json").read_text(encoding="utf-8"))
    users = {u["id"] for u in json.loads((RUSQ / "users.json").read_text(encoding="utf-8"))}
    convs = {c.conv.thread_id: c for c in collect(SlackImporter(), RUSQ)}
    for dm in dms:
        assert convs[dm["id"]].conv.kind == ConversationKind.DIRECT
        assert convs[dm["id"]].participant_ids == set(dm["members"])
    for mp in mpims:
        assert convs[mp["id"]].conv.kind == ConversationKind.GROUP
        assert convs[mp["id"]].participant_ids == set(mp["members"])
    named = [p for c in convs.values() for p in c.conv.participants if p.platform_id in users]
    assert named and all(p.display_name for p in named)
    assert not any(p.is_owner for c in convs.values() for p in c.conv.participants)  # no owner in a workspace


def test_fixture_workspace() -> None:
    convs = {c.conv.thread_id: c for c in collect(SlackImporter(), WS)}
    assert set(convs) == {"C0GEN", "C0EMPTY", "D0FAKE01", "G0MPIM"}
    assert convs["D0FAKE01"].conv.kind == ConversationKind.DIRECT
    assert convs["D0FAKE01"].conv.title == "ana.m, Ben Hart"
    assert convs["G0MPIM"].conv.kind == ConversationKind.GROUP
    general = convs["C0GEN"].messages
    assert [m.kind for m in general][:2] == [MessageKind.SYSTEM, MessageKind.TEXT]
    parent = general[1]
    assert parent.sent_at == datetime(2020, 9, 13, 12, 31, 40, 123456, tzinfo=UTC)
    assert parent.edited
    assert [(r.actor_id, r.reaction) for r in parent.reactions] == [("U0BEN", ":wave:"), ("U0CY", ":wave:")]
    assert parent.attachments[0].uri == "https://files.slack.com/files-pri/T0-F0ONE/plan.pdf"
    assert parent.attachments[0].size == 1234 and parent.attachments[0].open is None
    assert parent.attachments[1].name == "F0TWO"  # hidden_by_limit: id only
    assert general[2].deleted
    assert general[3].reply_to == parent.platform_message_id


def test_zipped_export_with_top_folder(tmp_path) -> None:
    members = {f"Fake Slack export/{p.relative_to(WS)}": p for p in WS.rglob("*.json")}
    zpath = make_zip(tmp_path / "export.zip", members)
    assert len([m for c in collect(SlackImporter(), zpath) for m in c.messages]) == 6


def test_ts_parsing_and_token_redaction() -> None:
    assert parse_ts("1600000000.5", "x").microsecond == 500000
    with pytest.raises(ExportError):
        parse_ts("yesterday", "x.json")
    assert redact_url("https://f/x.png?t=xoxe-1-2&b=1") == "https://f/x.png?b=1"


def test_broken_day_file_names_the_file(tmp_path) -> None:
    (tmp_path / "general").mkdir()
    (tmp_path / "general" / "2020-01-01.json").write_text('[{"type": "message", "ts": "1.0"')
    with pytest.raises(ExportError) as err, open_export(tmp_path) as tree:
        for conv in SlackImporter().parse(tree):
            list(conv.messages)
    assert err.value.file == "general/2020-01-01.json"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, 2000), flips=st.lists(st.integers(0, 2000), max_size=4), junk=st.binary(max_size=40)
)
def test_mangled_input_raises_only_export_error(cut: int, flips: list[int], junk: bytes) -> None:
    day = (WS / "general" / "2020-09-13.json").read_bytes()
    users = (WS / "users.json").read_bytes()
    parse_bytes_only_export_error(
        SlackImporter(),
        {
            "users.json": mangle(users, cut, flips, b""),
            "general/2020-09-13.json": mangle(day, cut, flips, junk),
        },
    )


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_export_error(data: bytes) -> None:
    parse_bytes_only_export_error(SlackImporter(), {"channels.json": data, "general/2020-01-01.json": data})

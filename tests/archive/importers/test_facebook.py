"""FacebookMessengerImporter: Messenger "Download Your Information" (JSON) and the
end-to-end-encrypted secure-storage download."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import zipfile
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
from archive.importers.facebook import FacebookMessengerImporter
from archive.importers.tree import open_export

from .meta_checks import check_thread_file

IMPORTER = FacebookMessengerImporter()
INBOX = "inbox/reneeexample_1000000000000001"


def parse(path: Path, owner_hint: str = "") -> list[tuple[ParsedConversation, list[ParsedMessage]]]:
    with open_export(path) as tree:
        return [(c, list(c.messages)) for c in IMPORTER.parse(tree, owner_hint=owner_hint)]


def by_thread(result: list[tuple[ParsedConversation, list[ParsedMessage]]]) -> dict[str, Any]:
    return {c.thread_id: (c, msgs) for c, msgs in result}


@pytest.fixture
def dyi(fixtures_dir: Path) -> Path:
    return fixtures_dir / "facebook" / "dyi"


# -- the synthetic DYI export ----------------------------------------------------------------


def test_every_section_becomes_a_labelled_conversation(dyi: Path) -> None:
    threads = by_thread(parse(dyi))
    labels = {tid: c.labels for tid, (c, _) in threads.items()}
    assert labels == {
        INBOX: ["inbox"],
        "archived_threads/weekendplans_1000000000000002": ["archived_threads"],
        "filtered_threads/someone_1000000000000003": ["filtered_threads"],
        "message_requests/someone_1000000000000004": ["message_requests"],
        "e2ee_cutover/someone_1000000000000005": ["e2ee_cutover"],
    }
    assert all(c.platform == "facebook" for c, _ in threads.values())


def test_split_files_are_joined_oldest_first(dyi: Path) -> None:
    _conv, msgs = by_thread(parse(dyi))[INBOX]
    assert len(msgs) == 9
    assert [m.sent_at for m in msgs] == sorted(m.sent_at for m in msgs)
    assert msgs[0].text == "oldest message 😂"  # from message_2.json, the older file
    assert msgs[0].sent_at == datetime(2023, 11, 14, 22, 13, 21, tzinfo=UTC)
    assert msgs[0].raw_timestamp == "1700000001000"


def test_mojibake_is_repaired_in_names_titles_text_and_reactions(dyi: Path) -> None:
    conv, msgs = by_thread(parse(dyi))[INBOX]
    assert conv.title == "Renée Example"
    assert [p.platform_id for p in conv.participants] == ["Renée Example", "Owen Owner"]
    assert msgs[1].text == "second oldest: café ☕"
    liked = next(m for m in msgs if m.text == "Très bien!")
    assert [(r.actor_id, r.reaction) for r in liked.reactions] == [("Renée Example", "❤")]


def test_duplicate_reactions_collapse_and_keep_their_time(dyi: Path) -> None:
    _, msgs = by_thread(parse(dyi))[INBOX]
    liked = next(m for m in msgs if m.reactions)
    assert len(liked.reactions) == 1
    assert liked.reactions[0].timestamp == datetime(2023, 11, 14, 22, 13, 24, tzinfo=UTC)


def test_message_kinds_follow_structure(dyi: Path) -> None:
    _, msgs = by_thread(parse(dyi))[INBOX]
    kinds = [m.kind for m in msgs]
    assert kinds == [
        MessageKind.TEXT,
        MessageKind.TEXT,
        MessageKind.TEXT,
        MessageKind.MEDIA,  # photo + video
        MessageKind.MEDIA,  # audio
        MessageKind.STICKER,
        MessageKind.CALL,
        MessageKind.SHARE,
        MessageKind.TEXT,  # unsent
    ]
    call, share, unsent = msgs[6], msgs[7], msgs[8]
    assert call.call_duration_s == 0
    assert share.share_url == "https://example.com/article"
    assert unsent.deleted and unsent.text == ""


def test_attachments_open_their_bytes_from_the_export(dyi: Path) -> None:
    _, msgs = by_thread(parse(dyi))[INBOX]
    photo_msg, audio_msg, sticker_msg = msgs[3], msgs[4], msgs[5]
    photo, video = photo_msg.attachments
    assert photo.name == "photo_1.jpg" and photo.content_type == "image/jpeg"
    assert photo.open is not None and photo.open().read() == b"\xff\xd8\xff\xe0fake-jpeg"
    assert photo.size == len(b"\xff\xd8\xff\xe0fake-jpeg")
    assert "scontent" not in photo.uri  # the signed backup_uri is not kept
    assert video.open is None and video.uri.endswith("videos/missing.mp4")  # referenced, not shipped
    assert audio_msg.attachments[0].open is not None
    assert audio_msg.attachments[0].open().read() == b"fake-aac"
    assert sticker_msg.attachments[0].open is not None
    assert sticker_msg.attachments[0].open().read() == b"\x89PNGfake"


def test_group_lists_former_members_and_system_messages(dyi: Path) -> None:
    conv, msgs = by_thread(parse(dyi))["archived_threads/weekendplans_1000000000000002"]
    assert conv.kind is ConversationKind.GROUP
    assert conv.title == "Weekend plans"
    assert "Lee Former" in {p.platform_id for p in conv.participants}  # only a sender, not listed
    assert [m.kind for m in msgs] == [MessageKind.SYSTEM, MessageKind.TEXT, MessageKind.SYSTEM]


def test_one_to_one_is_direct(dyi: Path) -> None:
    conv, _ = by_thread(parse(dyi))[INBOX]
    assert conv.kind is ConversationKind.DIRECT


def test_owner_is_marked_only_from_the_hint(dyi: Path) -> None:
    conv, _ = by_thread(parse(dyi))[INBOX]
    assert not any(p.is_owner for p in conv.participants)
    conv, _ = by_thread(parse(dyi, owner_hint="owen owner"))[INBOX]
    assert [p.platform_id for p in conv.participants if p.is_owner] == ["Owen Owner"]


def test_a_zip_with_another_top_folder_still_links_media(dyi: Path, tmp_path: Path) -> None:
    z = tmp_path / "facebook-owen-2024.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in dyi.rglob("*"):
            if f.is_file():
                zf.write(f, "facebook-owen-2024/" + f.relative_to(dyi).as_posix())
    _, msgs = by_thread(parse(z))[INBOX]
    assert msgs[3].attachments[0].open is not None
    assert msgs[5].attachments[0].open is not None  # sticker from messages/stickers_used


def test_the_old_messages_root_is_accepted(dyi: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(dyi / "your_facebook_activity" / "messages", old / "messages")
    threads = by_thread(parse(old))
    assert len(threads) == 5
    assert len(threads[INBOX][1]) == 9


def test_a_single_message_file_given_alone(dyi: Path) -> None:
    ((conv, msgs),) = parse(dyi / "your_facebook_activity/messages" / INBOX / "message_2.json")
    assert conv.thread_id == INBOX
    assert [m.text for m in msgs] == ["oldest message 😂", "second oldest: café ☕"]


# -- secure storage (E2EE) download ----------------------------------------------------------


def test_secure_storage_download(fixtures_dir: Path) -> None:
    ((conv, msgs),) = parse(fixtures_dir / "facebook" / "e2ee")
    assert conv.labels == ["secure_storage"]
    assert conv.title == "Jordan Lee"
    assert [p.platform_id for p in conv.participants] == ["Owen Owner", "Jordan Lee"]
    assert msgs[0].text == "Grüße from the new app"  # clean UTF-8 is not "repaired"
    assert msgs[0].reactions[0].reaction == "😆"
    assert msgs[0].sent_at == datetime(2024, 3, 31, 19, 35, 58, 573000, tzinfo=UTC)
    assert msgs[1].kind is MessageKind.MEDIA
    assert msgs[1].attachments[0].open is not None
    assert msgs[1].attachments[0].open().read() == b"\xff\xd8\xff\xe0fake-jpeg-2"
    assert msgs[2].attachments == []  # "Failed to download media" placeholder
    assert msgs[3].deleted
    assert msgs[4].kind is MessageKind.SHARE and msgs[4].share_url == "https://example.org/x"


# -- refusals -------------------------------------------------------------------------------


def test_html_download_is_refused_asking_for_json(fixtures_dir: Path) -> None:
    with pytest.raises(ExportError, match="JSON format"):
        parse(fixtures_dir / "facebook" / "html")


def test_an_export_without_messages_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ExportError, match="no Facebook Messenger message files"):
        parse(tmp_path)


def write_thread(path: Path, payload: bytes) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "message_1.json").write_bytes(payload)
    return path


def test_truncated_json_names_the_file(tmp_path: Path) -> None:
    secret = "a private sentence"
    body = json.dumps(
        {
            "participants": [{"name": "A"}],
            "messages": [{"sender_name": "A", "timestamp_ms": 1, "content": secret}],
        }
    )
    write_thread(tmp_path / "messages/inbox/a_1", body[:-20].encode())
    with pytest.raises(ExportError) as err:
        parse(tmp_path)
    assert err.value.file == "messages/inbox/a_1/message_1.json"
    assert secret not in str(err.value)


def test_wrong_encoding_is_an_export_error(tmp_path: Path) -> None:
    payload = '{"participants": [{"name": "Zoë"}], "messages": []}'.encode("utf-16")
    write_thread(tmp_path / "messages/inbox/a_1", payload)
    with pytest.raises(ExportError):
        parse(tmp_path)


def test_message_without_timestamp_is_an_export_error(tmp_path: Path) -> None:
    body = {"participants": [], "messages": [{"sender_name": "A", "content": "private words"}]}
    write_thread(tmp_path / "messages/inbox/a_1", json.dumps(body).encode())
    with pytest.raises(ExportError, match="timestamp_ms") as err:
        parse(tmp_path)
    assert "private words" not in str(err.value)


def test_unknown_keys_and_missing_optional_keys_are_tolerated(tmp_path: Path) -> None:
    body = {"new_top_key": [1, 2], "messages": [{"timestamp_ms": 5, "brand_new": {"x": None}}]}
    write_thread(tmp_path / "messages/inbox/a_1", json.dumps(body).encode())
    ((_conv, msgs),) = parse(tmp_path)
    assert msgs[0].sender_id is None and msgs[0].text == ""


# -- fuzzing: mangled input raises ExportError and nothing else -------------------------------


FIXTURE_BYTES = (
    Path(__file__).resolve().parents[1]
    / "fixtures/facebook/dyi/your_facebook_activity/messages/inbox/reneeexample_1000000000000001/message_1.json"
).read_bytes()


def _consume_bytes(tmp: Path, payload: bytes) -> None:
    write_thread(tmp / "messages/inbox/t_1", payload)
    with contextlib.suppress(ExportError):
        parse(tmp)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_bit_flipped_or_truncated_files_raise_only_export_error(tmp_path: Path, data: st.DataObject) -> None:
    blob = bytearray(FIXTURE_BYTES)
    for _ in range(data.draw(st.integers(0, 6))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= 1 << data.draw(st.integers(0, 7))
    cut = data.draw(st.integers(0, len(blob)))
    _consume_bytes(tmp_path / "x", bytes(blob[:cut]))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
MESSAGE_KEYS = st.sampled_from(
    [
        "sender_name",
        "timestamp_ms",
        "content",
        "photos",
        "reactions",
        "share",
        "sticker",
        "call_duration",
        "is_unsent",
        "users",
        "type",
        "videos",
        "files",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    top=st.dictionaries(
        st.sampled_from(["participants", "title", "thread_path", "thread_type", "image"]), JSON
    ),
    messages=st.lists(st.dictionaries(MESSAGE_KEYS, JSON) | JSON, max_size=5) | JSON,
)
def test_random_json_structures_raise_only_export_error(
    tmp_path: Path, top: dict[str, Any], messages: Any
) -> None:
    _consume_bytes(tmp_path / "y", json.dumps({**top, "messages": messages}).encode())


# -- the real samples -----------------------------------------------------------------------


def sample_files(samples: Path) -> list[Path]:
    return sorted((samples / "facebook-messenger").glob("*/*.json"))


def test_there_are_facebook_samples(samples_dir: Path) -> None:
    assert len(sample_files(samples_dir)) == 6


@pytest.mark.parametrize("index", range(6))
def test_real_sample_thread_files(samples_dir: Path, index: int) -> None:
    path = sample_files(samples_dir)[index]
    for given_as in (path, path.parent):  # the lone file, and the folder holding it
        ((conv, msgs),) = parse(given_as)
        check_thread_file(path, conv, msgs)


def test_real_sample_zipped_with_its_original_layout(samples_dir: Path, tmp_path: Path) -> None:
    """A real thread file placed where the download puts it, with fake media where its uris point."""
    path = next(p for p in sample_files(samples_dir) if "thanhvanvu" in str(p))
    data = json.loads(path.read_text())
    uris = [x["uri"] for m in data["messages"] for k in ("photos", "videos") for x in m.get(k, [])]
    z = tmp_path / "dyi.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(
            f"your_facebook_activity/messages/{data['thread_path']}/message_1.json", path.read_bytes()
        )
        for uri in set(uris):
            zf.writestr(uri, b"media")
    ((conv, msgs),) = parse(z)
    linked = [a for m in msgs for a in m.attachments]
    assert len(linked) == len(uris) and all(a.open is not None for a in linked)
    assert conv.labels == ["inbox"]
    check_thread_file(path, conv, msgs)


def test_completeness_mentions_end_to_end_encrypted_chats() -> None:
    assert "e2ee_missing" in {n.code for n in IMPORTER.completeness()}


def test_detects_the_synthetic_dyi_export(dyi: Path) -> None:
    with open_export(dyi) as tree:
        assert IMPORTER.detect(tree) >= 90


def test_stream_reader_handles_an_in_memory_zip() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("messages/inbox/a_1/message_1.json", b'{"messages": []}')
    assert buf.getvalue().startswith(b"PK")

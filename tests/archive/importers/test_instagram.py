"""InstagramImporter: the same Meta thread schema under your_instagram_activity/ or messages/."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

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
from archive.importers.instagram import InstagramImporter
from archive.importers.tree import open_export

from .meta_checks import check_thread_file, load, repair

IMPORTER = InstagramImporter()


def parse(path: Path, owner_hint: str = "") -> list[tuple[ParsedConversation, list[ParsedMessage]]]:
    with open_export(path) as tree:
        return [(c, list(c.messages)) for c in IMPORTER.parse(tree, owner_hint=owner_hint)]


def test_current_layout_thread(fixtures_dir: Path) -> None:
    ((conv, msgs),) = parse(fixtures_dir / "instagram" / "current", owner_hint="owen.owner")
    assert conv.platform == "instagram"
    assert conv.thread_id == "inbox/samplesam_17841400000000001"
    assert conv.labels == ["inbox"]
    assert conv.kind is ConversationKind.DIRECT
    assert [p.platform_id for p in conv.participants if p.is_owner] == ["owen.owner"]
    assert [m.kind for m in msgs] == [
        MessageKind.CALL,
        MessageKind.TEXT,
        MessageKind.MEDIA,
        MessageKind.SHARE,
    ]
    assert msgs[0].call_duration_s == 95
    assert msgs[1].text == "Привет, как дела? 👋"
    assert msgs[1].reactions[0].reaction == "❤️"
    assert msgs[1].reactions[0].timestamp == datetime(2023, 11, 14, 22, 13, 22, tzinfo=UTC)
    photo = msgs[2].attachments[0]
    assert photo.open is not None and photo.open().read() == b"\xff\xd8\xff\xe0fake-ig"
    assert msgs[3].share_url == "https://www.instagram.com/reel/FAKE123/"


def test_legacy_layout_group(fixtures_dir: Path) -> None:
    ((conv, msgs),) = parse(fixtures_dir / "instagram" / "legacy")
    assert conv.kind is ConversationKind.GROUP
    assert conv.title == "Study “group”"
    assert [m.kind for m in msgs] == [MessageKind.SYSTEM, MessageKind.TEXT]
    assert msgs[1].text == "Olá, São Paulo!"


def test_detects_the_current_layout_by_its_folder(fixtures_dir: Path) -> None:
    with open_export(fixtures_dir / "instagram" / "current") as tree:
        assert IMPORTER.detect(tree) >= 90


def test_html_download_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "your_instagram_activity/messages/inbox/a_1/message_1.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    with pytest.raises(ExportError, match="JSON format"):
        parse(tmp_path)


def test_completeness_notes_exist() -> None:
    assert {n.code for n in IMPORTER.completeness()} >= {"names_only", "shared_posts_links_only"}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_export_error(tmp_path: Path, blob: bytes) -> None:
    target = tmp_path / "z/your_instagram_activity/messages/inbox/t_1/message_1.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b'{"participants": [], "messages": [' + blob)
    with contextlib.suppress(ExportError):
        parse(tmp_path / "z")


# -- the real samples -----------------------------------------------------------------------

SAMPLE_COUNT = 3


def sample_files(samples: Path) -> list[Path]:
    return sorted((samples / "instagram").glob("*/*.json"))


def test_there_are_instagram_samples(samples_dir: Path) -> None:
    assert len(sample_files(samples_dir)) == SAMPLE_COUNT


@pytest.mark.parametrize("index", range(SAMPLE_COUNT))
def test_real_sample_thread_files(samples_dir: Path, index: int) -> None:
    path = sample_files(samples_dir)[index]
    ((conv, msgs),) = parse(path)
    check_thread_file(path, conv, msgs)
    assert conv.platform == "instagram"


def test_real_group_sample_with_subscribe_and_calls(samples_dir: Path) -> None:
    path = next(p for p in sample_files(samples_dir) if "AmanShah05" in str(p))
    data = load(path)
    ((conv, msgs),) = parse(path)
    assert conv.kind is ConversationKind.GROUP
    assert conv.title == repair(data["title"]) and conv.title != data["title"]  # mojibake in the title
    subs = sum(1 for r in data["messages"] if r.get("type") in ("Subscribe", "Unsubscribe"))
    assert sum(1 for m in msgs if m.kind is MessageKind.SYSTEM) == subs
    calls = sum(1 for r in data["messages"] if r.get("type") == "Call" or "call_duration" in r)
    assert sum(1 for m in msgs if m.kind is MessageKind.CALL) == calls


def test_real_cyrillic_sample_is_fully_repaired(samples_dir: Path) -> None:
    path = next(p for p in sample_files(samples_dir) if "Shchushch" in str(p))
    ((conv, _msgs),) = parse(path)
    raw_names = [p["name"] for p in json.loads(path.read_text())["participants"]]
    assert any(repair(n) != n for n in raw_names)
    assert all(not any(0x80 <= ord(c) <= 0xFF for c in p.platform_id) for p in conv.participants)

"""Independent expectations for a Meta (Facebook/Instagram) thread file, computed with the
standard json module, used by test_facebook.py and test_instagram.py."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive.importers.base import MessageKind, ParsedConversation, ParsedMessage

MEDIA_KEYS = ("photos", "videos", "audio_files", "gifs", "files")


def repair(text: str) -> str:
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return data


def check_thread_file(path: Path, conv: ParsedConversation, messages: list[ParsedMessage]) -> None:
    """Everything the importer produced for one message_N.json, against the file itself."""
    data = load(path)
    raw = data["messages"]
    assert len(messages) == len(raw)
    # Chronological, timezone-aware UTC, raw value kept.
    assert [m.sent_at for m in messages] == sorted(m.sent_at for m in messages)
    assert all(m.sent_at.tzinfo is UTC for m in messages)
    expected_times = sorted(datetime.fromtimestamp(r["timestamp_ms"] / 1000, UTC) for r in raw)
    assert all(
        abs((a - b).total_seconds()) < 0.002
        for a, b in zip(expected_times, [m.sent_at for m in messages], strict=True)
    )
    assert sorted(m.raw_timestamp for m in messages) == sorted(str(r["timestamp_ms"]) for r in raw)
    # Participants: every listed name, repaired, is there; every sender is a participant.
    ids = {p.platform_id for p in conv.participants}
    assert {repair(p["name"]) for p in data.get("participants", [])} <= ids
    assert {m.sender_id for m in messages if m.sender_id} <= ids
    if "title" in data:
        assert conv.title == repair(data["title"])
    if "thread_path" in data:
        assert conv.thread_id == data["thread_path"]
    # Per message: repaired text, attachments, reactions, unsent flag. Compared as multisets
    # because real files repeat (timestamp, sender) pairs.
    expected = Counter(
        (
            str(r["timestamp_ms"]),
            repair(r.get("sender_name", "")) or None,
            repair(r.get("content", "")),
            sum(len(r.get(k, [])) for k in MEDIA_KEYS) + (1 if "sticker" in r else 0),
            len({(x.get("actor"), x.get("reaction")) for x in r.get("reactions", [])}),
            bool(r.get("is_unsent")),
        )
        for r in raw
    )
    produced = Counter(
        (
            m.raw_timestamp,
            m.sender_id,
            m.text if m.kind is not MessageKind.SHARE or raw_has_content(raw, m) else "",
            len(m.attachments),
            len(m.reactions),
            m.deleted,
        )
        for m in messages
    )
    assert produced == expected
    for m in messages:
        assert not any(0x80 <= ord(c) <= 0x9F for c in m.text), "C1 controls left: mojibake not repaired"
        assert all(not any(0x80 <= ord(c) <= 0x9F for c in x.reaction) for x in m.reactions)
        for a in m.attachments:
            assert "oh=" not in a.uri  # signed CDN backup links are not kept
    calls = [r for r in raw if "call_duration" in r]
    assert sorted(
        m.call_duration_s for m in messages if m.kind is MessageKind.CALL and m.call_duration_s is not None
    ) == sorted(r["call_duration"] for r in calls)
    shares = [
        repair(r["share"].get("link", ""))
        for r in raw
        if "share" in r
        and "sticker" not in r
        and "call_duration" not in r
        and r.get("type") not in ("Subscribe", "Unsubscribe", "Call")
        and "users" not in r
    ]
    assert sorted(m.share_url for m in messages if m.kind is MessageKind.SHARE) == sorted(shares)


def raw_has_content(raw: list[dict[str, Any]], m: ParsedMessage) -> bool:
    """A share without content takes its share_text as text; compare against content only."""
    return any(str(r["timestamp_ms"]) == m.raw_timestamp and r.get("content") for r in raw)

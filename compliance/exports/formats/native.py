"""Native JSON: our own lossless, reimportable schema, one file per conversation.

``native/<conversation id>.json``::

    {"format": "dmvault-native", "version": 1,
     "conversation": {"id", "platform", "thread_id", "kind", "title", "labels"},
     "participants": [{"id", "platform_id", "display_name", "handle", "is_owner"}],
     "messages": [{"id", "platform_message_id", "sent_at", "raw_timestamp", "sender_id", "kind",
                   "text", "edited", "deleted", "previous_versions", "reactions", "share_url",
                   "call_duration_s", "reply_to", "erased",
                   "attachments": [{"id", "name", "content_type", "uri", "size", "file"}]}]}

``sender_id``/reaction actors are participant platform ids; ``reply_to`` is the replied-to
message's ``platform_message_id`` (``dmv-<archive id>``, since the archive keeps only a keyed
hash of the platform's own id). The file is written message by message and read back with
``ijson``, so neither side holds a conversation in memory. ``read_native`` turns a production
(or a folder of these files) back into ``ParsedConversation`` dataclasses for ``ArchiveWriter``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import ijson

from archive.importers.base import (
    ConversationKind,
    MessageKind,
    ParsedAttachment,
    ParsedConversation,
    ParsedMessage,
    ParsedParticipant,
    ParsedReaction,
)
from compliance.exports.collect import XMessage
from compliance.exports.formats.base import ExportContext, iso

FORMAT = "dmvault-native"
VERSION = 1
PREFIX = "native/"


def _pmid(message_id: int | None) -> str:
    return f"dmv-{message_id}" if message_id is not None else ""


def _message(ctx: ExportContext, msg: XMessage) -> dict[str, Any]:
    sender = ctx.person(msg.sender_id)
    return {
        "id": msg.id,
        "platform_message_id": _pmid(msg.id),
        "sent_at": iso(msg.sent_at),
        "raw_timestamp": msg.raw_timestamp,
        "sender_id": sender.platform_id if sender else None,
        "kind": msg.kind,
        "text": msg.text,
        "edited": msg.edited,
        "deleted": msg.deleted,
        "previous_versions": msg.previous_versions,
        "reactions": msg.reactions,
        "share_url": msg.share_url,
        "call_duration_s": msg.call_duration_s,
        "reply_to": _pmid(msg.reply_to_id),
        "erased": msg.erased,
        "source_id": msg.source_id,
        "attachments": [
            {
                "id": a.id,
                "name": a.name,
                "content_type": a.content_type,
                "uri": a.uri,
                "size": a.size,
                "file": ctx.attachment_path(a) or None,
            }
            for a in msg.attachments
        ],
    }


def write(ctx: ExportContext) -> None:
    for index, conv in enumerate(ctx.conversations):
        ctx.checkpoint("native", index)
        head = {
            "format": FORMAT,
            "version": VERSION,
            "conversation": {
                "id": conv.id,
                "platform": conv.platform,
                "thread_id": conv.thread_id,
                "kind": conv.kind,
                "title": conv.title,
                "labels": conv.labels,
                "source_ids": conv.source_ids,
            },
            "participants": [
                {
                    "id": p.id,
                    "platform_id": p.platform_id,
                    "display_name": p.name,
                    "handle": p.handle,
                    "is_owner": p.is_owner,
                }
                for p in conv.participants
            ],
        }
        with ctx.zip.entry(f"{PREFIX}{conv.id}.json") as out:
            out.text(json.dumps(head, ensure_ascii=False)[:-1] + ', "messages": [\n')
            first = True
            for msg in ctx.messages(conv):
                out.text(("" if first else ",\n") + json.dumps(_message(ctx, msg), ensure_ascii=False))
                first = False
            out.text("\n]}\n")


# -- reading back ------------------------------------------------------------------------------


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _opener(zf: zipfile.ZipFile | None, root: Path | None, name: str) -> Any:
    if zf is not None:
        return lambda: zf.open(name)
    assert root is not None
    return lambda: (root / name).open("rb")


def _messages(open_file: Any, zf: zipfile.ZipFile | None, root: Path | None) -> Iterator[ParsedMessage]:
    with open_file() as fh:
        for m in ijson.items(fh, "messages.item", use_float=True):
            sent = _dt(m["sent_at"])
            assert sent is not None
            yield ParsedMessage(
                sent_at=sent,
                raw_timestamp=m.get("raw_timestamp", ""),
                sender_id=m.get("sender_id"),
                text=m.get("text", ""),
                kind=MessageKind(m.get("kind", "text")),
                platform_message_id=m.get("platform_message_id", ""),
                reply_to=m.get("reply_to", ""),
                reactions=[
                    ParsedReaction(str(r[0]), str(r[1]), _dt(r[2]) if len(r) > 2 else None)
                    for r in m.get("reactions", [])
                ],
                edited=bool(m.get("edited")),
                previous_versions=list(m.get("previous_versions", [])),
                deleted=bool(m.get("deleted")),
                share_url=m.get("share_url", ""),
                call_duration_s=int(m["call_duration_s"]) if m.get("call_duration_s") is not None else None,
                attachments=[
                    ParsedAttachment(
                        name=a.get("name", ""),
                        content_type=a.get("content_type", ""),
                        uri=a.get("uri", ""),
                        size=int(a["size"]) if a.get("size") is not None else None,
                        open=_opener(zf, root, a["file"]) if a.get("file") else None,
                    )
                    for a in m.get("attachments", [])
                ],
            )


def _conversation(open_file: Any, zf: zipfile.ZipFile | None, root: Path | None) -> ParsedConversation:
    head = _header(open_file)
    if head.get("format") != FORMAT or head.get("version") != VERSION:
        raise ValueError("not a DMVault native export file")
    conv = head["conversation"]
    return ParsedConversation(
        platform=conv["platform"],
        thread_id=conv["thread_id"],
        kind=ConversationKind(conv["kind"]),
        title=conv.get("title", ""),
        participants=[
            ParsedParticipant(
                platform_id=p["platform_id"],
                display_name=p.get("display_name", ""),
                handle=p.get("handle", ""),
                is_owner=bool(p.get("is_owner")),
            )
            for p in head.get("participants", [])
        ],
        messages=_messages(open_file, zf, root),
        labels=list(conv.get("labels", [])),
    )


def _header(open_file: Any) -> dict[str, Any]:
    """Everything before ``messages`` (the writer puts it first), without reading the messages."""
    builder = ijson.ObjectBuilder()
    with open_file() as fh:
        for prefix, event, value in ijson.parse(fh, use_float=True):
            if prefix == "" and event == "map_key" and value == "messages":
                break
            builder.event(event, value)
    builder.event("end_map", None)
    head: dict[str, Any] = builder.value
    return head


def read_native(path: str | Path | IO[bytes]) -> Iterator[ParsedConversation]:
    """The conversations of a production zip (its ``native/`` files) or of a folder holding
    ``native/*.json``, as importer dataclasses. Attachment bytes are opened lazily."""
    if isinstance(path, (str, Path)) and Path(path).is_dir():
        root = Path(path)
        for file in sorted((root / "native").glob("*.json")):
            rel = file.relative_to(root).as_posix()
            yield _conversation(_opener(None, root, rel), None, root)
        return
    zf = zipfile.ZipFile(path)
    names = sorted(n for n in zf.namelist() if n.startswith(PREFIX) and n.endswith(".json"))
    for name in names:
        yield _conversation(_opener(zf, None, name), zf, None)

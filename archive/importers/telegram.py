"""Telegram Desktop JSON importer (``result.json``).

Two shapes: a single-chat export (the file *is* the chat: ``name``, ``type``, ``id``,
``messages``) and a full-account export (``personal_information`` + ``chats.list[]`` +
``left_chats.list[]``). The file is walked as an ijson event stream; each message object is
built on its own, so memory holds one chat's parsed messages at most, never the JSON tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import IO, Any, ClassVar

import ijson

from archive.importers.base import (
    CompletenessNote,
    ConversationKind,
    ExportError,
    ExportTreeLike,
    MessageKind,
    ParsedAttachment,
    ParsedConversation,
    ParsedMessage,
    ParsedParticipant,
    ParsedReaction,
)

_JSON_ERRORS: tuple[type[BaseException], ...] = (ijson.JSONError, UnicodeDecodeError, ValueError)

# Chat containers: (prefix of one chat object, label given to its conversations).
_CHAT_PREFIXES = {"chats.list.item": "", "left_chats.list.item": "left"}
_DIRECT_TYPES = {"personal_chat", "bot_chat", "saved_messages", "replies"}
_CHANNEL_TYPES = {"private_channel", "public_channel"}
_CALL_ACTIONS = {"phone_call", "group_call"}
_MEDIA_KINDS = {"sticker": MessageKind.STICKER}
_TITLES = {"saved_messages": "Saved Messages", "replies": "Replies"}


@dataclass(slots=True)
class _Chat:
    label: str
    index: int
    meta: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[datetime, int, ParsedMessage]] = field(default_factory=list)
    people: dict[str, ParsedParticipant] = field(default_factory=dict)


def _build(first_event: str, first_value: Any, events: Iterator[tuple[str, str, Any]]) -> Any:
    """Build one JSON value from the event stream, starting at an already-read event."""
    builder = ijson.ObjectBuilder()
    builder.event(first_event, first_value)
    depth = 1 if first_event in ("start_map", "start_array") else 0
    while depth:
        _, event, value = next(events)
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
    return builder.value


def _join_text(value: Any) -> str:
    """``text`` is a string, or a list mixing strings and entity objects ``{type, text, ...}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts: list[str] = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                parts.append(str(part.get("text", "")))
        return "".join(parts)
    return ""


def _from_unix(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _from_iso(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    # ``date`` is the exporting machine's local time without offset; UTC is the only honest guess.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_placeholder(path: str) -> bool:
    # "(File not included. Change data exporting settings to download.)" and friends.
    return path.startswith("(") and path.endswith(")")


class TelegramImporter:
    platform: ClassVar[str] = "telegram"
    label: ClassVar[str] = "Telegram"

    def detect(self, export: ExportTreeLike) -> int:
        best = 0
        for name in _candidates(export):
            score = 50 if PurePosixPath(name).name == "result.json" else 10
            try:
                with export.open(name) as fh:
                    head = fh.read(4096)
            except (OSError, ExportError):
                continue
            if (
                b'"personal_information"' in head
                or b'"chats"' in head
                or (
                    b'"messages"' in head
                    and (
                        b'"personal_chat"' in head
                        or b'_group"' in head
                        or b'"date_unixtime"' in head
                        or b'_channel"' in head
                        or b'"saved_messages"' in head
                    )
                )
            ):
                score += 40
            elif b'"guild"' in head or b'"ChatHistory"' in head:
                score = 0
            best = max(best, score if score > 10 else 0)
        return min(best, 95)

    def completeness(self) -> list[CompletenessNote]:
        return [
            CompletenessNote(
                "media-optional",
                "Media are present only if chosen in the export settings; "
                "otherwise a placeholder names the omitted file.",
            ),
            CompletenessNote("current-names", "Sender names are the names at export time; ids are stable."),
            CompletenessNote(
                "local-date",
                "Old exports without date_unixtime give local times with no zone (taken as UTC).",
            ),
            CompletenessNote("no-edit-history", "Edited messages keep only their latest text."),
        ]

    def parse(self, export: ExportTreeLike, *, owner_hint: str = "") -> Iterator[ParsedConversation]:
        members = _candidates(export)
        if not members:
            raise ExportError("no Telegram result.json in the export")
        for member in members:
            base = str(PurePosixPath(member).parent)
            base = "" if base == "." else base + "/"
            try:
                with export.open(member) as fh:
                    yield from self._walk(fh, export, member, base, owner_hint)
            except _JSON_ERRORS as exc:
                raise ExportError(f"malformed JSON ({type(exc).__name__})", file=member) from None
            except StopIteration:
                raise ExportError("JSON ends early", file=member) from None

    def _walk(
        self, fh: IO[bytes], export: ExportTreeLike, member: str, base: str, owner_hint: str
    ) -> Iterator[ParsedConversation]:
        events = iter(ijson.parse(fh, use_float=True))
        owner = owner_hint.strip()
        top = _Chat(label="", index=0)  # used when the file is a single chat
        top_is_chat = False
        chat: _Chat | None = None
        count = 0
        for prefix, event, value in events:
            if prefix == "personal_information" and event == "start_map":
                info = _build(event, value, events)
                if not owner and isinstance(info, dict) and info.get("user_id") is not None:
                    owner = f"user{info['user_id']}"
                continue
            if prefix in _CHAT_PREFIXES and event == "start_map":
                count += 1
                chat = _Chat(label=_CHAT_PREFIXES[prefix], index=count)
                continue
            if prefix in _CHAT_PREFIXES and event == "end_map" and chat is not None:
                yield self._conversation(chat, owner, member)
                chat = None
                continue
            if chat is not None:
                inner = prefix.split(".", 3)[3] if prefix.count(".") >= 3 else ""
                target = chat
            else:
                inner = prefix
                target = top
            if inner == "messages.item" and event == "start_map":
                raw = _build(event, value, events)
                if chat is None:
                    top_is_chat = True
                self._add(target, raw, export, member, base)
            elif chat is None and prefix == "messages" and event == "start_array":
                top_is_chat = True  # a single-chat export, possibly with no messages
            elif inner in ("name", "type", "id") and event in ("string", "number"):
                target.meta[inner] = value
            elif prefix == "" and event == "end_map" and top_is_chat:
                yield self._conversation(top, owner, member)

    def _add(self, chat: _Chat, raw: Any, export: ExportTreeLike, member: str, base: str) -> None:
        if not isinstance(raw, dict):
            return
        sent_at = _from_unix(raw.get("date_unixtime")) if raw.get("date_unixtime") is not None else None
        raw_ts = str(raw.get("date_unixtime") or "")
        if sent_at is None:
            sent_at = _from_iso(raw.get("date"))
            raw_ts = str(raw.get("date") or "")
        if sent_at is None:
            raise ExportError("a message has no readable date", file=member)
        is_service = raw.get("type") == "service"
        sender_key = "actor" if is_service else "from"
        sender_id = raw.get(f"{sender_key}_id") or raw.get(sender_key)
        sender = str(sender_id) if sender_id not in (None, "") else None
        if sender is not None and sender not in chat.people:
            name = raw.get(sender_key)
            chat.people[sender] = ParsedParticipant(platform_id=sender, display_name=str(name or ""))
        message = ParsedMessage(
            sent_at=sent_at,
            raw_timestamp=raw_ts,
            sender_id=sender,
            text=_join_text(raw.get("text")),
            platform_message_id=str(raw.get("id", "")),
            reply_to=str(raw.get("reply_to_message_id") or ""),
            edited="edited" in raw or "edited_unixtime" in raw,
        )
        if is_service:
            action = str(raw.get("action", ""))
            if action in _CALL_ACTIONS:
                message.kind = MessageKind.CALL
                duration = raw.get("duration_seconds") or raw.get("duration")
                message.call_duration_s = duration if isinstance(duration, int) else None
            else:
                message.kind = MessageKind.SYSTEM
            if not message.text:
                message.text = action.replace("_", " ")
        elif raw.get("type") not in (None, "message"):
            message.kind = MessageKind.UNKNOWN
        self._media(message, raw, export, base)
        for reaction in _as_list(raw.get("reactions")):
            if not isinstance(reaction, dict):
                continue
            emoji = str(reaction.get("emoji") or reaction.get("document_id") or reaction.get("type") or "")
            for recent in _as_list(reaction.get("recent")):
                if isinstance(recent, dict):
                    actor = str(recent.get("from_id") or recent.get("from") or "")
                    if actor and actor not in chat.people:  # reactors are chat members too
                        chat.people[actor] = ParsedParticipant(
                            platform_id=actor, display_name=str(recent.get("from") or "")
                        )
                    when = (
                        _from_unix(recent["date_unixtime"])
                        if "date_unixtime" in recent
                        else _from_iso(recent.get("date"))
                    )
                    message.reactions.append(ParsedReaction(actor_id=actor, reaction=emoji, timestamp=when))
        chat.rows.append((sent_at, len(chat.rows), message))

    def _media(self, message: ParsedMessage, raw: dict[str, Any], export: ExportTreeLike, base: str) -> None:
        names = None
        for key in ("photo", "file"):
            path = raw.get(key)
            if not isinstance(path, str) or not path:
                continue
            if names is None:
                names = set(export.names())
            size = raw.get(f"{key}_size") or raw.get(f"{key}_file_size")
            att = ParsedAttachment(
                name=str(raw.get("file_name") or "") if key == "file" else "",
                content_type=str(raw.get("mime_type") or ("image/jpeg" if key == "photo" else "")),
                size=int(size) if isinstance(size, int) else None,
            )
            if not _is_placeholder(path):
                member = base + path
                att.name = att.name or PurePosixPath(path).name
                att.uri = member
                if member in names:

                    def opener(m: str = member) -> IO[bytes]:
                        return export.open(m)

                    att.open = opener
                    att.size = export.size(member)
            else:
                att.name = att.name or key
            message.attachments.append(att)
        media_type = str(raw.get("media_type") or "")
        if media_type in _MEDIA_KINDS:
            message.kind = _MEDIA_KINDS[media_type]
        elif "poll" in raw:
            message.kind = MessageKind.POLL
            poll = raw["poll"] if isinstance(raw["poll"], dict) else {}
            message.text = message.text or str(poll.get("question", ""))
        elif "location_information" in raw:
            message.kind = MessageKind.LOCATION
            loc = raw["location_information"] if isinstance(raw["location_information"], dict) else {}
            if "latitude" in loc and "longitude" in loc:
                message.share_url = f"geo:{loc['latitude']},{loc['longitude']}"
        elif message.attachments and not message.text and message.kind == MessageKind.TEXT:
            message.kind = MessageKind.MEDIA

    def _conversation(self, chat: _Chat, owner: str, member: str) -> ParsedConversation:
        chat_type = str(chat.meta.get("type", ""))
        if chat_type in _DIRECT_TYPES:
            kind = ConversationKind.DIRECT
        elif chat_type in _CHANNEL_TYPES:
            kind = ConversationKind.CHANNEL
        elif chat_type:
            kind = ConversationKind.GROUP
        else:
            kind = ConversationKind.GROUP if len(chat.people) > 2 else ConversationKind.DIRECT
        people = [
            ParsedParticipant(
                p.platform_id, p.display_name, p.handle, is_owner=bool(owner) and p.platform_id == owner
            )
            for p in chat.people.values()
        ]
        if owner and not any(p.is_owner for p in people):
            people.insert(0, ParsedParticipant(platform_id=owner, is_owner=True))
        chat_id = chat.meta.get("id")
        title = str(chat.meta.get("name") or _TITLES.get(chat_type, "") or "")
        thread_id = (
            str(chat_id) if chat_id is not None else (title or f"{PurePosixPath(member).name}#{chat.index}")
        )
        chat.rows.sort(key=lambda r: (r[0], r[1]))
        return ParsedConversation(
            platform=self.platform,
            thread_id=thread_id,
            kind=kind,
            title=title or thread_id,
            participants=people,
            messages=iter([r[2] for r in chat.rows]),
            labels=[chat.label] if chat.label else [],
        )


def _candidates(export: ExportTreeLike) -> list[str]:
    names = [n for n in export.names() if n.lower().endswith(".json")]
    results = [n for n in names if PurePosixPath(n).name == "result.json"]
    return sorted(results or names)

"""Discord importer: the official data package and DiscordChatExporter (DCE) JSON.

* Official package (``package.zip``): ``messages/index.json`` ({channel id: label}),
  ``messages/c<id>/channel.json`` and ``messages.csv`` (before ≈2024: ``ID,Timestamp,Contents,
  Attachments``) or ``messages.json`` (after), ``account/user.json`` for the owner. It holds
  **only the owner's own messages**. Late-2025 packages capitalise folders (``Messages/``), so
  paths are matched case-insensitively.
* DCE JSON: ``{"guild", "channel", "messages": [...]}`` per channel, ISO timestamps with offsets,
  authors, reactions, attachments, replies via ``reference``.

JSON is streamed with ijson and CSV with the csv module; one channel is held at a time.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
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
_PKG_CHANNEL = re.compile(
    r"^(?P<root>(?:.*/)?)messages/c?(?P<id>\d+)/(?P<file>channel\.json|messages\.csv|messages\.json)$", re.I
)
MAX_FIELD = 1024 * 1024

# DCE channel types; anything else (GuildTextChat, GuildNewsThread, ...) is a server channel.
_DCE_KINDS = {"DirectTextChat": ConversationKind.DIRECT, "DirectGroupTextChat": ConversationKind.GROUP}
# Package channel.json "type": Discord API channel types (1 = DM, 3 = group DM).
_API_KINDS: dict[int | str, ConversationKind] = {
    1: ConversationKind.DIRECT,
    3: ConversationKind.GROUP,
    "DM": ConversationKind.DIRECT,
    "GROUP_DM": ConversationKind.GROUP,
}
_TEXT_TYPES = {"Default", "Reply", "ThreadStarterMessage", "ChatInputCommand", "ContextMenuCommand", ""}


def _parse_iso(value: Any, file: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ExportError("unreadable timestamp", file=file) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _build(first_event: str, first_value: Any, events: Iterator[tuple[str, str, Any]]) -> Any:
    """Build one JSON value from the ijson event stream, starting at an already-read event."""
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


def _read_json(export: ExportTreeLike, member: str) -> Any:
    """A small JSON member (index.json, channel.json, user.json) read whole."""
    try:
        with export.open(member) as fh:
            for value in ijson.items(fh, "", use_float=True):
                return value
    except _JSON_ERRORS as exc:
        raise ExportError(f"malformed JSON ({type(exc).__name__})", file=member) from None
    raise ExportError("empty JSON file", file=member)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class DiscordImporter:
    platform: ClassVar[str] = "discord"
    label: ClassVar[str] = "Discord"

    def detect(self, export: ExportTreeLike) -> int:
        names = export.names()
        if any(_PKG_CHANNEL.match(n) for n in names):
            return 90
        best = 0
        for name in (n for n in names if n.lower().endswith(".json")):
            try:
                with export.open(name) as fh:
                    head = fh.read(2048)
            except (OSError, ExportError):
                continue
            if b'"guild"' in head and b'"channel"' in head:
                best = 90
                break
        return best

    def completeness(self) -> list[CompletenessNote]:
        return [
            CompletenessNote(
                "owner-only",
                "A Discord data package holds only the owner's own messages; the "
                "other side of every conversation is missing.",
            ),
            CompletenessNote(
                "attachments-links",
                "Attachments are CDN links unless DiscordChatExporter downloaded the assets.",
            ),
            CompletenessNote(
                "reaction-counts",
                "Older DiscordChatExporter files give reaction counts without "
                "who reacted; those reactions cannot be attributed and are not imported.",
            ),
            CompletenessNote("no-edit-history", "Edited messages keep only their latest text."),
        ]

    def parse(self, export: ExportTreeLike, *, owner_hint: str = "") -> Iterator[ParsedConversation]:
        names = export.names()
        package: dict[tuple[str, str], dict[str, str]] = {}
        for name in names:
            match = _PKG_CHANNEL.match(name)
            if match:
                package.setdefault((match["root"], match["id"]), {})[match["file"].lower()] = name
        if package:
            yield from self._package(export, names, package, owner_hint)
            return
        dce = [n for n in names if n.lower().endswith(".json")]
        if not dce:
            raise ExportError("no Discord data package or DiscordChatExporter JSON in the export")
        for member in sorted(dce):
            yield from self._dce(export, member, owner_hint)

    # -- official data package -------------------------------------------------------------
    def _package(
        self,
        export: ExportTreeLike,
        names: list[str],
        package: dict[tuple[str, str], dict[str, str]],
        owner_hint: str,
    ) -> Iterator[ParsedConversation]:
        lower = {n.lower(): n for n in names}
        owner = ParsedParticipant(platform_id=owner_hint.strip() or "owner", is_owner=True)
        labels: dict[str, str] = {}
        for root in sorted({r for r, _ in package}):
            user_member = lower.get(f"{root}account/user.json".lower())
            if user_member:
                user = _dict(_read_json(export, user_member))
                if user.get("id"):
                    owner = ParsedParticipant(
                        platform_id=str(user["id"]),
                        display_name=str(user.get("global_name") or user.get("username") or ""),
                        handle=str(user.get("username") or ""),
                        is_owner=True,
                    )
            index_member = lower.get(f"{root}messages/index.json".lower())
            if index_member:
                labels.update(
                    {str(k): str(v) for k, v in _dict(_read_json(export, index_member)).items() if v}
                )
        for (_root, channel_id), files in sorted(package.items()):
            channel = _dict(_read_json(export, files["channel.json"])) if "channel.json" in files else {}
            api_type = channel.get("type")
            kind = (
                _API_KINDS.get(api_type, ConversationKind.CHANNEL)
                if isinstance(api_type, int | str)
                else (ConversationKind.CHANNEL)
            )
            people = [owner]
            for rid in _list(channel.get("recipients")):
                rid_text = str(rid.get("id") if isinstance(rid, dict) else rid)
                if rid_text and rid_text != owner.platform_id:
                    people.append(ParsedParticipant(platform_id=rid_text))
            guild = _dict(channel.get("guild"))
            title = labels.get(channel_id) or str(channel.get("name") or "")
            if not title:
                title = (
                    f"{channel.get('name', '')} in {guild.get('name')}" if guild.get("name") else channel_id
                )
            if "messages.json" in files:
                rows = self._package_json(export, files["messages.json"], owner.platform_id)
            elif "messages.csv" in files:
                rows = self._package_csv(export, files["messages.csv"], owner.platform_id)
            else:
                rows = []
            rows.sort(key=lambda r: (r[0], r[1]))
            yield ParsedConversation(
                platform=self.platform,
                thread_id=str(channel.get("id") or channel_id),
                kind=kind,
                title=title,
                participants=people,
                messages=iter([r[2] for r in rows]),
            )

    def _package_message(
        self,
        index: int,
        msg_id: Any,
        timestamp: Any,
        contents: Any,
        attachments: Any,
        owner_id: str,
        file: str,
    ) -> tuple[datetime, int, ParsedMessage]:
        sent_at = _parse_iso(timestamp, file)
        message = ParsedMessage(
            sent_at=sent_at,
            raw_timestamp=str(timestamp),
            sender_id=owner_id,
            text=str(contents or ""),
            platform_message_id=str(msg_id or ""),
        )
        # Several URLs in one cell: whitespace-separated in the packages seen by third-party tools.
        for url in str(attachments or "").split():
            name = PurePosixPath(url.split("?", 1)[0]).name or url
            message.attachments.append(ParsedAttachment(name=name, uri=url))
        if message.attachments and not message.text:
            message.kind = MessageKind.MEDIA
        return sent_at, index, message

    def _package_json(
        self, export: ExportTreeLike, member: str, owner_id: str
    ) -> list[tuple[datetime, int, ParsedMessage]]:
        rows = []
        try:
            with export.open(member) as fh:
                for index, raw in enumerate(ijson.items(fh, "item", use_float=True)):
                    raw = _dict(raw)
                    rows.append(
                        self._package_message(
                            index,
                            raw.get("ID"),
                            raw.get("Timestamp"),
                            raw.get("Contents"),
                            raw.get("Attachments"),
                            owner_id,
                            member,
                        )
                    )
        except _JSON_ERRORS as exc:
            raise ExportError(f"malformed JSON ({type(exc).__name__})", file=member) from None
        return rows

    def _package_csv(
        self, export: ExportTreeLike, member: str, owner_id: str
    ) -> list[tuple[datetime, int, ParsedMessage]]:
        rows: list[tuple[datetime, int, ParsedMessage]] = []
        csv.field_size_limit(MAX_FIELD)
        text = io.TextIOWrapper(export.open(member), encoding="utf-8-sig", newline="")
        reader = csv.reader(text, strict=True)
        try:
            with text:
                header = next(reader, None)
                if header is None:
                    return rows
                cols = {h.strip().lower(): i for i, h in enumerate(header)}
                if "timestamp" not in cols:
                    raise ExportError("messages.csv lacks the Timestamp column", file=member, line=1)

                def get(row: list[str], name: str) -> str:
                    i = cols.get(name)
                    return row[i] if i is not None and i < len(row) else ""

                for index, row in enumerate(reader):
                    if not any(row):
                        continue
                    try:
                        rows.append(
                            self._package_message(
                                index,
                                get(row, "id"),
                                get(row, "timestamp"),
                                get(row, "contents"),
                                get(row, "attachments"),
                                owner_id,
                                member,
                            )
                        )
                    except ExportError as exc:
                        raise ExportError("unreadable Timestamp", file=member, line=reader.line_num) from exc
        except csv.Error as exc:
            raise ExportError(f"malformed CSV ({exc})", file=member, line=reader.line_num) from None
        except UnicodeDecodeError:
            raise ExportError(
                "messages.csv is not valid UTF-8", file=member, line=reader.line_num + 1
            ) from None
        return rows

    # -- DiscordChatExporter JSON ----------------------------------------------------------
    def _dce(self, export: ExportTreeLike, member: str, owner_hint: str) -> Iterator[ParsedConversation]:
        guild: dict[str, Any] = {}
        channel: dict[str, Any] = {}
        people: dict[str, ParsedParticipant] = {}
        rows: list[tuple[datetime, int, ParsedMessage]] = []
        seen_messages = False
        base = str(PurePosixPath(member).parent)
        base = "" if base == "." else base + "/"
        names: set[str] | None = None
        try:
            with export.open(member) as fh:
                events = iter(ijson.parse(fh, use_float=True))
                for prefix, event, value in events:
                    if prefix == "guild" and event == "start_map":
                        guild = _dict(_build(event, value, events))
                    elif prefix == "channel" and event == "start_map":
                        channel = _dict(_build(event, value, events))
                    elif prefix == "messages" and event == "start_array":
                        seen_messages = True
                    elif prefix == "messages.item" and event == "start_map":
                        raw = _dict(_build(event, value, events))
                        if names is None:
                            names = set(export.names())
                        rows.append(
                            self._dce_message(raw, len(rows), people, owner_hint, export, base, names, member)
                        )
        except _JSON_ERRORS as exc:
            raise ExportError(f"malformed JSON ({type(exc).__name__})", file=member) from None
        except StopIteration:
            raise ExportError("JSON ends early", file=member) from None
        if not seen_messages or not channel:
            return  # not a DCE file (some other JSON in the folder)
        rows.sort(key=lambda r: (r[0], r[1]))
        kind = _DCE_KINDS.get(str(channel.get("type", "")), ConversationKind.CHANNEL)
        name = str(channel.get("name") or channel.get("id") or PurePosixPath(member).stem)
        title = (
            name if kind != ConversationKind.CHANNEL or not guild.get("name") else f"{guild['name']} / {name}"
        )
        yield ParsedConversation(
            platform=self.platform,
            thread_id=str(channel.get("id") or PurePosixPath(member).stem),
            kind=kind,
            title=title,
            participants=list(people.values()),
            messages=iter([r[2] for r in rows]),
        )

    def _dce_message(
        self,
        raw: dict[str, Any],
        index: int,
        people: dict[str, ParsedParticipant],
        owner_hint: str,
        export: ExportTreeLike,
        base: str,
        names: set[str],
        member: str,
    ) -> tuple[datetime, int, ParsedMessage]:
        author = _dict(raw.get("author"))
        author_id = str(author.get("id") or author.get("name") or "")
        if author_id and author_id not in people:
            handle = str(author.get("name") or "")
            hint = owner_hint.strip()
            people[author_id] = ParsedParticipant(
                platform_id=author_id,
                display_name=str(author.get("nickname") or handle),
                handle=handle,
                is_owner=bool(hint) and hint in (author_id, handle),
            )
        raw_ts = str(raw.get("timestamp") or "")
        sent_at = _parse_iso(raw_ts, member)
        msg_type = str(raw.get("type") or "")
        message = ParsedMessage(
            sent_at=sent_at,
            raw_timestamp=raw_ts,
            sender_id=author_id or None,
            text=str(raw.get("content") or ""),
            platform_message_id=str(raw.get("id") or ""),
            reply_to=str(_dict(raw.get("reference")).get("messageId") or ""),
            edited=bool(raw.get("timestampEdited")),
        )
        if msg_type == "Call":
            message.kind = MessageKind.CALL
            if raw.get("callEndedTimestamp"):
                ended = _parse_iso(raw["callEndedTimestamp"], member)
                message.call_duration_s = max(0, int((ended - sent_at).total_seconds()))
        elif msg_type not in _TEXT_TYPES:
            message.kind = MessageKind.SYSTEM  # pins, renames, joins...: content is DCE's English fallback
        for reaction in _list(raw.get("reactions")):
            emoji = _dict(_dict(reaction).get("emoji"))
            label = str(emoji.get("name") or "")
            if emoji.get("id"):
                label = f":{label}:"  # a custom emoji: its name is all the text there is
            for user in _list(_dict(reaction).get("users")):
                uid = str(_dict(user).get("id") or _dict(user).get("name") or "")
                if uid:
                    message.reactions.append(ParsedReaction(actor_id=uid, reaction=label))
        for att in _list(raw.get("attachments")):
            att = _dict(att)
            url = str(att.get("url") or "")
            size = att.get("fileSizeBytes")
            parsed = ParsedAttachment(
                name=str(att.get("fileName") or PurePosixPath(url.split("?", 1)[0]).name),
                uri=url,
                size=size if isinstance(size, int) else None,
            )
            local = base + url
            if url and "://" not in url and local in names:

                def opener(m: str = local) -> IO[bytes]:
                    return export.open(m)

                parsed.uri = local
                parsed.open = opener
            message.attachments.append(parsed)
        stickers = _list(raw.get("stickers"))
        if stickers and message.kind == MessageKind.TEXT:
            message.kind = MessageKind.STICKER
            for sticker in stickers:
                sticker = _dict(sticker)
                message.attachments.append(
                    ParsedAttachment(
                        name=str(sticker.get("name") or ""), uri=str(sticker.get("sourceUrl") or "")
                    )
                )
        elif message.attachments and not message.text and message.kind == MessageKind.TEXT:
            message.kind = MessageKind.MEDIA
        return sent_at, index, message

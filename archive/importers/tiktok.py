"""TikTok "Download your data" importer (``user_data_tiktok.json``, older ``user_data.json``).

DMs sit under ``Direct Message > Direct Messages > ChatHistory`` (2023+) or
``Direct Messages > Chat History > ChatHistory`` (older). ``ChatHistory`` maps
``"Chat History with <user>:"`` to a list of ``{Date, From, Content}``. The file also holds the
whole rest of the account (videos, ads, logins...), so it is streamed with ijson and only one
chat at a time is built. Media is never exported: shared videos and GIFs are links.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, ClassVar

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
)

MEMBERS = ("user_data_tiktok.json", "user_data.json")
CHAT_PREFIXES = (
    "Direct Message.Direct Messages.ChatHistory",  # 2023+
    "Direct Messages.Chat History.ChatHistory",  # ≤ 2022
)
OWNER_PREFIXES = (
    "Profile.Profile Info.ProfileMap.userName",
    "Profile.Profile Information.ProfileMap.userName",
)
_CHAT_KEY = re.compile(r"^Chat History with (?P<name>.*?):?$", re.S)
_GROUP = re.compile(r"^Group_Chat_")
_URL = re.compile(r"https?://\S+")
UNKNOWN_ID = "(unknown account)"

# ijson reports malformed JSON with its own exceptions; bad bytes surface as UnicodeDecodeError.
_JSON_ERRORS: tuple[type[BaseException], ...] = (ijson.JSONError, UnicodeDecodeError, ValueError)


def _parse_date(value: Any, member: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ExportError("unreadable chat message Date", file=member) from None
    # TikTok writes naive "YYYY-MM-DD HH:MM:SS"; it is documented/assumed to be UTC.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _content(message: ParsedMessage, text: str) -> None:
    """TikTok puts media in the text as links: '[https://media.tenor.com/...]' GIFs, shared videos."""
    stripped = text.strip()
    gif = re.fullmatch(r"\[(https?://\S+)\]", stripped)
    if gif:
        url = gif.group(1)
        message.attachments.append(ParsedAttachment(name=_url_name(url), content_type="image/gif", uri=url))
        message.kind = MessageKind.MEDIA
        return
    if _URL.fullmatch(stripped):
        message.share_url = stripped
        message.kind = MessageKind.SHARE
        if "/share/video/" in stripped or "/video/" in stripped:
            message.attachments.append(
                ParsedAttachment(name=_url_name(stripped), content_type="video/*", uri=stripped)
            )


def _url_name(url: str) -> str:
    path = url.split("?", 1)[0].rstrip("/")
    return PurePosixPath(path).name or url


class TikTokImporter:
    platform: ClassVar[str] = "tiktok"
    label: ClassVar[str] = "TikTok"

    def detect(self, export: ExportTreeLike) -> int:
        member = _find_member(export)
        if member is None:
            return 0
        try:
            with export.open(member) as fh:
                head = fh.read(65536)
        except (OSError, ExportError):
            return 20
        if b'"Direct Message' in head or b'"Profile"' in head or b'"Activity"' in head:
            return 90
        return 60

    def completeness(self) -> list[CompletenessNote]:
        return [
            CompletenessNote(
                "media-links-only",
                "TikTok exports no media files: shared videos, GIFs and profiles appear only as links.",
            ),
            CompletenessNote("no-ids", "Messages have no ids, reactions, replies or read state."),
            CompletenessNote("no-timezone", "Dates carry no zone; they are taken as UTC."),
            CompletenessNote(
                "usernames-only",
                "People are identified only by their username at export time; "
                "deleted accounts appear with an empty name.",
            ),
        ]

    def parse(self, export: ExportTreeLike, *, owner_hint: str = "") -> Iterator[ParsedConversation]:
        member = _find_member(export)
        if member is None:
            raise ExportError("no user_data_tiktok.json / user_data.json in the export")
        owner = owner_hint.strip() or self._owner(export, member)
        for prefix in CHAT_PREFIXES:
            try:
                with export.open(member) as fh:
                    for key, value in ijson.kvitems(fh, prefix, use_float=True):
                        yield self._conversation(str(key), value, owner, member)
            except _JSON_ERRORS as exc:
                raise ExportError(f"malformed JSON ({type(exc).__name__})", file=member) from None

    def _owner(self, export: ExportTreeLike, member: str) -> str:
        """Profile > Profile Info > ProfileMap.userName, found in one streaming pass.

        DM-only excerpts have no Profile; then the account holder is the one sender present in
        more chats than anyone else (they are in every chat they replied to)."""
        chats_by_sender: dict[str, set[str]] = {}
        try:
            with export.open(member) as fh:
                for prefix, event, value in ijson.parse(fh):
                    if event != "string":
                        continue
                    if prefix in OWNER_PREFIXES:
                        return str(value)
                    if value and prefix.endswith(".item.From") and prefix.startswith(CHAT_PREFIXES):
                        chats_by_sender.setdefault(str(value), set()).add(prefix)
        except _JSON_ERRORS as exc:
            raise ExportError(f"malformed JSON ({type(exc).__name__})", file=member) from None
        counts = sorted(((len(c), s) for s, c in chats_by_sender.items()), reverse=True)
        if counts and counts[0][0] >= 2 and (len(counts) == 1 or counts[1][0] < counts[0][0]):
            return counts[0][1]
        return ""

    def _conversation(self, key: str, value: Any, owner: str, member: str) -> ParsedConversation:
        match = _CHAT_KEY.match(key)
        other = (match.group("name") if match else key).strip()
        if not isinstance(value, list):
            raise ExportError("a chat history is not a list", file=member)
        people: dict[str, ParsedParticipant] = {}

        def person(name: str) -> str:
            pid = name or UNKNOWN_ID
            if pid not in people:
                people[pid] = ParsedParticipant(
                    platform_id=pid,
                    display_name=name or "(deleted or unknown account)",
                    handle=name,
                    is_owner=bool(owner) and name == owner,
                )
            return pid

        if owner:
            person(owner)
        is_group = bool(_GROUP.match(other))
        if not is_group:
            person(other)
        rows: list[tuple[datetime, int, ParsedMessage]] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            raw_date = str(item.get("Date", ""))
            sent_at = _parse_date(raw_date, member)
            sender = str(item.get("From") or "")
            message = ParsedMessage(
                sent_at=sent_at,
                raw_timestamp=raw_date,
                sender_id=person(sender),
                text=str(item.get("Content") or ""),
            )
            _content(message, message.text)
            rows.append((sent_at, index, message))
        # Chats come ascending or descending depending on the export; sort, file order breaks ties.
        rows.sort(key=lambda r: (r[0], r[1]))
        return ParsedConversation(
            platform=self.platform,
            thread_id=other or UNKNOWN_ID,
            kind=ConversationKind.GROUP if is_group else ConversationKind.DIRECT,
            title=other or "(deleted or unknown account)",
            participants=list(people.values()),
            messages=iter([r[2] for r in rows]),
        )


def _find_member(export: ExportTreeLike) -> str | None:
    names = export.names()
    for wanted in MEMBERS:
        matches = [n for n in names if PurePosixPath(n).name.lower() == wanted]
        if matches:
            return min(matches, key=lambda n: (n.count("/"), n))
    return None

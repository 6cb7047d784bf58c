"""The common shape every importer produces.

Importers turn an export's bytes into these plain dataclasses and nothing else: they know
nothing of the database, the vault or the network. The archive writer (``archive.writer``)
is the only consumer; it dedups, seals, indexes and stores what it is given.

Conversations are yielded one at a time and their messages are an iterator, so an importer
never has to hold a whole export in memory.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, ClassVar, Protocol


class MessageKind(enum.StrEnum):
    TEXT = "text"
    MEDIA = "media"  # a message that is only attachments
    SYSTEM = "system"  # joins, leaves, renames, "you are now connected"...
    CALL = "call"
    SHARE = "share"  # a shared link, post, story or reel
    STICKER = "sticker"
    POLL = "poll"
    LOCATION = "location"
    UNKNOWN = "unknown"


class ConversationKind(enum.StrEnum):
    DIRECT = "direct"  # 1:1
    GROUP = "group"
    CHANNEL = "channel"  # Slack/Discord channels: many readers, not a DM


@dataclass(frozen=True, slots=True)
class ParsedParticipant:
    """A platform identity. ``platform_id`` is the most stable key the export gives
    (a numeric user id where there is one, otherwise the handle or the display name)."""

    platform_id: str
    display_name: str = ""
    handle: str = ""
    is_owner: bool = False


@dataclass(frozen=True, slots=True)
class ParsedReaction:
    actor_id: str  # a ParsedParticipant.platform_id (or a display name when the export has no id)
    reaction: str
    timestamp: datetime | None = None


@dataclass(slots=True)
class ParsedAttachment:
    """A file referenced by a message. ``open`` returns the bytes when the export carries
    them (a member of the zip or folder); it is ``None`` when the export holds only a link
    or a name (e.g. TikTok media, WhatsApp exported "without media")."""

    name: str
    content_type: str = ""
    uri: str = ""  # path inside the export, or the platform URL
    size: int | None = None
    open: Callable[[], IO[bytes]] | None = None


@dataclass(slots=True)
class ParsedMessage:
    sent_at: datetime  # timezone-aware, UTC
    raw_timestamp: str  # the platform's own value, verbatim
    sender_id: str | None  # a ParsedParticipant.platform_id; None for platform system messages
    text: str = ""
    kind: MessageKind = MessageKind.TEXT
    platform_message_id: str = ""
    reply_to: str = ""  # platform_message_id of the message replied to
    reactions: list[ParsedReaction] = field(default_factory=list)
    edited: bool = False
    previous_versions: list[str] = field(default_factory=list)  # earlier texts, oldest first
    deleted: bool = False  # unsent / deleted for everyone / "This message was deleted"
    share_url: str = ""
    call_duration_s: int | None = None
    attachments: list[ParsedAttachment] = field(default_factory=list)


@dataclass(slots=True)
class ParsedConversation:
    platform: str
    thread_id: str  # the platform's id for the thread (or a stable derived one)
    kind: ConversationKind
    title: str
    participants: list[ParsedParticipant]
    messages: Iterable[ParsedMessage]
    labels: list[str] = field(default_factory=list)  # e.g. "inbox", "archived", "message_requests"


@dataclass(frozen=True, slots=True)
class CompletenessNote:
    """What the export format is known to leave out, shown with the source."""

    code: str
    text: str


class ExportError(Exception):
    """A clear, user-facing error about an export. Never carries message content.

    ``message`` is written by the importer and names no input value; ``file`` is the member's
    path inside the export, which can name a person (a Messenger thread folder, "WhatsApp Chat
    with …"), so ``archive.ingest`` keeps it only sealed and shows ``message`` and ``line``."""

    def __init__(self, message: str, *, file: str = "", line: int | None = None) -> None:
        self.reason = message
        self.file = file
        self.line = line
        where = file + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {message}" if where else message)


class Importer(Protocol):
    platform: ClassVar[str]
    label: ClassVar[str]

    def parse(self, export: ExportTreeLike, *, owner_hint: str = "") -> Iterator[ParsedConversation]: ...

    def completeness(self) -> list[CompletenessNote]: ...


class ExportTreeLike(Protocol):
    """Read-only view of an export (zip, folder or single file); see ``archive.importers.tree``."""

    def names(self) -> list[str]: ...

    def open(self, name: str) -> IO[bytes]: ...

    def size(self, name: str) -> int: ...

"""Shared reader for Meta's message downloads: Facebook Messenger and Instagram.

Both write the same thread schema (``participants`` / ``messages`` / ``title`` /
``thread_path``; messages with ``sender_name``, ``timestamp_ms``, ``content``, media lists,
``reactions``, ``share``, ``call_duration``, ``is_unsent``) with the same Latin-1 mojibake, in
``<root>/messages/<section>/<slug>_<id>/message_N.json`` files where ``message_1.json`` is the
newest and every file is newest-first. Messenger's end-to-end-encrypted "secure storage"
download has its own shape (``threadName``, ``senderName``, ``timestamp``, ``media``) and is
handled here too.

Reading happens in two streaming passes per thread (``ijson`` events, nothing held but
names): a first pass over every ``message_N.json`` collects the thread header and every sender
name, so the participant list is complete before the first message is yielded (people who
left a group appear only as senders). The second pass yields messages file by file from the
highest N (oldest) down, holding at most one file's messages (≤ 10 000) to reverse them.
Messages are chronological within a file and across files as Meta splits them; overlapping
files (never observed) would be yielded file by file, not merged.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
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
from archive.importers.textfix import fix_mojibake

SECTIONS: tuple[str, ...] = (
    "inbox",
    "archived_threads",
    "filtered_threads",
    "message_requests",
    "e2ee_cutover",
)
SECURE_STORAGE_LABEL = "secure_storage"

_THREAD_FILE = re.compile(r"^(?P<dir>(?:.*/)?)message_(?P<n>\d+)\.json$")
_HTML_THREAD_FILE = re.compile(r"(?:^|/)message_\d+\.html?$")
_BOM = b"\xef\xbb\xbf"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Media lists on a DYI message, with the attachment category each implies.
_MEDIA_KEYS: tuple[str, ...] = ("photos", "videos", "audio_files", "gifs", "files")
_FB_PATH_ROOTS = ("your_facebook_activity/messages/", "your_activity_across_facebook/messages/")
_IG_PATH_ROOTS = ("your_instagram_activity/messages/",)
HTML_VARIANT_MESSAGE = (
    "this is the HTML version of a Facebook/Instagram download, which cannot be imported; "
    "download your information again choosing the JSON format"
)


# --------------------------------------------------------------------------------------------
# Finding threads
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ThreadFiles:
    """One thread's files. ``dir`` is the thread folder inside the export ("" for a loose file)."""

    dir: str
    files: list[tuple[int, str]]  # (N, member), ascending N: message_1.json (newest) first
    section: str = ""
    secure_storage: bool = False  # Messenger end-to-end-encrypted download (one file per chat)


def _section_of(thread_dir: str) -> str:
    parts = [p for p in thread_dir.split("/") if p]
    return parts[-2] if len(parts) >= 2 and parts[-2] in SECTIONS else ""


def html_thread_files(names: list[str]) -> list[str]:
    return [n for n in names if _HTML_THREAD_FILE.search(n)]


def _looks_like_meta_thread(prefix: bytes) -> str:
    """'dyi', 'e2ee' or '' from the first bytes of a JSON file."""
    head = prefix[len(_BOM) :] if prefix.startswith(_BOM) else prefix
    if b'"participants"' not in head and b'"messages"' not in head:
        return ""
    if b'"threadName"' in head or b'"senderName"' in head:
        return "e2ee"
    if b'"sender_name"' in head or b'"timestamp_ms"' in head or b'"thread_path"' in head:
        return "dyi"
    return ""


def discover_threads(export: ExportTreeLike, *, sniff_limit: int = 200) -> list[ThreadFiles]:
    """Group ``message_N.json`` files by folder; failing that, sniff loose JSON files (a single
    thread file under another name, or the secure-storage download's ``<Name>_<n>.json``)."""
    names = export.names()
    groups: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        m = _THREAD_FILE.match(name)
        if m:
            groups.setdefault(m["dir"], []).append((int(m["n"]), name))
    threads = [
        ThreadFiles(dir=d, files=sorted(files), section=_section_of(d)) for d, files in sorted(groups.items())
    ]
    if threads:
        return threads
    sniffed = 0
    for name in names:
        if not name.lower().endswith(".json") or sniffed >= sniff_limit:
            continue
        sniffed += 1
        with export.open(name) as fh:
            kind = _looks_like_meta_thread(fh.read(64 * 1024))
        if kind:
            threads.append(ThreadFiles(dir="", files=[(1, name)], secure_storage=kind == "e2ee"))
    return threads


# --------------------------------------------------------------------------------------------
# Detection (shared by both importers so their scores are consistent)
# --------------------------------------------------------------------------------------------

_IG_CUES = (b"your_instagram_activity/", b"original_content_owner", b"ig.me/", b"profile_share_username")
_FB_CUES = (
    b"your_facebook_activity/",
    b"your_activity_across_facebook/",
    b"stickers_used/",
    b"messenger.com",
)


def meta_scores(export: ExportTreeLike) -> dict[str, int]:
    """Confidence that ``export`` is a Facebook or an Instagram message download."""
    names = export.names()
    fb = ig = 0
    if any(r in n for n in names for r in _IG_PATH_ROOTS):
        ig = 95
    if any(r in n for n in names for r in _FB_PATH_ROOTS):
        fb = 95
    if fb or ig:
        return {"facebook": fb, "instagram": ig}
    try:
        threads = discover_threads(export, sniff_limit=20)
    except ExportError:
        return {"facebook": 0, "instagram": 0}
    if not threads:
        return {"facebook": 0, "instagram": 0}
    first = threads[0]
    if first.secure_storage:
        # The end-to-end-encrypted download exists only for Messenger.
        return {"facebook": 85, "instagram": 0}
    with export.open(first.files[0][1]) as fh:
        head = fh.read(256 * 1024)
    if not _looks_like_meta_thread(head):
        return {"facebook": 0, "instagram": 0}
    # Same schema: decide on cues found in the file (media paths, Instagram-only share keys).
    ig_cues = sum(c in head for c in _IG_CUES)
    fb_cues = sum(c in head for c in _FB_CUES)
    fb, ig = 60 + 15 * fb_cues, 55 + 15 * ig_cues
    if head.count(b"instagram.com") > head.count(b"facebook.com"):
        ig += 5
    elif head.count(b"facebook.com") > head.count(b"instagram.com"):
        fb += 5
    return {"facebook": min(fb, 90), "instagram": min(ig, 90)}


# --------------------------------------------------------------------------------------------
# Streaming helpers
# --------------------------------------------------------------------------------------------


class _SniffingReader:
    """File-like wrapper for ijson: drops a leading UTF-8 BOM and records whether the file
    contains raw non-ASCII bytes (then it was re-saved as clean UTF-8 and must not be
    'repaired')."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._first = True
        self.non_ascii = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        # ijson probes with read(0) to learn bytes-vs-str; the BOM check waits for real data.
        if self._first and data:
            self._first = False
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
        if not self.non_ascii and not data.isascii():
            self.non_ascii = True
        return data


def _json_error(member: str, exc: Exception) -> ExportError:
    line = None
    match = re.search(r"line (\d+)", str(exc))
    if match:
        line = int(match.group(1))
    return ExportError(
        f"the file is not valid JSON (truncated, damaged or not UTF-8: {type(exc).__name__})",
        file=member,
        line=line,
    )


_PARSE_ERRORS = (ijson.JSONError, UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError)


def ms_to_datetime(value: Any, *, member: str, what: str = "timestamp_ms") -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ExportError(f"message has a missing or non-numeric {what}", file=member)
    try:
        ms = int(Decimal(str(value)))
        return _EPOCH + timedelta(milliseconds=ms)
    except (ArithmeticError, ValueError, OverflowError):
        raise ExportError(f"message has an out-of-range {what}", file=member) from None


def seconds_to_datetime(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        return _EPOCH + timedelta(seconds=int(value))
    except (ArithmeticError, ValueError, OverflowError):
        return None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------------------------
# Pass 1: thread header
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ThreadHeader:
    title: str = ""
    thread_path: str = ""
    thread_type: str = ""
    thread_name: str = ""  # secure storage
    participants: list[str] = field(default_factory=list)  # as listed by the newest file
    senders: list[str] = field(default_factory=list)  # every sender, first-seen order
    has_group_markers: bool = False  # joinable_mode / image: only groups have them
    secure_storage: bool = False
    clean_files: set[str] = field(default_factory=set)  # files with raw UTF-8 (no repair)


def _identity(text: str) -> str:
    return text


def scan_header(export: ExportTreeLike, thread: ThreadFiles) -> ThreadHeader:
    """Pass 1: the header of the newest file and every sender name of every file, repaired
    (the decision to repair is per file, known once the file has been read)."""
    header = ThreadHeader(secure_storage=thread.secure_storage)
    seen: set[str] = set()
    for n, member in thread.files:
        newest = n == thread.files[0][0]
        senders: list[str] = []
        fields: dict[str, str] = {}
        participants: list[str] = []
        raw = export.open(member)
        reader = _SniffingReader(raw)
        try:
            for prefix, event, value in ijson.parse(reader):
                if event == "string":
                    if prefix in ("messages.item.sender_name", "messages.item.senderName"):
                        senders.append(value)
                    elif not newest:
                        continue
                    elif prefix in ("participants.item.name", "participants.item"):
                        participants.append(value)
                    elif prefix in ("title", "thread_path", "thread_type", "threadName"):
                        fields[prefix] = value
                elif newest and event == "start_map" and prefix in ("joinable_mode", "image"):
                    header.has_group_markers = True
        except ExportError:
            raise
        except _PARSE_ERRORS as exc:
            raise _json_error(member, exc) from None
        finally:
            raw.close()
        if "threadName" in fields:
            header.secure_storage = True
        clean = reader.non_ascii or header.secure_storage
        if clean:
            header.clean_files.add(member)
        fix = _identity if clean else fix_mojibake
        for name in senders:
            name = fix(name)
            if name not in seen:
                seen.add(name)
                header.senders.append(name)
        if newest:
            header.participants = [fix(p) for p in participants]
            header.title = fix(fields.get("title", ""))
            header.thread_path = fix(fields.get("thread_path", ""))
            header.thread_type = fields.get("thread_type", "")
            header.thread_name = fix(fields.get("threadName", ""))
    return header


# --------------------------------------------------------------------------------------------
# Pass 2: messages
# --------------------------------------------------------------------------------------------


class MediaResolver:
    """Maps a message's media ``uri`` to a member of this export, whatever folder the user
    uploaded: the uri is relative to the original zip root, which may have been renamed,
    nested in another folder or cut away."""

    def __init__(
        self, export: ExportTreeLike, names: set[str], thread: ThreadFiles, json_member: str
    ) -> None:
        self._export = export
        self._names = names
        self._thread_dir = thread.dir
        parts = [p for p in thread.dir.split("/") if p]
        # <prefix>/messages/<section>/<thread>/ -> "<prefix>/messages/"
        self._messages_root = "/".join(parts[:-2]) + "/" if thread.section and len(parts) >= 2 else None
        if self._messages_root == "/":
            self._messages_root = ""
        self._json_dir = json_member.rpartition("/")[0]

    def candidates(self, uri: str) -> Iterator[str]:
        clean = uri.removeprefix("./").lstrip("/")
        yield clean
        if self._json_dir:
            yield f"{self._json_dir}/{clean}"
        parts = clean.split("/")
        if self._messages_root is not None and "messages" in parts:
            rest = "/".join(parts[parts.index("messages") + 1 :])
            yield self._messages_root + rest
        if len(parts) >= 2:
            yield self._thread_dir + "/".join(parts[-2:])

    def resolve(self, uri: str) -> str | None:
        if not uri or "://" in uri:
            return None
        for candidate in self.candidates(uri):
            if candidate in self._names:
                return candidate
        return None

    def attachment(self, uri: str) -> ParsedAttachment:
        name = uri.rstrip("/").rpartition("/")[2] or uri
        content_type = mimetypes.guess_type(name)[0] or ""
        member = self.resolve(uri)
        if member is None:
            return ParsedAttachment(name=name, content_type=content_type, uri=uri)
        opener: Callable[[], IO[bytes]] = partial(self._export.open, member)
        return ParsedAttachment(
            name=name, content_type=content_type, uri=member, size=self._export.size(member), open=opener
        )


@dataclass(slots=True)
class _Ctx:
    member: str
    fix: Callable[[str], str]
    media: MediaResolver


def _reactions(raw: Any, ctx: _Ctx) -> list[ParsedReaction]:
    out: list[ParsedReaction] = []
    seen: set[tuple[str, str]] = set()
    for r in _as_list(raw):
        r = _as_dict(r)
        actor, emoji = ctx.fix(_as_str(r.get("actor"))), ctx.fix(_as_str(r.get("reaction")))
        if not emoji or (actor, emoji) in seen:
            continue  # Meta duplicates reactions; one per actor and emoji is the fact
        seen.add((actor, emoji))
        out.append(
            ParsedReaction(actor_id=actor, reaction=emoji, timestamp=seconds_to_datetime(r.get("timestamp")))
        )
    return out


def dyi_message(raw: Any, ctx: _Ctx) -> ParsedMessage:
    """One ``message_N.json`` message. Kind is decided by structure, never by the localized text."""
    if not isinstance(raw, dict):
        raise ExportError("a message is not a JSON object", file=ctx.member)
    ts = raw.get("timestamp_ms")
    sent_at = ms_to_datetime(ts, member=ctx.member)
    sender = ctx.fix(_as_str(raw.get("sender_name"))) or None
    text = ctx.fix(_as_str(raw.get("content")))
    msg = ParsedMessage(sent_at=sent_at, raw_timestamp=str(ts), sender_id=sender, text=text)
    msg.reactions = _reactions(raw.get("reactions"), ctx)
    msg.deleted = raw.get("is_unsent") is True
    for key in _MEDIA_KEYS:
        for item in _as_list(raw.get(key)):
            uri = _as_str(_as_dict(item).get("uri"))
            if uri:
                msg.attachments.append(ctx.media.attachment(ctx.fix(uri)))
    sticker_uri = _as_str(_as_dict(raw.get("sticker")).get("uri"))
    share = _as_dict(raw.get("share"))
    mtype = _as_str(raw.get("type"))
    duration = raw.get("call_duration")
    if isinstance(duration, int | Decimal) and not isinstance(duration, bool):
        msg.call_duration_s = int(duration)
    if msg.call_duration_s is not None or mtype == "Call":
        msg.kind = MessageKind.CALL
    elif mtype in ("Subscribe", "Unsubscribe") or "users" in raw:
        msg.kind = MessageKind.SYSTEM
    elif sticker_uri:
        msg.kind = MessageKind.STICKER
        msg.attachments.append(ctx.media.attachment(ctx.fix(sticker_uri)))
    elif share:
        msg.kind = MessageKind.SHARE
        msg.share_url = ctx.fix(_as_str(share.get("link")))
        if not msg.text:
            msg.text = ctx.fix(_as_str(share.get("share_text")))
    elif msg.attachments and not text:
        msg.kind = MessageKind.MEDIA
    return msg


def secure_storage_message(raw: Any, ctx: _Ctx) -> ParsedMessage:
    """One message of the end-to-end-encrypted download (clean UTF-8, chronological)."""
    if not isinstance(raw, dict):
        raise ExportError("a message is not a JSON object", file=ctx.member)
    ts = raw.get("timestamp")
    msg = ParsedMessage(
        sent_at=ms_to_datetime(ts, member=ctx.member, what="timestamp"),
        raw_timestamp=str(ts),
        sender_id=_as_str(raw.get("senderName")) or None,
        text=_as_str(raw.get("text")),
    )
    msg.reactions = _reactions(raw.get("reactions"), ctx)
    msg.deleted = raw.get("isUnsent") is True
    for item in _as_list(raw.get("media")):
        uri = _as_str(_as_dict(item).get("uri"))
        # "Failed to download media" is written in place of a uri when the file is missing.
        if uri and "/" in uri:
            msg.attachments.append(ctx.media.attachment(uri))
    mtype = _as_str(raw.get("type"))
    if mtype == "link":
        msg.kind = MessageKind.SHARE
        match = re.search(r"https?://\S+", msg.text)
        msg.share_url = match.group(0) if match else ""
    elif mtype == "media" or (msg.attachments and not msg.text):
        msg.kind = MessageKind.MEDIA
    elif mtype == "placeholder":
        msg.kind = MessageKind.SYSTEM
    return msg


def iter_messages(
    export: ExportTreeLike, thread: ThreadFiles, header: ThreadHeader
) -> Iterator[ParsedMessage]:
    names = set(export.names())
    convert = secure_storage_message if header.secure_storage else dyi_message
    # Highest N first: message_1.json is the newest file.
    for _n, member in sorted(thread.files, reverse=True):
        fix = _identity if member in header.clean_files else fix_mojibake
        ctx = _Ctx(member=member, fix=fix, media=MediaResolver(export, names, thread, member))
        raw = export.open(member)
        try:
            raw_messages = list(ijson.items(_SniffingReader(raw), "messages.item"))
        except ExportError:
            raise
        except _PARSE_ERRORS as exc:
            raise _json_error(member, exc) from None
        finally:
            raw.close()
        if not header.secure_storage:
            raw_messages.reverse()  # the file is newest-first
        parsed = [convert(raw, ctx) for raw in raw_messages]
        del raw_messages
        # A stable sort: chronological even if a file is not strictly ordered; ties keep
        # (reversed) file order.
        parsed.sort(key=lambda m: m.sent_at)
        yield from parsed


# --------------------------------------------------------------------------------------------
# The importer
# --------------------------------------------------------------------------------------------


def _secure_storage_title(thread_name: str, member: str) -> str:
    base = thread_name or member.rpartition("/")[2].removesuffix(".json")
    return re.sub(r"_\d+$", "", base)


class MetaImporter:
    """Base for FacebookMessengerImporter and InstagramImporter: same schema, same reader."""

    platform: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def detect(self, export: ExportTreeLike) -> int:
        return meta_scores(export).get(self.platform, 0)

    def completeness(self) -> list[CompletenessNote]:
        return [
            CompletenessNote(
                "names_only",
                "People are identified only by display name (no account id): renamed accounts appear under "
                "several names and different people with the same name cannot be told apart.",
            ),
        ]

    def parse(self, export: ExportTreeLike, *, owner_hint: str = "") -> Iterator[ParsedConversation]:
        """Yield one conversation per thread. The owner is marked only from ``owner_hint``: the
        export has no "me" flag, and the usual inference (the person present in the most threads)
        needs the whole export to be scanned first, which the caller can do from the result."""
        threads = discover_threads(export)
        if not threads:
            if html_thread_files(export.names()):
                raise ExportError(HTML_VARIANT_MESSAGE)
            raise ExportError(
                f"no {self.label} message files (messages/inbox/…/message_1.json) found in the export"
            )
        for thread in threads:
            yield self._conversation(export, thread, owner_hint)

    def _conversation(
        self, export: ExportTreeLike, thread: ThreadFiles, owner_hint: str
    ) -> ParsedConversation:
        header = scan_header(export, thread)
        first_member = thread.files[0][1]
        owner_key = owner_hint.strip().casefold()
        people: list[ParsedParticipant] = []
        seen: set[str] = set()
        for name in [*header.participants, *header.senders]:
            if not name or name in seen:
                continue
            seen.add(name)
            people.append(
                ParsedParticipant(platform_id=name, display_name=name, is_owner=name.casefold() == owner_key)
            )
        listed = len({p for p in header.participants if p})
        if header.thread_type in ("Regular", "RegularGroup"):
            kind = ConversationKind.GROUP if header.thread_type == "RegularGroup" else ConversationKind.DIRECT
        else:
            kind = (
                ConversationKind.GROUP if listed > 2 or header.has_group_markers else ConversationKind.DIRECT
            )
        if header.secure_storage:
            thread_id = f"{SECURE_STORAGE_LABEL}/{header.thread_name or first_member}"
            title = _secure_storage_title(header.thread_name, first_member)
            labels = [SECURE_STORAGE_LABEL]
        else:
            thread_path = header.thread_path
            thread_id = thread_path or thread.dir.rstrip("/") or first_member
            title = header.title
            section = thread_path.split("/", 1)[0] if "/" in thread_path else thread.section
            labels = [section] if section in SECTIONS else ([thread.section] if thread.section else [])
        return ParsedConversation(
            platform=self.platform,
            thread_id=thread_id,
            kind=kind,
            title=title,
            participants=people,
            messages=iter_messages(export, thread, header),
            labels=labels,
        )

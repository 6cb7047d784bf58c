"""Slack workspace-export importer.

Layout: ``users.json``, ``channels.json`` (public), ``groups.json`` (private), ``dms.json``,
``mpims.json`` at the root, and one folder per conversation holding one ``YYYY-MM-DD.json`` per
day (an array of messages, oldest first). Folders are named after the channel's *current* name,
the DM id (``D…``) or the mpim name (``mpdm-a--b-1``). A folder without an index entry is still
imported (as a channel), because trimmed exports often lack the index files.

Day files are read one at a time, so memory holds one day of one conversation. The day in the
file name is a Pacific-time date, so times come only from each message's ``ts``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    ParsedReaction,
)

_JSON_ERRORS: tuple[type[BaseException], ...] = (ijson.JSONError, UnicodeDecodeError, ValueError)
_DAY_FILE = re.compile(r"^(?P<root>(?:.*/)?)(?P<folder>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})\.json$")
_TS = re.compile(r"^(?P<s>\d{1,12})(?:\.(?P<f>\d{1,6}))?$")
_TOKEN = re.compile(r"([?&])t=xox[a-z]-[^&#]*&?", re.I)
_INDEXES = {
    "channels.json": ConversationKind.CHANNEL,
    "groups.json": ConversationKind.CHANNEL,  # private channels are still channels, not DMs
    "file_conversations.json": ConversationKind.CHANNEL,
    "dms.json": ConversationKind.DIRECT,
    "mpims.json": ConversationKind.GROUP,
}
# Subtypes that are something a person wrote (or uploaded); every other subtype is an event.
_CONTENT_SUBTYPES = {
    "",
    "file_share",
    "thread_broadcast",
    "bot_message",
    "me_message",
    "file_comment",
    "file_mention",
    "reply_broadcast",
    "tombstone",
    "huddle_thread",
    "slackbot_response",
}


@dataclass(slots=True)
class _Meta:
    folder: str
    kind: ConversationKind
    conv_id: str = ""
    name: str = ""
    members: list[str] = field(default_factory=list)


def parse_ts(value: Any, member: str) -> datetime:
    """Slack ``ts`` "1676903800.163289": epoch seconds with exactly microsecond precision."""
    match = _TS.match(str(value))
    if match is None:
        raise ExportError("message has an unreadable ts", file=member)
    micros = int((match["f"] or "0").ljust(6, "0"))
    try:
        return datetime.fromtimestamp(int(match["s"]), UTC) + timedelta(microseconds=micros)
    except (OverflowError, OSError, ValueError):
        raise ExportError("message ts is out of range", file=member) from None


def redact_url(url: str) -> str:
    """Export file URLs carry ``?t=xoxe-…`` access tokens: secrets, never stored."""
    return _TOKEN.sub(lambda m: m.group(1), url).rstrip("?&")


def _iter_array(export: ExportTreeLike, member: str) -> Iterator[Any]:
    try:
        with export.open(member) as fh:
            yield from ijson.items(fh, "item", use_float=True)
    except _JSON_ERRORS as exc:
        raise ExportError(f"malformed JSON ({type(exc).__name__})", file=member) from None


class SlackImporter:
    platform: ClassVar[str] = "slack"
    label: ClassVar[str] = "Slack"

    def detect(self, export: ExportTreeLike) -> int:
        names = export.names()
        bases = {PurePosixPath(n).name for n in names}
        days = sum(1 for n in names if _DAY_FILE.match(n))
        score = 0
        if "channels.json" in bases or "users.json" in bases:
            score += 45
        if {"dms.json", "mpims.json", "groups.json", "integration_logs.json"} & bases:
            score += 15
        if days:
            score += 35
            first = next(n for n in names if _DAY_FILE.match(n))
            try:
                with export.open(first) as fh:
                    head = fh.read(2048)
            except (OSError, ExportError):
                head = b""
            # A day file is an array of {"type": "message", "ts": "…"} objects.
            if head.lstrip().startswith(b"[") and b'"ts"' in head and b'"message"' in head:
                score += 30
        return min(score, 95)

    def completeness(self) -> list[CompletenessNote]:
        return [
            CompletenessNote("no-owner", "A workspace export has no owner: it is everyone's messages."),
            CompletenessNote(
                "files-are-links",
                "Files are not in the export, only links (tokens removed); "
                "on free plans older files are hidden entirely.",
            ),
            CompletenessNote(
                "scope",
                "Standard exports hold public channels only; private channels and DMs "
                "appear only in full exports.",
            ),
            CompletenessNote("no-edit-history", "Edited messages keep only their latest text."),
        ]

    def parse(self, export: ExportTreeLike, *, owner_hint: str = "") -> Iterator[ParsedConversation]:
        names = export.names()
        folders: dict[tuple[str, str], list[str]] = {}
        for name in names:
            match = _DAY_FILE.match(name)
            if match:
                folders.setdefault((match["root"], match["folder"]), []).append(name)
        if not folders and not any(PurePosixPath(n).name in _INDEXES for n in names):
            raise ExportError("no Slack channel folders (<channel>/YYYY-MM-DD.json) in the export")
        users = self._users(export, names)
        metas = self._metas(export, names)
        owner = owner_hint.strip()
        done: set[int] = set()
        for (root, folder), days in sorted(folders.items()):
            meta = metas.get((root, folder)) or _guess_meta(folder)
            done.add(id(meta))
            days.sort()
            yield self._conversation(export, meta, days, users, owner)
        # Indexed conversations with no folder had no messages in the export's date range; they
        # are still listed so their membership is archived.
        for meta in {id(m): m for m in metas.values()}.values():
            if id(meta) not in done:
                done.add(id(meta))
                yield self._conversation(export, meta, [], users, owner)

    # -- indexes ---------------------------------------------------------------------------
    def _users(self, export: ExportTreeLike, names: list[str]) -> dict[str, ParsedParticipant]:
        users: dict[str, ParsedParticipant] = {}
        for member in names:
            if PurePosixPath(member).name not in ("users.json", "org_users.json"):
                continue
            for raw in _iter_array(export, member):
                if not isinstance(raw, dict) or not raw.get("id"):
                    continue
                profile: dict[str, Any] = raw["profile"] if isinstance(raw.get("profile"), dict) else {}
                display = (
                    profile.get("display_name")
                    or profile.get("real_name")
                    or raw.get("real_name")
                    or raw.get("name")
                    or ""
                )
                users[str(raw["id"])] = ParsedParticipant(
                    platform_id=str(raw["id"]), display_name=str(display), handle=str(raw.get("name") or "")
                )
        return users

    def _metas(self, export: ExportTreeLike, names: list[str]) -> dict[tuple[str, str], _Meta]:
        metas: dict[tuple[str, str], _Meta] = {}
        for member in names:
            path = PurePosixPath(member)
            kind = _INDEXES.get(path.name)
            if kind is None:
                continue
            root = "" if str(path.parent) == "." else f"{path.parent}/"
            for raw in _iter_array(export, member):
                if not isinstance(raw, dict):
                    continue
                conv_id = str(raw.get("id") or "")
                name = str(raw.get("name") or "")
                members = (
                    [str(m) for m in raw.get("members") or [] if isinstance(m, str | int)]
                    if isinstance(raw.get("members"), list)
                    else []
                )
                meta = _Meta(folder=name or conv_id, kind=kind, conv_id=conv_id, name=name, members=members)
                if path.name == "file_conversations.json" and name.startswith("FC:"):
                    meta.folder = name.replace(":", "_")  # folders are FC_<fileId>_<title>
                for key in {meta.folder, conv_id} - {""}:
                    metas[(root, key)] = meta
        return metas

    # -- messages --------------------------------------------------------------------------
    def _conversation(
        self,
        export: ExportTreeLike,
        meta: _Meta,
        days: list[str],
        users: dict[str, ParsedParticipant],
        owner: str,
    ) -> ParsedConversation:
        # Pass 1 over the day files: who speaks, so participants are known before messages stream.
        ids: dict[str, None] = dict.fromkeys(meta.members)
        for day in days:
            for raw in _iter_array(export, day):
                if isinstance(raw, dict):
                    sender = _sender(raw)
                    if sender:
                        ids.setdefault(sender, None)
        people = []
        for pid in ids:
            known = users.get(pid)
            people.append(
                ParsedParticipant(
                    platform_id=pid,
                    display_name=known.display_name if known else "",
                    handle=known.handle if known else "",
                    is_owner=bool(owner) and owner in (pid, known.handle if known else None),
                )
            )
        if meta.kind == ConversationKind.DIRECT and not meta.name:
            title = ", ".join(p.display_name or p.platform_id for p in people)
        else:
            title = meta.name or meta.folder
        return ParsedConversation(
            platform=self.platform,
            thread_id=meta.conv_id or meta.folder,
            kind=meta.kind,
            title=title,
            participants=people,
            messages=self._messages(export, days),
        )

    def _messages(self, export: ExportTreeLike, days: list[str]) -> Iterator[ParsedMessage]:
        for day in days:
            batch: list[tuple[datetime, int, ParsedMessage]] = []
            for index, raw in enumerate(_iter_array(export, day)):
                if isinstance(raw, dict) and raw.get("ts") is not None:
                    message = _message(raw, day)
                    batch.append((message.sent_at, index, message))
            # Day files are Pacific-time days in ascending order; sorting within one keeps the whole stream ordered.
            batch.sort(key=lambda r: (r[0], r[1]))
            for _, _, message in batch:
                yield message


def _sender(raw: dict[str, Any]) -> str:
    return str(raw.get("user") or raw.get("bot_id") or raw.get("username") or "")


def _message(raw: dict[str, Any], member: str) -> ParsedMessage:
    ts = str(raw.get("ts"))
    subtype = str(raw.get("subtype") or "")
    thread_ts = str(raw.get("thread_ts") or "")
    message = ParsedMessage(
        sent_at=parse_ts(ts, member),
        raw_timestamp=ts,
        sender_id=_sender(raw) or None,
        text=str(raw.get("text") or ""),
        platform_message_id=ts,
        reply_to=thread_ts if thread_ts and thread_ts != ts else "",
        edited=isinstance(raw.get("edited"), dict),
    )
    if subtype == "tombstone":
        message.deleted = True
        message.text = ""
    elif subtype not in _CONTENT_SUBTYPES:
        message.kind = MessageKind.SYSTEM
    reactions = raw.get("reactions")
    for reaction in reactions if isinstance(reactions, list) else []:
        if isinstance(reaction, dict) and isinstance(reaction.get("users"), list):
            name = f":{reaction.get('name', '')}:"
            message.reactions.extend(
                ParsedReaction(actor_id=str(u), reaction=name) for u in reaction["users"]
            )
    files = (
        [f for f in (raw.get("files") or []) if isinstance(f, dict)]
        if isinstance(raw.get("files"), list)
        else []
    )
    if isinstance(raw.get("file"), dict):
        files.append(raw["file"])  # 2015-16 exports: one embedded "file" object
    for f in files:
        url = str(f.get("url_private_download") or f.get("url_private") or f.get("permalink") or "")
        size = f.get("size")
        message.attachments.append(
            ParsedAttachment(
                name=str(f.get("name") or f.get("title") or f.get("id") or ""),
                content_type=str(f.get("mimetype") or ""),
                uri=redact_url(url),
                size=size if isinstance(size, int) else None,
            )
        )
    if (
        message.attachments
        and message.kind == MessageKind.TEXT
        and (not message.text or subtype == "file_share")
    ):
        message.kind = MessageKind.MEDIA
    return message


def _guess_meta(folder: str) -> _Meta:
    if folder.startswith("mpdm-"):
        return _Meta(folder=folder, kind=ConversationKind.GROUP, name=folder)
    if re.fullmatch(r"D[A-Z0-9]{6,}", folder):
        return _Meta(folder=folder, kind=ConversationKind.DIRECT, conv_id=folder)
    return _Meta(folder=folder, kind=ConversationKind.CHANNEL, name=folder)

"""X / Twitter archive: ``data/direct-messages.js`` (1:1) and ``data/direct-messages-group.js``
(groups), each ``window.YTD.<name>.partN = [...]``; owner from ``data/manifest.js``
(``userInfo.accountId``); media in ``data/direct_messages_media/`` and
``data/direct_messages_group_media/`` named ``<messageId>-<file name>``.

Ids stay strings throughout (they exceed 2^53). One conversation (one ``dmConversation``
element) is held in memory at a time so its newest-first events can be reversed and its
participants collected before it is yielded. A conversation split across two part files would
come out as two conversations with the same ``thread_id``; the writer merges by thread id.
"""

from __future__ import annotations

import html
import mimetypes
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
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

# direct-messages.js, direct-messages-part1.js, direct-messages-group.js, older direct-message.js
_DM_FILE = re.compile(r"^(?P<root>(?:.*/)?)direct-messages?(?P<group>-group)?(?:-part\d+)?\.js$")
_JS_PREFIX = re.compile(rb"^\s*window\.(?:YTD\.[A-Za-z0-9_.]+|__THAR_CONFIG)\s*=\s*")
_MEDIA_LINK = re.compile(r"^https://(?:twitter|x)\.com/messages/media/")
_PARSE_ERRORS = (ijson.JSONError, UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError)
_BOM = b"\xef\xbb\xbf"


class _AfterPrefix:
    """File-like that skips the ``window.YTD.x.part0 = `` assignment so ijson sees plain JSON."""

    def __init__(self, raw: IO[bytes], member: str) -> None:
        self._raw = raw
        head = raw.read(512)
        head = head.removeprefix(_BOM)
        match = _JS_PREFIX.match(head)
        if not match:
            raise ExportError(
                "does not start with the expected 'window.YTD.… = ' assignment of an X/Twitter archive",
                file=member,
            )
        self._pending = head[match.end() :]

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self._pending:
            if size < 0:
                data, self._pending = self._pending + self._raw.read(), b""
                return data
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return self._raw.read(size)


def _id(value: Any, *, member: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # an id written as a JSON integer: ijson keeps it exact
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    raise ExportError("an id is neither a string nor an integer", file=member)


def _ts(value: Any, *, member: str) -> datetime:
    if not isinstance(value, str):
        raise ExportError("an event has a missing createdAt timestamp", file=member)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ExportError("an event has an unreadable createdAt timestamp", file=member) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _read_manifest(export: ExportTreeLike, member: str) -> dict[str, Any]:
    raw = export.open(member)
    try:
        items = ijson.items(_AfterPrefix(raw, member), "")
        manifest: Any = next(iter(items), {})
    except ExportError:
        raise
    except _PARSE_ERRORS as exc:
        raise ExportError(f"the manifest is not valid JSON ({type(exc).__name__})", file=member) from None
    finally:
        raw.close()
    return _dict(manifest)


class TwitterImporter:
    platform: ClassVar[str] = "twitter"
    label: ClassVar[str] = "X (Twitter)"

    # -- detection -------------------------------------------------------------------------

    def detect(self, export: ExportTreeLike) -> int:
        names = export.names()
        dm_files = [n for n in names if _DM_FILE.match(n)]
        manifests = [n for n in names if n == "manifest.js" or n.endswith("data/manifest.js")]
        score = 0
        for member in (dm_files + manifests)[:3]:
            with export.open(member) as fh:
                head = fh.read(256).removeprefix(_BOM)
            if head.lstrip().startswith(b"window.YTD.direct_message"):
                score = max(score, 95)
            elif head.lstrip().startswith(b"window.__THAR_CONFIG"):
                score = max(score, 90 if dm_files else 60)
        return score

    def completeness(self) -> list[CompletenessNote]:
        return [
            CompletenessNote(
                "ids_only",
                "Other people appear only as numeric account ids: the archive has no names or handles "
                "for them.",
            ),
            CompletenessNote(
                "custom_emoji_reactions",
                "Custom emoji reactions are exported as the key 'emoji' without the emoji itself.",
            ),
            CompletenessNote(
                "deleted_not_exported",
                "Messages deleted before the archive was requested are not in it; calls are in a "
                "separate file that is not imported.",
            ),
        ]

    # -- parsing ---------------------------------------------------------------------------

    def parse(self, export: ExportTreeLike, *, owner_hint: str = "") -> Iterator[ParsedConversation]:
        names = export.names()
        dm_files = sorted(n for n in names if _DM_FILE.match(n))
        if not dm_files:
            raise ExportError(
                "no data/direct-messages.js or data/direct-messages-group.js found in the export"
            )
        owner_id, owner_handle, owner_name = owner_hint.strip(), "", ""
        manifests = [n for n in names if n.endswith("manifest.js")]
        if manifests:
            info = _dict(_read_manifest(export, manifests[0]).get("userInfo"))
            account = info.get("accountId")
            if account is not None and not owner_id:
                owner_id = _id(account, member=manifests[0])
            if owner_id and owner_id == _str(info.get("accountId")):
                owner_handle, owner_name = _str(info.get("userName")), _str(info.get("displayName"))
        name_set = set(names)
        owner = (owner_id, owner_handle, owner_name)
        for member in dm_files:
            yield from self._parse_file(export, member, name_set, owner)

    def _parse_file(
        self, export: ExportTreeLike, member: str, names: set[str], owner: tuple[str, str, str]
    ) -> Iterator[ParsedConversation]:
        m = _DM_FILE.match(member)
        assert m is not None
        is_group = bool(m["group"])
        media_dir = m["root"] + ("direct_messages_group_media/" if is_group else "direct_messages_media/")
        raw = export.open(member)
        try:
            for item in ijson.items(_AfterPrefix(raw, member), "item"):
                conv = _dict(_dict(item).get("dmConversation"))
                if not conv:
                    continue
                yield self._conversation(export, member, conv, is_group, media_dir, names, owner)
        except ExportError:
            raise
        except _PARSE_ERRORS as exc:
            raise ExportError(
                f"the file is not valid JSON (truncated or damaged: {type(exc).__name__})", file=member
            ) from None
        finally:
            raw.close()

    def _conversation(
        self,
        export: ExportTreeLike,
        member: str,
        conv: dict[str, Any],
        is_group: bool,
        media_dir: str,
        names: set[str],
        owner: tuple[str, str, str],
    ) -> ParsedConversation:
        conv_id = _id(conv.get("conversationId", ""), member=member)
        people: dict[str, None] = {}  # ordered set of ids
        if not is_group:
            for part in conv_id.split("-"):
                if part.isdigit():
                    people[part] = None
        parsed: list[ParsedMessage] = []
        title = ""
        events = _list(conv.get("messages"))
        # The file is newest-first; reverse, then a stable sort by time for safety.
        for event in reversed(events):
            event = _dict(event)
            if len(event) != 1:
                continue
            ((etype, body),) = event.items()
            body = _dict(body)
            msg = self._event(export, member, etype, body, media_dir, names, people)
            if msg is None:
                continue
            if etype == "conversationNameUpdate":
                title = _str(body.get("name"))
            parsed.append(msg)
        parsed.sort(key=lambda msg: msg.sent_at)
        owner_id, owner_handle, owner_name = owner
        participants = [
            ParsedParticipant(
                platform_id=pid,
                display_name=owner_name if pid == owner_id else "",
                handle=owner_handle if pid == owner_id else "",
                is_owner=pid == owner_id,
            )
            for pid in people
        ]
        return ParsedConversation(
            platform=self.platform,
            thread_id=conv_id,
            kind=ConversationKind.GROUP if is_group else ConversationKind.DIRECT,
            title=title,
            participants=participants,
            messages=parsed,
        )

    def _event(
        self,
        export: ExportTreeLike,
        member: str,
        etype: str,
        body: dict[str, Any],
        media_dir: str,
        names: set[str],
        people: dict[str, None],
    ) -> ParsedMessage | None:
        def ids(key: str) -> list[str]:
            found = [_id(v, member=member) for v in _list(body.get(key))]
            for pid in found:
                people[pid] = None
            return found

        def one(key: str) -> str | None:
            if body.get(key) is None:
                return None
            pid = _id(body[key], member=member)
            people[pid] = None
            return pid

        if "createdAt" not in body:
            return None  # an event without a time cannot be placed; none observed
        created = _str(body.get("createdAt"))
        sent_at = _ts(body.get("createdAt"), member=member)
        if etype in ("messageCreate", "welcomeMessageCreate"):
            return self._message(export, member, body, sent_at, created, media_dir, names, one, people)
        msg = ParsedMessage(sent_at=sent_at, raw_timestamp=created, sender_id=None, kind=MessageKind.SYSTEM)
        if etype == "joinConversation":
            msg.sender_id = one("initiatingUserId")
            snapshot = ids("participantsSnapshot")
            msg.text = f"Joined the conversation ({len(snapshot)} participants)"
        elif etype == "participantsJoin":
            msg.sender_id = one("initiatingUserId")
            msg.text = "Added " + ", ".join(ids("userIds"))
        elif etype == "participantsLeave":
            left = ids("userIds")
            msg.sender_id = left[0] if len(left) == 1 else None
            msg.text = "Left: " + ", ".join(left)
        elif etype == "conversationNameUpdate":
            msg.sender_id = one("initiatingUserId")
            msg.text = "Renamed the conversation to " + _str(body.get("name"))
        else:
            msg.kind = MessageKind.UNKNOWN
            msg.text = etype
        return msg

    def _message(
        self,
        export: ExportTreeLike,
        member: str,
        body: dict[str, Any],
        sent_at: datetime,
        created: str,
        media_dir: str,
        names: set[str],
        one: Callable[[str], str | None],
        people: dict[str, None],
    ) -> ParsedMessage:
        message_id = _id(body.get("id", ""), member=member)
        sender = one("senderId")
        one("recipientId")
        msg = ParsedMessage(
            sent_at=sent_at,
            raw_timestamp=created,
            sender_id=sender,
            text=html.unescape(_str(body.get("text"))),
            platform_message_id=message_id,
        )
        for r in _list(body.get("reactions")):
            r = _dict(r)
            actor = one_id(r.get("senderId"), member)
            if actor is None:
                continue
            people[actor] = None
            when = r.get("createdAt")
            msg.reactions.append(
                ParsedReaction(
                    actor_id=actor,
                    reaction=_str(r.get("reactionKey")),
                    timestamp=_ts(when, member=member) if isinstance(when, str) else None,
                )
            )
        media_links: list[str] = []
        for u in _list(body.get("urls")):
            expanded = _str(_dict(u).get("expanded"))
            if _MEDIA_LINK.match(expanded):
                media_links.append(_str(_dict(u).get("url")))
            elif expanded and not msg.share_url:
                msg.share_url = expanded
        for url in _list(body.get("mediaUrls")):
            url = _str(url)
            if url:
                msg.attachments.append(self._attachment(export, url, message_id, media_dir, names))
        history = _list(body.get("editHistory"))
        if len(history) > 1 or (history and _history_text(history[0]) not in ("", msg.text)):
            msg.edited = True
            msg.previous_versions = [t for t in (_history_text(h) for h in history) if t and t != msg.text]
        if msg.attachments:
            # Media messages end with a t.co link to the media page; it is not part of the text.
            bare = msg.text
            for link in media_links:
                bare = bare.replace(link, "").strip()
            if not bare:
                msg.kind = MessageKind.MEDIA
        elif msg.share_url:
            msg.kind = MessageKind.SHARE
        return msg

    def _attachment(
        self, export: ExportTreeLike, url: str, message_id: str, media_dir: str, names: set[str]
    ) -> ParsedAttachment:
        base = url.split("?", 1)[0].rstrip("/").rpartition("/")[2]
        local = f"{media_dir}{message_id}-{base}"
        content_type = mimetypes.guess_type(base)[0] or ""
        if local in names:
            opener: Callable[[], IO[bytes]] = partial(export.open, local)
            return ParsedAttachment(
                name=base, content_type=content_type, uri=local, size=export.size(local), open=opener
            )
        return ParsedAttachment(name=base, content_type=content_type, uri=url)


def one_id(value: Any, member: str) -> str | None:
    return None if value is None else _id(value, member=member)


def _history_text(entry: Any) -> str:
    if isinstance(entry, str):
        return html.unescape(entry)
    return html.unescape(_str(_dict(entry).get("text")))

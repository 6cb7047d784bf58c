"""LinkedIn data-export importer (``messages.csv`` in the Basic/Complete export zip).

Columns are matched by header name because LinkedIn has shipped several column sets
(2021 without ``RECIPIENT PROFILE URLS``, 2023 with it, later ones reportedly with ``ATTACHMENTS``).
Rows of all conversations are interleaved newest-first, so rows are grouped by
``CONVERSATION ID`` while the file is streamed through the ``csv`` module (which also handles
quoted multi-line ``CONTENT``); only the parsed rows are held, never the raw file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import ClassVar

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

MEMBER = "messages.csv"
REQUIRED = ("CONVERSATION ID", "FROM", "DATE", "CONTENT")
# csv's default field cap is 128 KiB; InMail HTML bodies stay far below 1 MiB.
MAX_FIELD = 1024 * 1024
_URL_SPLIT = re.compile(r"[\s,]+(?=https?://)")


@dataclass(slots=True)
class _Thread:
    thread_id: str
    title: str = ""
    folders: list[str] = field(default_factory=list)
    people: dict[str, ParsedParticipant] = field(default_factory=dict)  # platform_id -> participant
    rows: list[tuple[datetime, int, ParsedMessage]] = field(default_factory=list)


def _person(name: str, url: str) -> ParsedParticipant | None:
    name, url = name.strip(), url.strip()
    if not name and not url:
        return None
    # The profile URL is the only stable key LinkedIn gives; names change and collide.
    return ParsedParticipant(platform_id=url or name, display_name=name, handle=_handle(url))


def _handle(url: str) -> str:
    match = re.search(r"/in/([^/?#]+)", url)
    return match.group(1) if match else ""


def _parse_date(value: str, member: str, line: int) -> datetime:
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ExportError("unreadable DATE value", file=member, line=line) from None
    # LinkedIn writes "YYYY-MM-DD HH:MM:SS UTC"; a bare naive value is taken as UTC too.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class LinkedInImporter:
    platform: ClassVar[str] = "linkedin"
    label: ClassVar[str] = "LinkedIn"

    def detect(self, export: ExportTreeLike) -> int:
        member = _find_member(export)
        if member is None:
            return 0
        try:
            with export.open(member) as fh:
                head = fh.read(512).decode("utf-8", "ignore").lstrip("\ufeff").upper()
        except (OSError, ExportError):
            return 10
        first_line = head.split("\n", 1)[0]
        if "CONVERSATION ID" in first_line and "CONTENT" in first_line:
            return 95
        return 30

    def completeness(self) -> list[CompletenessNote]:
        return [
            CompletenessNote("no-attachments", "messages.csv lists no attachments, reactions or read state."),
            CompletenessNote("flattened-text", "LinkedIn flattens line breaks in message text."),
            CompletenessNote(
                "no-message-ids",
                "Messages carry no id; people are identified by profile URL "
                "(or by name when the URL is missing).",
            ),
            CompletenessNote(
                "names-only",
                "Recipients are one display-name field; several recipients cannot always be told apart.",
            ),
        ]

    def parse(self, export: ExportTreeLike, *, owner_hint: str = "") -> Iterator[ParsedConversation]:
        member = _find_member(export)
        if member is None:
            raise ExportError("no messages.csv in the export")
        threads = self._read(export, member)
        _merge_names(threads)
        owner = self._owner(threads, owner_hint)
        for thread in threads.values():
            people = [
                ParsedParticipant(p.platform_id, p.display_name, p.handle, is_owner=p.platform_id == owner)
                for p in thread.people.values()
            ]
            title = (
                thread.title
                or ", ".join(p.display_name for p in people if not p.is_owner)
                or thread.thread_id
            )
            rows = sorted(thread.rows, key=lambda r: (r[0], r[1]))
            yield ParsedConversation(
                platform=self.platform,
                thread_id=thread.thread_id,
                kind=ConversationKind.GROUP if len(people) > 2 else ConversationKind.DIRECT,
                title=title,
                participants=people,
                messages=iter([r[2] for r in rows]),
                labels=[f.lower() for f in thread.folders],
            )

    def _read(self, export: ExportTreeLike, member: str) -> dict[str, _Thread]:
        text = io.TextIOWrapper(export.open(member), encoding="utf-8-sig", newline="")
        csv.field_size_limit(MAX_FIELD)
        reader = csv.reader(text, strict=True)
        threads: dict[str, _Thread] = {}
        try:
            with text:
                try:
                    header = next(reader)
                except StopIteration:
                    raise ExportError("messages.csv is empty", file=member, line=1) from None
                cols = {name.strip().upper(): i for i, name in enumerate(header)}
                missing = [c for c in REQUIRED if c not in cols]
                if missing:
                    raise ExportError(
                        f"messages.csv lacks the column(s) {', '.join(missing)}", file=member, line=1
                    )

                def get(row: list[str], name: str) -> str:
                    i = cols.get(name)
                    return row[i] if i is not None and i < len(row) else ""

                order = 0
                for row in reader:
                    line = reader.line_num
                    if not any(cell.strip() for cell in row):
                        continue
                    order += 1
                    conv_id = get(row, "CONVERSATION ID").strip()
                    if not conv_id:
                        raise ExportError("row without CONVERSATION ID", file=member, line=line)
                    thread = threads.get(conv_id)
                    if thread is None:
                        thread = threads[conv_id] = _Thread(conv_id)
                    title = get(row, "CONVERSATION TITLE").strip()
                    if title and not thread.title:
                        thread.title = title
                    folder = get(row, "FOLDER").strip()
                    if folder and folder not in thread.folders:
                        thread.folders.append(folder)
                    sender = _person(get(row, "FROM"), get(row, "SENDER PROFILE URL"))
                    if sender is not None:
                        thread.people.setdefault(sender.platform_id, sender)
                    # "TO" is never split on commas: names contain them ("Jane Roe, CPA").
                    urls = [u for u in _URL_SPLIT.split(get(row, "RECIPIENT PROFILE URLS").strip()) if u]
                    to_name = get(row, "TO")
                    if len(urls) <= 1:
                        recipient = _person(to_name, urls[0] if urls else "")
                        if recipient is not None:
                            thread.people.setdefault(recipient.platform_id, recipient)
                    else:
                        for url in urls:
                            recipient = _person("", url)
                            if recipient is not None:
                                thread.people.setdefault(recipient.platform_id, recipient)
                    raw_date = get(row, "DATE")
                    sent_at = _parse_date(raw_date, member, line)
                    message = ParsedMessage(
                        sent_at=sent_at,
                        raw_timestamp=raw_date,
                        sender_id=sender.platform_id if sender else None,
                        text=get(row, "CONTENT"),
                    )
                    attachments = get(row, "ATTACHMENTS").strip()
                    for url in (u for u in re.split(r"\s+", attachments) if u):
                        name = PurePosixPath(url.split("?", 1)[0]).name or url
                        message.attachments.append(ParsedAttachment(name=name, uri=url))
                    if sender is None:
                        message.kind = MessageKind.SYSTEM  # e.g. "Message request accepted" rows
                    elif message.attachments and not message.text:
                        message.kind = MessageKind.MEDIA
                    thread.rows.append((sent_at, -order, message))
        except csv.Error as exc:
            raise ExportError(f"malformed CSV ({exc})", file=member, line=reader.line_num) from None
        except UnicodeDecodeError:
            raise ExportError(
                "messages.csv is not valid UTF-8", file=member, line=reader.line_num + 1
            ) from None
        # Rows are newest-first, so the tiebreak for equal times is reversed file order.
        return threads

    @staticmethod
    def _owner(threads: dict[str, _Thread], owner_hint: str) -> str:
        hint = owner_hint.strip()
        if hint:
            for thread in threads.values():
                for person in thread.people.values():
                    if hint in (person.platform_id, person.display_name, person.handle):
                        return person.platform_id
            return hint
        # The account holder is in every conversation; pick whoever is in the most of them.
        counts: dict[str, int] = {}
        for thread in threads.values():
            for pid in thread.people:
                counts[pid] = counts.get(pid, 0) + 1
        if len(threads) < 2 or not counts:
            return ""
        best = max(counts.values())
        leaders = [pid for pid, n in counts.items() if n == best]
        return leaders[0] if len(leaders) == 1 and best > 1 else ""


def _merge_names(threads: dict[str, _Thread]) -> None:
    """2021 exports give recipients by name only; when the same name appears elsewhere with a
    profile URL, use the URL so one person is one participant."""
    url_of: dict[str, str] = {}
    for thread in threads.values():
        for pid, person in thread.people.items():
            if pid != person.display_name and person.display_name:
                url_of.setdefault(person.display_name, pid)
    for thread in threads.values():
        renamed: dict[str, str] = {}
        merged: dict[str, ParsedParticipant] = {}
        for pid, person in thread.people.items():
            if pid == person.display_name and pid in url_of:
                renamed[pid] = url_of[pid]
                merged.setdefault(
                    url_of[pid], ParsedParticipant(url_of[pid], person.display_name, _handle(url_of[pid]))
                )
            else:
                merged.setdefault(pid, person)
        thread.people = merged
        if renamed:
            for _, _, message in thread.rows:
                if message.sender_id in renamed:
                    message.sender_id = renamed[message.sender_id]


def _find_member(export: ExportTreeLike) -> str | None:
    matches = [n for n in export.names() if PurePosixPath(n).name.lower() == MEMBER]
    # The shallowest one is the export's own; deeper ones would be files people sent.
    return min(matches, key=lambda n: (n.count("/"), n)) if matches else None

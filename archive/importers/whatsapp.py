"""WhatsApp "Export chat" importer (.txt, or a zip with ``_chat.txt`` / ``WhatsApp Chat with X.txt`` + media).

The export is a plain-text transcript whose shape depends on the phone's OS and locale:

* iOS:     ``[dd/mm/yyyy, hh:mm:ss] Name: text``  (media/system lines prefixed with U+200E)
* Android: ``dd/mm/yy, hh:mm - Name: text``       (system lines have no ``Name: ``)

Dates come in every order (d/m, m/d, y/m/d) and the order cannot be told from one line, so the
file is read twice: pass 1 looks at every header to decide the order (and whether the file is
already chronological, and who writes), pass 2 parses. Neither pass keeps the text in memory;
only a file that turns out to be out of order is buffered, so it can be sorted.

Times carry no zone at all: they are the phone's wall clock. ``WhatsAppImporter(timezone="Europe/Paris")``
interprets them in that zone (default UTC); the raw header is kept in ``raw_timestamp``.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import PurePosixPath
from typing import IO, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

# A chat line longer than this is not a WhatsApp export (and would let a hostile file eat memory).
MAX_LINE_BYTES = 1024 * 1024

# Bidi and invisible marks WhatsApp sprinkles around headers, names and media markers.
_MARKS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_MARKS_RE = re.compile(f"[{_MARKS}]")
_SPACES_RE = re.compile(r"[\u00a0\u202f\u2007\u2009]")

_DATE = r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
_IOS_HEADER = re.compile(rf"^\[(?P<date>{_DATE}),?\s+(?P<time>[^\]]{{3,24}})\]\s?(?P<rest>.*)$", re.S)
_ANDROID_HEADER = re.compile(
    rf"^(?P<date>{_DATE}),?\s+(?P<time>\S[^\-–]{{2,22}}?)\s[-–]\s(?P<rest>.*)$", re.S
)
_TIME = re.compile(r"^(?P<pre>\D*?)\s*(?P<h>\d{1,2})[:.](?P<m>\d{2})(?:[:.](?P<s>\d{2}))?\s*(?P<post>\D*)$")

# AM/PM markers seen in exports, normalised (lower case, no dots or spaces).
_AM = {"am", "a", "ص", "vorm", "上午", "午前", "오전", "πμ"}
_PM = {"pm", "p", "م", "nachm", "下午", "午後", "오후", "μμ"}

_CHAT_FILE_RE = re.compile(r"^WhatsApp Chat (?:with|-|mit|con|avec|com|met) (?P<name>.+?)\.txt$", re.I)

_DELETED = {
    "this message was deleted",
    "you deleted this message",
    "diese nachricht wurde gelöscht",
    "du hast diese nachricht gelöscht",
    "se eliminó este mensaje",
    "eliminaste este mensaje",
    "ce message a été supprimé",
    "vous avez supprimé ce message",
    "esta mensagem foi apagada",
    "você apagou esta mensagem",
    "dit bericht is verwijderd",
    "questo messaggio è stato eliminato",
    "تم حذف هذه الرسالة",
}
_EDITED_RE = re.compile(
    r"\s*<(?:This message was edited|Se editó este mensaje\.?|Diese Nachricht wurde bearbeitet|"
    r"Ce message a été modifié|Mensagem editada)>\s*$",
    re.I,
)
# Android "without media" placeholders.
_MEDIA_OMITTED = {
    "<media omitted>",
    "<medien ausgeschlossen>",
    "<multimedia omitido>",
    "<archivo omitido>",
    "<médias omis>",
    "<mídia oculta>",
    "<media weggelaten>",
    "<media omessi>",
}
# iOS "without media" placeholders: "<kind> omitted" and localised variants; the kind gives a type.
_IOS_OMITTED_RE = re.compile(
    r"^(?P<kind>image|video|audio|sticker|gif|document|contact card|vidéo|bild|imagen|"
    r"imagem|foto|autocollant|pegatina|documento)\s+"
    r"(?:omitted|absente?|weggelassen|omitida|omitido|ocultad[oa]|oculta)$",
    re.I,
)
# Old iOS (≈2015) wrote just the media kind after the U+200E mark.
_BARE_MEDIA = {"image", "video", "audio", "sticker", "gif"}
_ATTACHED_RE = re.compile(
    r"<(?:attached|pièce jointe|adjunto|anexado|anhang|allegato|bijlage|مرفق)\s*:\s*(?P<name>[^<>]+?)>",
    re.I,
)
_FILE_ATTACHED_RE = re.compile(
    r"^(?P<name>[^\n]+?\.\w{1,6}) \((?:file attached|datei angehängt|archivo adjunto|arquivo anexado|"
    r"fichier joint|file allegato|bestand bijgevoegd)\)",
    re.I,
)
_CALL_RE = re.compile(
    r"^(?:missed (?:voice|video|group voice|group video) call|(?:voice|video) call|"
    r"llamada perdida|llamada de voz|videollamada|verpasster (?:sprach|video)anruf|sprachanruf|"
    r"videoanruf|appel (?:vocal|vidéo) manqué|appel (?:vocal|vidéo)|chamada de voz perdida|"
    r"مكالمة صوتية فائتة|مكالمة فيديو فائتة|مكالمة صوتية|مكالمة فيديو)",
    re.I,
)
_DURATION_RE = re.compile(r"(?P<n>\d+)\s*(?P<u>sec|s|min|hr|h)\b", re.I)
_POLL_RE = re.compile(r"^(?:POLL|ENCUESTA|UMFRAGE|SONDAGE|ENQUETE|SONDAGGIO)\s*:", re.I)
_LOCATION_RE = re.compile(
    r"^(?:Location|Ubicación|Standort|Position|Localização|Posizione)\s*:\s*(?P<url>\S+)"
)
_VENUE_RE = re.compile(r"(?P<url>https://foursquare\.com/v/\S+)")
_E2E_HINTS = (
    "end-to-end encrypted",
    "ende-zu-ende",
    "extremo a extremo",
    "de bout en bout",
    "ponta a ponta",
    "end-to-end versleuteld",
    "crittografia end-to-end",
    "تشفير",
    "مشفرة",
)
_GROUP_HINTS = re.compile(
    r"created group|added|hinzugefügt|creó el grupo|añadió|a créé le groupe|a ajouté|criou o grupo|"
    r"adicionou|left$|verlassen|salió|a quitté|saiu",
    re.I,
)

_CONTENT_TYPES = {
    "image": "image/*",
    "imagen": "image/*",
    "imagem": "image/*",
    "bild": "image/*",
    "foto": "image/*",
    "video": "video/*",
    "vidéo": "video/*",
    "audio": "audio/*",
    "gif": "image/gif",
    "sticker": "image/webp",
    "autocollant": "image/webp",
    "pegatina": "image/webp",
}
_EXT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
    ".pdf": "application/pdf",
    ".vcf": "text/vcard",
}


def _strip_marks(text: str) -> str:
    return _MARKS_RE.sub("", text)


@dataclass(slots=True)
class _Header:
    lineno: int
    raw: str  # the date+time exactly as written
    date: tuple[str, str, str]
    hour: int
    minute: int
    second: int
    rest: str  # everything after the header: "Name: text" or a system text


def _match_header(line: str) -> _Header | None:
    """Recognise a message header line, or return None (then the line continues the previous message)."""
    # Only the leading marks go: the ones before the text tell iOS media/system lines apart.
    cleaned = line.lstrip(_MARKS)
    if not cleaned[:1].isdigit() and not cleaned.startswith("["):
        return None
    match = _IOS_HEADER.match(cleaned) or _ANDROID_HEADER.match(cleaned)
    if match is None:
        return None
    time_text = _SPACES_RE.sub(" ", _strip_marks(match["time"])).strip()
    tm = _TIME.match(time_text)
    if tm is None:
        return None
    hour, minute, second = int(tm["h"]), int(tm["m"]), int(tm["s"] or 0)
    marker = (tm["pre"] + tm["post"]).replace(".", "").replace(" ", "").lower()
    if marker in _PM:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + 12
    elif marker in _AM:
        if hour > 12:
            return None
        hour = hour % 12
    elif marker:
        return None  # some unknown word: not a header we understand
    if hour > 23 or minute > 59 or second > 59:
        return None
    parts = re.split(r"[./-]", match["date"])
    return _Header(
        lineno=0,
        raw=f"{match['date']}, {match['time']}".strip(),
        date=(parts[0], parts[1], parts[2]),
        hour=hour,
        minute=minute,
        second=second,
        rest=match["rest"],
    )


def _iter_lines(export: ExportTreeLike, name: str) -> Iterator[tuple[int, str]]:
    """Decode a member line by line (UTF-8, BOM tolerated) without loading it whole.

    Uses the tree's own ``read_lines`` (which caps line length and names the bad line) when the
    tree has one; a bare ExportTreeLike gets the equivalent local reader."""
    read_lines = getattr(export, "read_lines", None)
    if read_lines is not None:
        for lineno, line in read_lines(name, max_line_bytes=MAX_LINE_BYTES):
            yield lineno, line.rstrip("\r")
        return
    with export.open(name) as fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES:
                raise ExportError("line is too long for a WhatsApp chat", file=name, line=lineno)
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ExportError("the chat is not valid UTF-8 text", file=name, line=lineno) from None
            yield lineno, text.rstrip("\r\n")


class _DateOrder:
    """Pass-1 evidence for the day/month order of the non-year-first dates of one file."""

    def __init__(self) -> None:
        self.day_first_possible = True
        self.month_first_possible = True
        self.unpadded = False  # "1/1/21" style, typical of US month-first Android exports
        self.slash_seen = False
        # Chronology under each reading: violations counted and the last value seen.
        self.violations = {"dmy": 0, "mdy": 0}
        self.last: dict[str, tuple[int, ...] | None] = {"dmy": None, "mdy": None}

    def feed(self, header: _Header) -> None:
        a, b, c = header.date
        if len(a) == 4:
            return
        self.slash_seen = self.slash_seen or "/" in header.raw
        x, y = int(a), int(b)
        if len(a) == 1 or len(b) == 1:
            self.unpadded = True
        if x > 12 or y == 0:
            self.month_first_possible = False
        if y > 12 or x == 0:
            self.day_first_possible = False
        year = int(c)
        clock = (header.hour, header.minute, header.second)
        for order, key in (("dmy", (year, y, x, *clock)), ("mdy", (year, x, y, *clock))):
            last = self.last[order]
            if last is not None and key < last:
                self.violations[order] += 1
            self.last[order] = key

    def decide(self, file: str) -> str:
        if self.day_first_possible and not self.month_first_possible:
            return "dmy"
        if self.month_first_possible and not self.day_first_possible:
            return "mdy"
        if not self.day_first_possible and not self.month_first_possible:
            raise ExportError("dates mix day-first and month-first orders", file=file)
        # Every day is <= 12: prefer the reading under which the chat runs forwards in time.
        if self.violations["dmy"] != self.violations["mdy"]:
            return "dmy" if self.violations["dmy"] < self.violations["mdy"] else "mdy"
        # Still undecided: unpadded numbers are the US Android "M/D/YY" style; padded ones are day-first locales.
        return "mdy" if self.unpadded and self.slash_seen else "dmy"


@dataclass(slots=True)
class _Scan:
    order: str
    chronological: bool
    authors: list[str]
    group_hint: bool
    first_line: str
    created_title: str


_CREATED_RE = re.compile(
    r'(?:created group|creó el grupo|hat die Gruppe|a créé le groupe|criou o grupo) [„"“](?P<t>[^"”“]+)[”"“]'
)


class WhatsAppImporter:
    """Parses WhatsApp "Export chat" transcripts.

    ``timezone``: IANA zone the phone was set to when exporting; WhatsApp writes local wall-clock
    times with no zone, so they are interpreted in this zone and converted to UTC (default "UTC").
    """

    platform: ClassVar[str] = "whatsapp"
    label: ClassVar[str] = "WhatsApp"

    def __init__(self, timezone: str = "UTC") -> None:
        try:
            self.tz: tzinfo = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None

    # -- detection --------------------------------------------------------------------------
    def detect(self, export: ExportTreeLike) -> int:
        best = 0
        for name in _chat_members(export):
            score = 30
            base = PurePosixPath(name).name
            if base == "_chat.txt" or _CHAT_FILE_RE.match(base):
                score = 60
            try:
                with export.open(name) as fh:
                    head = fh.read(4096)
            except (OSError, ExportError):
                continue
            first = codecs.decode(head, "utf-8", "ignore").lstrip("\ufeff").splitlines()[:1]
            if first and _match_header(first[0]) is not None:
                score += 35
            best = max(best, score)
        return min(best, 95)

    def completeness(self) -> list[CompletenessNote]:
        return [
            CompletenessNote(
                "no-timezone",
                "WhatsApp writes the phone's local time with no zone; times are "
                "interpreted in the zone chosen at import.",
            ),
            CompletenessNote(
                "no-ids", "No message ids, reply links, reactions or read receipts are exported."
            ),
            CompletenessNote("no-owner", "The transcript does not say which participant is the exporter."),
            CompletenessNote(
                "media-optional",
                "Media files are present only when the chat was exported "
                '"with media"; otherwise only a placeholder remains.',
            ),
            CompletenessNote("seconds", "Android exports round times to the minute."),
        ]

    # -- parsing ----------------------------------------------------------------------------
    def parse(self, export: ExportTreeLike, *, owner_hint: str = "") -> Iterator[ParsedConversation]:
        members = _chat_members(export)
        if not members:
            raise ExportError("no WhatsApp chat transcript (.txt) found in the export")
        by_base: dict[str, str] = {}
        for name in export.names():
            by_base.setdefault(PurePosixPath(name).name, name)
        for member in members:
            scan = self._scan(export, member)
            if scan is None:
                continue  # an empty transcript: nothing to import
            yield self._conversation(export, member, scan, by_base, owner_hint)

    def _scan(self, export: ExportTreeLike, member: str) -> _Scan | None:
        """Pass 1: date order, chronology, authors. Only small facts are kept."""
        order = _DateOrder()
        authors: dict[str, None] = {}
        first_line = ""
        created_title = ""
        group_hint = False
        seen_header = False
        ymd_last: tuple[int, ...] | None = None
        ymd_sorted = True
        for lineno, line in _iter_lines(export, member):
            header = _match_header(line)
            if header is None:
                if not seen_header and line.strip():
                    raise ExportError("unparseable WhatsApp message header", file=member, line=lineno)
                continue
            if not seen_header:
                first_line = _strip_marks(line)
                seen_header = True
            order.feed(header)
            if len(header.date[0]) == 4:
                key = (
                    int(header.date[0]),
                    int(header.date[1]),
                    int(header.date[2]),
                    header.hour,
                    header.minute,
                    header.second,
                )
                if ymd_last is not None and key < ymd_last:
                    ymd_sorted = False
                ymd_last = key
            author, text = _split_author(header.rest)
            if author is not None and not _is_system(text):
                authors.setdefault(author, None)
            body = (author is None and header.rest) or text
            if _GROUP_HINTS.search(_strip_marks(body)) and (author is None or _is_system(text)):
                group_hint = True
            if not created_title:
                created = _CREATED_RE.search(_strip_marks(body))
                if created:
                    created_title = created["t"]
        if not seen_header:
            return None
        decided = order.decide(member)
        # Mixed year-first and other lines (seen in the wild) are simply sorted in pass 2.
        mixed = order.last["dmy"] is not None and ymd_last is not None
        chronological = ymd_sorted and order.violations[decided] == 0 and not mixed
        return _Scan(decided, chronological, list(authors), group_hint, first_line, created_title)

    def _conversation(
        self,
        export: ExportTreeLike,
        member: str,
        scan: _Scan,
        by_base: dict[str, str],
        owner_hint: str,
    ) -> ParsedConversation:
        base = PurePosixPath(member).name
        named = _CHAT_FILE_RE.match(base)
        if named:
            chat_name = named["name"]
            thread_id = "chat:" + chat_name
        else:
            chat_name = ""
            # _chat.txt carries no chat name; the first header line (chat start + first text) is stable
            # across re-exports of the same chat, so it keys the thread.
            digest = hashlib.sha256(f"{base}\n{scan.first_line}".encode()).hexdigest()[:24]
            thread_id = "txt:" + digest
        owner = owner_hint.strip()
        participants = [
            ParsedParticipant(platform_id=a, display_name=a, is_owner=bool(owner) and a == owner)
            for a in scan.authors
        ]
        is_group = scan.group_hint or len(scan.authors) > 2
        title = scan.created_title or chat_name or ", ".join(a for a in scan.authors if a != owner)
        messages = self._messages(export, member, scan, by_base)
        if not scan.chronological:
            messages = _sorted_lazily(messages)
        return ParsedConversation(
            platform=self.platform,
            thread_id=thread_id,
            kind=ConversationKind.GROUP if is_group else ConversationKind.DIRECT,
            title=title,
            participants=participants,
            messages=messages,
        )

    def _messages(
        self, export: ExportTreeLike, member: str, scan: _Scan, by_base: dict[str, str]
    ) -> Iterator[ParsedMessage]:
        """Pass 2: one message per header, continuation lines appended."""
        current: tuple[_Header, list[str]] | None = None
        for lineno, line in _iter_lines(export, member):
            header = _match_header(line)
            if header is None:
                if current is not None:
                    current[1].append(line)
                continue
            header.lineno = lineno
            if current is not None:
                yield self._message(current[0], current[1], scan.order, member, export, by_base)
            current = (header, [])
        if current is not None:
            yield self._message(current[0], current[1], scan.order, member, export, by_base)

    def _when(self, header: _Header, order: str, member: str) -> datetime:
        a, b, c = header.date
        try:
            if len(a) == 4:
                year, month, day = int(a), int(b), int(c)
            elif order == "dmy":
                day, month, year = int(a), int(b), int(c)
            else:
                month, day, year = int(a), int(b), int(c)
            if year < 100:
                year += 2000
            local = datetime(year, month, day, header.hour, header.minute, header.second, tzinfo=self.tz)
        except ValueError:
            raise ExportError("invalid date in message header", file=member, line=header.lineno) from None
        return local.astimezone(UTC)

    def _message(
        self,
        header: _Header,
        extra: list[str],
        order: str,
        member: str,
        export: ExportTreeLike,
        by_base: dict[str, str],
    ) -> ParsedMessage:
        sent_at = self._when(header, order, member)
        author, first = _split_author(header.rest)
        body_lines = [first if author is not None else header.rest, *extra]
        raw_text = "\n".join(body_lines)
        message = ParsedMessage(sent_at=sent_at, raw_timestamp=header.raw, sender_id=author)
        _classify(message, raw_text, author is None, export, by_base)
        return message


def _sorted_lazily(messages: Iterator[ParsedMessage]) -> Iterator[ParsedMessage]:
    """Only out-of-order transcripts are buffered; sorted() is stable, so file order breaks ties."""
    yield from sorted(messages, key=lambda m: m.sent_at)


def _chat_members(export: ExportTreeLike) -> list[str]:
    names = [n for n in export.names() if n.lower().endswith(".txt")]
    preferred = [
        n for n in names if PurePosixPath(n).name == "_chat.txt" or _CHAT_FILE_RE.match(PurePosixPath(n).name)
    ]
    return sorted(preferred or names)


def _split_author(rest: str) -> tuple[str | None, str]:
    """ "Name: text" -> (name, text); a system line (no author) -> (None, rest)."""
    idx = rest.find(": ")
    if idx <= 0:
        if rest.endswith(":") and "\n" not in rest:
            return _clean_name(rest[:-1]) or None, ""
        # "John Doe:." style (no space after the colon) from some exports
        colon = rest.find(":")
        if (
            colon > 0
            and not rest[:colon].strip().startswith("http")
            and " " not in rest[colon + 1 : colon + 2]
        ):
            name = rest[:colon]
            if len(name) <= 60 and not _GROUP_HINTS.search(name):
                return _clean_name(name) or None, rest[colon + 1 :]
        return None, rest
    name = rest[:idx]
    if len(name) > 80:
        return None, rest
    return _clean_name(name) or None, rest[idx + 2 :]


def _clean_name(name: str) -> str:
    # Phone numbers on iOS are wrapped in U+202A..U+202C with NBSP/U+2011 inside.
    return _SPACES_RE.sub(" ", _strip_marks(name)).replace("\u2011", "-").strip()


def _is_system(text: str) -> bool:
    """iOS writes system notices with an author (the chat or a member) and a leading U+200E."""
    stripped = text.lstrip(" ")
    if not stripped.startswith(("\u200e", "\u200f")):
        return any(h in text.lower() for h in _E2E_HINTS)
    plain = _strip_marks(stripped).strip()
    return _media_or_marker(plain) is None


def _media_or_marker(plain: str) -> str | None:
    """Name which content marker a U+200E-prefixed text is, or None for a system notice."""
    low = plain.lower().rstrip(".")
    if low in _DELETED:
        return "deleted"
    if _ATTACHED_RE.search(plain) or _IOS_OMITTED_RE.match(plain) or low in _BARE_MEDIA:
        return "media"
    if _CALL_RE.match(plain):
        return "call"
    if _POLL_RE.match(plain):
        return "poll"
    if _LOCATION_RE.match(plain) or _VENUE_RE.search(plain):
        return "location"
    if _EDITED_RE.search(plain):
        return "edited"
    if any(h in low for h in _E2E_HINTS):
        return None
    return None


def _attachment(
    name: str, export: ExportTreeLike, by_base: dict[str, str], content_type: str = ""
) -> ParsedAttachment:
    name = _strip_marks(name).strip()
    ext = PurePosixPath(name).suffix.lower()
    member = by_base.get(PurePosixPath(name).name) if name else None
    att = ParsedAttachment(name=name, content_type=content_type or _EXT_TYPES.get(ext, ""))
    if member is not None:
        att.uri = member
        att.size = export.size(member)

        def opener(m: str = member) -> IO[bytes]:
            return export.open(m)

        att.open = opener
    return att


def _classify(
    message: ParsedMessage, raw_text: str, no_author: bool, export: ExportTreeLike, by_base: dict[str, str]
) -> None:
    """Turn WhatsApp's in-band markers (media, deleted, calls, polls, system notices) into fields."""
    leading_mark = raw_text.lstrip(" ").startswith(("\u200e", "\u200f"))
    text = _strip_marks(raw_text).strip()
    first, _, rest = text.partition("\n")
    low = first.lower().rstrip(".").strip()

    edited = _EDITED_RE.search(text)
    if edited:
        message.edited = True
        text = text[: edited.start()].rstrip()
        first, _, rest = text.partition("\n")

    if no_author:
        message.kind = MessageKind.SYSTEM
        message.text = text
        return
    if low in _DELETED:
        message.deleted = True
        message.text = ""
        return
    if any(h in low for h in _E2E_HINTS):
        message.kind = MessageKind.SYSTEM
        message.sender_id = None
        message.text = text
        return
    attached = list(_ATTACHED_RE.finditer(text))
    if attached:
        for m in attached:
            message.attachments.append(_attachment(m["name"], export, by_base))
        caption = _ATTACHED_RE.sub("", text)
        caption = re.sub(r"\s*•\s*\d+\s+\w+\s*$", "", caption.strip())  # "• 1 page" document suffix
        message.text = caption.strip()
        message.kind = MessageKind.MEDIA if not message.text else MessageKind.TEXT
        return
    file_attached = _FILE_ATTACHED_RE.match(text)
    if file_attached:
        message.attachments.append(_attachment(file_attached["name"], export, by_base))
        message.text = text[file_attached.end() :].strip()
        message.kind = MessageKind.MEDIA if not message.text else MessageKind.TEXT
        return
    if first.lower() in _MEDIA_OMITTED and not rest:
        message.attachments.append(ParsedAttachment(name=""))
        message.kind = MessageKind.MEDIA
        return
    omitted = _IOS_OMITTED_RE.match(first)
    bare = leading_mark and low in _BARE_MEDIA
    if (omitted or bare) and not rest:
        kind = (omitted["kind"] if omitted else low).lower()
        message.attachments.append(ParsedAttachment(name="", content_type=_CONTENT_TYPES.get(kind, "")))
        message.kind = (
            MessageKind.STICKER if kind in {"sticker", "autocollant", "pegatina"} else MessageKind.MEDIA
        )
        return
    if _CALL_RE.match(first) and not rest:
        message.kind = MessageKind.CALL
        duration = _DURATION_RE.search(first)
        if duration:
            n, unit = int(duration["n"]), duration["u"].lower()
            message.call_duration_s = n * (3600 if unit in {"hr", "h"} else 60 if unit == "min" else 1)
        message.text = first
        return
    if _POLL_RE.match(first):
        message.kind = MessageKind.POLL
        message.text = text
        return
    location = _LOCATION_RE.match(first)
    venue = _VENUE_RE.search(first)
    if (location or venue) and not rest:
        message.kind = MessageKind.LOCATION
        message.share_url = (location or venue)["url"]  # type: ignore[index]
        message.text = text
        return
    if leading_mark:
        # Any other U+200E-prefixed text under an author is an iOS system notice ("X changed their
        # phone number", "Maman a ajouté Camille"): not something the author wrote.
        message.kind = MessageKind.SYSTEM
        message.sender_id = None
    message.text = text

"""PDF transcripts with a Bates number stamped on every page.

One PDF document per conversation (long conversations split every
``ctx.messages_per_document`` messages), named by its first Bates number:
``pdf/<BEGBATES>.pdf``. Bates numbers run continuously over the production from the job's
prefix and start. Rendering is ``reportlab``'s canvas (no layout engine: we wrap lines
ourselves), with DejaVu Sans embedded when the system has it so non-Latin text survives, and
Helvetica otherwise. Each document is built in a spooled temporary file, then streamed into the
production zip, so memory holds at most one document.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from reportlab.lib.pagesizes import LETTER
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from compliance.exports.collect import XConversation, XMessage
from compliance.exports.formats.base import ExportContext, PdfDocument
from compliance.exports.formats.eml import transcript_line

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
)
FONT_SIZE = 9
LEADING = 11.5
MARGIN = 54
_font: str | None = None


def font() -> str:
    global _font
    if _font is None:
        _font = "Helvetica"
        for candidate in FONT_CANDIDATES:
            if Path(candidate).exists():
                try:
                    pdfmetrics.registerFont(TTFont("DMVSans", candidate))
                    _font = "DMVSans"
                except Exception:  # a damaged font file: fall back to the core font  # noqa: S112
                    continue
                break
    return _font


def _safe(text: str, face: str) -> str:
    if face == "Helvetica":
        return text.encode("latin-1", "replace").decode("latin-1")
    return "".join(c if c >= " " or c == "\t" else " " for c in text)


class _Layout:
    def __init__(self, ctx: ExportContext, conv: XConversation, canvas: Canvas, header: str) -> None:
        self.ctx = ctx
        self.canvas = canvas
        self.header = header
        self.face = font()
        self.width, self.height = LETTER
        self.y = 0.0
        self.pages = 0
        self.first_bates = ""
        self.last_bates = ""
        self._widths: dict[str, float] = {}

    def _new_page(self) -> None:
        c = self.canvas
        if self.pages:
            c.showPage()
        self.pages += 1
        bates = self.ctx.next_bates()
        self.first_bates = self.first_bates or bates
        self.last_bates = bates
        c.setFont(self.face, 8)
        c.drawString(MARGIN, self.height - MARGIN / 2, _safe(self.header, self.face)[:140])
        c.setFont(self.face, 10)
        c.drawRightString(self.width - MARGIN, MARGIN / 2, bates)  # the Bates stamp
        c.setFont(self.face, 8)
        c.drawString(MARGIN, MARGIN / 2, f"Page {self.pages}")
        c.setFont(self.face, FONT_SIZE)
        self.y = self.height - MARGIN

    def _width(self, word: str) -> float:
        w = self._widths.get(word)
        if w is None:
            w = pdfmetrics.stringWidth(word, self.face, FONT_SIZE)
            if len(self._widths) < 50_000:
                self._widths[word] = w
        return w

    def wrap(self, text: str) -> Iterator[str]:
        limit = self.width - 2 * MARGIN
        space = self._width(" ")
        for paragraph in text.split("\n"):
            line: list[str] = []
            used = 0.0
            for word in paragraph.split(" "):
                w = self._width(word)
                while w > limit:  # a word longer than the line: hard-break it
                    cut = max(1, int(len(word) * limit / w) - 1)
                    if line:
                        yield " ".join(line)
                        line, used = [], 0.0
                    yield word[:cut]
                    word = word[cut:]
                    w = self._width(word)
                extra = w + (space if line else 0)
                if line and used + extra > limit:
                    yield " ".join(line)
                    line, used = [word], w
                else:
                    line.append(word)
                    used += extra
            yield " ".join(line)

    def line(self, text: str) -> None:
        if not self.pages or self.y < MARGIN + LEADING:
            self._new_page()
        self.y -= LEADING
        self.canvas.drawString(MARGIN, self.y, text)

    def message(self, msg: XMessage) -> None:
        for text in self.wrap(_safe(transcript_line(self.ctx, msg), self.face)):
            self.line(text)
        self.y -= 3


def _parts(ctx: ExportContext, conv: XConversation) -> Iterator[list[XMessage]]:
    part: list[XMessage] = []
    for msg in ctx.messages(conv):
        part.append(msg)
        if len(part) >= ctx.messages_per_document:
            yield part
            part = []
    if part:
        yield part


def write(ctx: ExportContext) -> None:
    for index, conv in enumerate(ctx.conversations):
        ctx.checkpoint("pdf", index)
        people = ", ".join(p.name or p.handle or p.platform_id for p in conv.participants)
        custodian = next((p.name or p.platform_id for p in conv.participants if p.is_owner), "")
        for part_no, msgs in enumerate(_parts(ctx, conv), start=1):
            with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as tmp:
                canvas = Canvas(tmp, pagesize=LETTER, pageCompression=1, invariant=1)
                canvas.setTitle(f"Conversation {conv.id} part {part_no}")
                canvas.setAuthor("DMVault")
                header = f"{conv.title or conv.platform} · {conv.platform} · conversation {conv.id} · part {part_no}"
                layout = _Layout(ctx, conv, canvas, header)
                layout.line(_safe(f"Participants: {people}", layout.face)[:200])
                for msg in msgs:
                    layout.message(msg)
                canvas.showPage()
                canvas.save()
                path = f"pdf/{layout.first_bates}.pdf"
                tmp.seek(0)
                ctx.zip.copy_from(path, tmp, compress=False)
            ctx.pdf_documents.append(
                PdfDocument(
                    doc_id=layout.first_bates,
                    path=path,
                    conversation_id=conv.id,
                    part=part_no,
                    begin_bates=layout.first_bates,
                    end_bates=layout.last_bates,
                    pages=layout.pages,
                    messages=len(msgs),
                    first_sent=msgs[0].sent_at,
                    last_sent=msgs[-1].sent_at,
                    title=conv.title,
                    platform=conv.platform,
                    participants=people,
                    custodian=custodian,
                    native_path=f"native/{conv.id}.json",
                    sha256=ctx.zip.files[-1].sha256,
                )
            )

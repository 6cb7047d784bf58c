"""Concordance load files for the PDF transcripts.

``loadfile/production.dat``: UTF-8 (with BOM), one header row and one row per PDF document;
every value is wrapped in the quote character ``þ`` (U+00FE) and values are separated by the
column character ``¶`` (U+00B6); a newline inside a value becomes ``®`` (U+00AE), as
Concordance expects. Field names are the usual ones (BEGBATES, ENDBATES, PGCOUNT, CUSTODIAN,
...). ``loadfile/production.opt``: the Opticon image cross-reference, one line per page:
``ImageKey,Volume,ImagePath,DocumentBreak,FolderBreak,BoxBreak,PageCount`` where ImageKey is the
page's Bates number and ImagePath the document's PDF.
"""

from __future__ import annotations

from compliance.exports.formats.base import ExportContext, iso

QUOTE = "\u00fe"
COLUMN = "\u00b6"
NEWLINE = "\u00ae"
VOLUME = "VOL001"
DAT_PATH = "loadfile/production.dat"
OPT_PATH = "loadfile/production.opt"
FIELDS = [
    "BEGBATES",
    "ENDBATES",
    "PGCOUNT",
    "DOCID",
    "CUSTODIAN",
    "PARTICIPANTS",
    "SUBJECT",
    "DATESENT",
    "DATELAST",
    "PLATFORM",
    "CONVERSATIONID",
    "MESSAGECOUNT",
    "NATIVEPATH",
    "PDFPATH",
    "SHA256",
]


def _value(value: object) -> str:
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\n", NEWLINE)
    return QUOTE + text.replace(QUOTE, "") + QUOTE


def _row(values: list[object]) -> str:
    return COLUMN.join(_value(v) for v in values) + "\r\n"


def _bates_number(label: str, prefix: str) -> int:
    return int(label[len(prefix) :])


def write(ctx: ExportContext) -> None:
    with ctx.zip.entry(DAT_PATH) as out:
        out.write(b"\xef\xbb\xbf")
        out.text(_row(list(FIELDS)))
        for doc in ctx.pdf_documents:
            out.text(
                _row(
                    [
                        doc.begin_bates,
                        doc.end_bates,
                        doc.pages,
                        doc.doc_id,
                        doc.custodian,
                        doc.participants,
                        doc.title,
                        iso(doc.first_sent),
                        iso(doc.last_sent),
                        doc.platform,
                        doc.conversation_id,
                        doc.messages,
                        doc.native_path,
                        doc.path,
                        doc.sha256,
                    ]
                )
            )
    with ctx.zip.entry(OPT_PATH) as out:
        for doc in ctx.pdf_documents:
            first = _bates_number(doc.begin_bates, ctx.bates_prefix)
            image_path = doc.path.replace("/", "\\")
            for page in range(doc.pages):
                key = ctx.bates_label(first + page)
                if page == 0:
                    out.text(f"{key},{VOLUME},{image_path},Y,,,{doc.pages}\r\n")
                else:
                    out.text(f"{key},{VOLUME},{image_path},,,,\r\n")

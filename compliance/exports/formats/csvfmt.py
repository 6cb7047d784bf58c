"""CSV: one row per message, all conversations in ``csv/messages.csv`` (UTF-8 with BOM so
spreadsheet programs pick the encoding; RFC 4180 quoting)."""

from __future__ import annotations

import csv
import io
import json

from compliance.exports.formats.base import ExportContext, iso

PATH = "csv/messages.csv"
COLUMNS = [
    "message_id",
    "conversation_id",
    "platform",
    "conversation_title",
    "sent_at",
    "raw_timestamp",
    "sender_id",
    "sender_name",
    "sender_handle",
    "kind",
    "text",
    "edited",
    "deleted",
    "erased",
    "reply_to_id",
    "reactions",
    "previous_versions",
    "share_url",
    "call_duration_s",
    "attachment_names",
    "attachment_files",
    "source_id",
]


def write(ctx: ExportContext) -> None:
    buf = io.StringIO()
    rows = csv.writer(buf, lineterminator="\r\n")
    with ctx.zip.entry(PATH) as out:
        out.write(b"\xef\xbb\xbf")
        rows.writerow(COLUMNS)
        for index, conv in enumerate(ctx.conversations):
            ctx.checkpoint("csv", index)
            for msg in ctx.messages(conv):
                sender = ctx.person(msg.sender_id)
                rows.writerow(
                    [
                        msg.id,
                        conv.id,
                        conv.platform,
                        conv.title,
                        iso(msg.sent_at),
                        msg.raw_timestamp,
                        sender.platform_id if sender else "",
                        sender.name if sender else "",
                        sender.handle if sender else "",
                        msg.kind,
                        msg.text,
                        int(msg.edited),
                        int(msg.deleted),
                        int(msg.erased),
                        msg.reply_to_id or "",
                        json.dumps(msg.reactions, ensure_ascii=False) if msg.reactions else "",
                        json.dumps(msg.previous_versions, ensure_ascii=False)
                        if msg.previous_versions
                        else "",
                        msg.share_url,
                        "" if msg.call_duration_s is None else msg.call_duration_s,
                        "; ".join(a.name for a in msg.attachments),
                        "; ".join(ctx.attachment_path(a) for a in msg.attachments if ctx.attachment_path(a)),
                        msg.source_id,
                    ]
                )
                if buf.tell() > 256 * 1024:
                    out.text(buf.getvalue())
                    buf.seek(0)
                    buf.truncate()
            out.text(buf.getvalue())
            buf.seek(0)
            buf.truncate()

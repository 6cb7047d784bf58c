"""HTML transcripts: ``html/<conversation>.html``, one self-contained page per conversation,
written message by message. Everything from the archive is escaped; attachments link to the
production's ``attachments/`` folder."""

from __future__ import annotations

from html import escape

from compliance.exports.collect import XConversation, XMessage
from compliance.exports.formats.base import ExportContext, iso

STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
    ".m{border-bottom:1px solid #eee;padding:.4em 0}.t{color:#777;font-size:.85em}"
    ".s{font-weight:bold}.f{color:#a00;font-size:.85em}.b{white-space:pre-wrap}"
)


def _head(conv: XConversation) -> str:
    people = ", ".join(escape(p.name or p.handle or p.platform_id) for p in conv.participants)
    title = escape(conv.title or conv.platform)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>\n"
        f"<h1>{title}</h1>\n<p>Platform: {escape(conv.platform)} · Conversation {conv.id} · "
        f'Participants: {people}</p>\n<div class="transcript">\n'
    )


def _message(ctx: ExportContext, msg: XMessage) -> str:
    flags = [f for f, on in (("edited", msg.edited), ("deleted", msg.deleted), ("erased", msg.erased)) if on]
    parts = [
        f'<div class="m" id="m{msg.id}"><span class="t">{escape(iso(msg.sent_at))}</span> ',
        f'<span class="s">{escape(ctx.sender_label(msg))}</span>',
    ]
    if flags:
        parts.append(f' <span class="f">[{escape(", ".join(flags))}]</span>')
    if msg.reply_to_id:
        parts.append(f' <a class="t" href="#m{msg.reply_to_id}">reply</a>')
    parts.append(f'<div class="b">{escape(msg.text)}</div>')
    if msg.share_url:
        parts.append(f'<div class="t">Shared: {escape(msg.share_url)}</div>')
    if msg.call_duration_s is not None:
        parts.append(f'<div class="t">Call: {msg.call_duration_s} s</div>')
    for att in msg.attachments:
        path = ctx.attachment_path(att)
        name = escape(att.name or str(att.id))
        parts.append(
            f'<div class="t">Attachment: <a href="../{escape(path)}">{name}</a></div>'
            if path
            else f'<div class="t">Attachment: {name} (not in the production)</div>'
        )
    if msg.reactions:
        parts.append(
            '<div class="t">Reactions: ' + escape(" ".join(str(r[1]) for r in msg.reactions)) + "</div>"
        )
    parts.append("</div>\n")
    return "".join(parts)


def write(ctx: ExportContext) -> None:
    for index, conv in enumerate(ctx.conversations):
        ctx.checkpoint("html", index)
        with ctx.zip.entry(f"html/{conv.id}.html") as out:
            out.text(_head(conv))
            chunk: list[str] = []
            for msg in ctx.messages(conv):
                chunk.append(_message(ctx, msg))
                if len(chunk) >= 500:
                    out.text("".join(chunk))
                    chunk = []
            out.text("".join(chunk) + "</div>\n</body></html>\n")

"""EML: one RFC 5322 message per conversation per day (UTC), ``eml/<conversation>/<date>.eml``.

The body is a plain-text transcript of that day; attachments sent that day ride along as MIME
parts (bytes as the production holds them, subject to the redaction policy). Participants have
no e-mail addresses, so addresses are ``<handle>@<platform>.invalid`` (RFC 2606), which no
mail system will ever deliver to.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from datetime import date
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from compliance.exports.collect import XConversation, XMessage, XParticipant
from compliance.exports.formats.base import ExportContext, iso

MAX_INLINE_ATTACHMENT = 25 * 1024 * 1024


def address(p: XParticipant, platform: str) -> str:
    local = (
        "".join(c if c.isalnum() or c in "._-" else "-" for c in (p.handle or p.platform_id))[:60]
        or "unknown"
    )
    name = (p.name or p.handle or p.platform_id).replace('"', "'")
    return f'"{name}" <{local}@{platform}.invalid>'


def _days(ctx: ExportContext, conv: XConversation) -> Iterator[tuple[date, list[XMessage]]]:
    day: date | None = None
    bucket: list[XMessage] = []
    for msg in ctx.messages(conv):
        d = msg.sent_at.date()
        if day is not None and d != day:
            yield day, bucket
            bucket = []
        day = d
        bucket.append(msg)
    if day is not None:
        yield day, bucket


def transcript_line(ctx: ExportContext, msg: XMessage) -> str:
    flags = "".join(
        f" [{f}]"
        for f, on in (("edited", msg.edited), ("deleted", msg.deleted), ("erased", msg.erased))
        if on
    )
    text = msg.text
    if msg.share_url:
        text = f"{text} <{msg.share_url}>".strip()
    if msg.call_duration_s is not None:
        text = f"{text} (call, {msg.call_duration_s} s)".strip()
    for att in msg.attachments:
        text = f"{text} [attachment: {att.name}]".strip()
    return f"[{iso(msg.sent_at)}] {ctx.sender_label(msg)}{flags}: {text}"


def write(ctx: ExportContext) -> None:
    for index, conv in enumerate(ctx.conversations):
        ctx.checkpoint("eml", index)
        for day, msgs in _days(ctx, conv):
            mail = EmailMessage(policy=email_policy.SMTP)
            senders = [p for p in conv.participants]
            owner = next((p for p in senders if p.is_owner), senders[0] if senders else None)
            mail["From"] = address(owner, conv.platform) if owner else f"archive@{conv.platform}.invalid"
            if senders:
                mail["To"] = ", ".join(address(p, conv.platform) for p in senders)
            mail["Subject"] = f"{conv.title or conv.platform} — {day.isoformat()}"
            mail["Date"] = format_datetime(msgs[0].sent_at)
            mail["Message-ID"] = make_msgid(idstring=f"{conv.id}.{day:%Y%m%d}", domain="dmvault.invalid")
            mail["X-DMVault-Conversation"] = str(conv.id)
            mail["X-DMVault-Platform"] = conv.platform
            mail["X-DMVault-Message-Count"] = str(len(msgs))
            mail["X-DMVault-First-Message"] = str(msgs[0].id)
            mail["X-DMVault-Last-Message"] = str(msgs[-1].id)
            mail.set_content("\n".join(transcript_line(ctx, m) for m in msgs) + "\n")
            for msg in msgs:
                for att in msg.attachments:
                    if not ctx.attachment_path(att) or (att.size or 0) > MAX_INLINE_ATTACHMENT:
                        continue
                    data = ctx.reader.attachment_bytes(att)
                    if data is None:
                        continue
                    ctype = (
                        att.content_type or mimetypes.guess_type(att.name)[0] or "application/octet-stream"
                    )
                    maintype, _, subtype = ctype.partition("/")
                    mail.add_attachment(
                        data,
                        maintype=maintype,
                        subtype=subtype or "octet-stream",
                        filename=att.name or str(att.id),
                    )
            with ctx.zip.entry(f"eml/{conv.id}/{day.isoformat()}.eml") as out:
                out.write(mail.as_bytes())

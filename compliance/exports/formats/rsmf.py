"""RSMF 2.0: each conversation as one or more ``rsmf/<conversation>-<part>.rsmf`` files.

An RSMF file is an RFC 5322 message: ``X-RSMF-Version: 2.0.0``, ``X-RSMF-Generator``,
``X-RSMF-EventCount``, ``X-RSMF-BeginDate``/``X-RSMF-EndDate`` headers, a plain-text body, and
an attachment ``rsmf.zip`` holding ``rsmf_manifest.json`` (participants, conversations, events,
per the published 2.0.0 schema) plus the attachment files it names. Long conversations are split
into parts of at most ``ctx.messages_per_document`` events so no part is unbounded in memory.
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from collections.abc import Iterator
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from compliance.exports.collect import XConversation, XMessage
from compliance.exports.formats.base import ExportContext, attachment_file_name, iso
from compliance.exports.formats.eml import address

VERSION = "2.0.0"
GENERATOR = "DMVault RSMF exporter"
MANIFEST = "rsmf_manifest.json"
MAX_ZIPPED_ATTACHMENT = 25 * 1024 * 1024


def _parts(ctx: ExportContext, conv: XConversation) -> Iterator[list[XMessage]]:
    part: list[XMessage] = []
    for msg in ctx.messages(conv):
        part.append(msg)
        if len(part) >= ctx.messages_per_document:
            yield part
            part = []
    if part:
        yield part


def manifest(
    ctx: ExportContext, conv: XConversation, msgs: list[XMessage]
) -> tuple[dict[str, Any], list[Any]]:
    ids: dict[int, str] = {}
    participants: list[dict[str, Any]] = []

    def pid(participant_id: int | None) -> str | None:
        if participant_id is None:
            return None
        if participant_id not in ids:
            p = ctx.person(participant_id)
            ids[participant_id] = f"P{len(ids) + 1}"
            entry: dict[str, Any] = {"id": ids[participant_id], "display": p.name if p else ""}
            if p and p.platform_id:
                entry["account_id"] = p.platform_id
            if p and p.handle:
                entry["custom"] = [{"name": "Handle", "value": p.handle}]
            participants.append(entry)
        return ids[participant_id]

    members = [pid(p.id) for p in conv.participants]
    custodian = next((p for p in conv.participants if p.is_owner), None)
    conversation: dict[str, Any] = {
        "id": "C1",
        "display": conv.title or conv.platform,
        "platform": conv.platform,
        "type": "direct" if conv.kind == "direct" else "channel",
        "participants": [m for m in members if m],
        "custom": [{"name": "DMVault conversation", "value": str(conv.id)}],
    }
    if custodian is not None:
        conversation["custodian"] = pid(custodian.id)
    in_part = {m.id for m in msgs}
    files: list[Any] = []
    events: list[dict[str, Any]] = []
    for msg in msgs:
        event: dict[str, Any] = {
            "id": str(msg.id),
            "type": "message" if msg.kind != "system" else "history",
            "conversation": "C1",
            "timestamp": iso(msg.sent_at),
            "body": msg.text,
            "deleted": msg.deleted,
        }
        sender = pid(msg.sender_id)
        if sender:
            event["participant"] = sender
            if custodian is not None:
                event["direction"] = "outgoing" if msg.sender_id == custodian.id else "incoming"
        if msg.reply_to_id is not None and msg.reply_to_id in in_part:
            event["parent"] = str(msg.reply_to_id)
        if msg.reactions:
            counts: dict[str, int] = {}
            for r in msg.reactions:
                value = str(r[1] or "?")[:30]
                counts[value] = counts.get(value, 0) + 1
            event["reactions"] = [{"value": v, "count": n} for v, n in counts.items()]
        if msg.edited and msg.previous_versions and sender:
            chain = [*msg.previous_versions, msg.text]
            event["edits"] = [
                {"participant": sender, "previous": a, "new": b} for a, b in itertools.pairwise(chain)
            ]
        custom = []
        if msg.share_url:
            custom.append({"name": "Shared link", "value": msg.share_url})
        if msg.call_duration_s is not None:
            custom.append({"name": "Call seconds", "value": str(msg.call_duration_s)})
        if msg.erased:
            custom.append({"name": "Erased", "value": "content crypto-shredded"})
        if custom:
            event["custom"] = custom
        if msg.attachments:
            event["attachments"] = []
            for att in msg.attachments:
                entry: dict[str, Any] = {
                    "id": attachment_file_name(att),
                    "display": att.name or attachment_file_name(att),
                }
                if att.size is not None:
                    entry["size"] = int(att.size)
                event["attachments"].append(entry)
                if ctx.attachment_path(att):
                    files.append(att)
        events.append(event)
    return {
        "version": VERSION,
        "participants": participants,
        "conversations": [conversation],
        "events": events,
    }, files


def write(ctx: ExportContext) -> None:
    for index, conv in enumerate(ctx.conversations):
        ctx.checkpoint("rsmf", index)
        for part_no, msgs in enumerate(_parts(ctx, conv), start=1):
            data, files = manifest(ctx, conv, msgs)
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(MANIFEST, json.dumps(data, ensure_ascii=False, indent=1))
                for att in files:
                    if (att.size or 0) > MAX_ZIPPED_ATTACHMENT:
                        continue
                    payload = ctx.reader.attachment_bytes(att)
                    if payload is not None:
                        zf.writestr(attachment_file_name(att), payload)
            mail = EmailMessage(policy=email_policy.SMTP)
            owner = next((p for p in conv.participants if p.is_owner), None)
            mail["From"] = address(owner, conv.platform) if owner else f"archive@{conv.platform}.invalid"
            if conv.participants:
                mail["To"] = ", ".join(address(p, conv.platform) for p in conv.participants)
            mail["Subject"] = conv.title or conv.platform
            mail["Date"] = format_datetime(msgs[0].sent_at)
            mail["Message-ID"] = make_msgid(idstring=f"{conv.id}.{part_no}", domain="dmvault.invalid")
            mail["X-RSMF-Version"] = VERSION
            mail["X-RSMF-Generator"] = GENERATOR
            mail["X-RSMF-EventCount"] = str(len(msgs))
            mail["X-RSMF-BeginDate"] = iso(msgs[0].sent_at)
            mail["X-RSMF-EndDate"] = iso(msgs[-1].sent_at)
            mail.set_content(
                f"{conv.title or conv.platform}\n\n{len(msgs)} events, "
                f"{iso(msgs[0].sent_at)} to {iso(msgs[-1].sent_at)}.\n"
            )
            mail.add_attachment(
                inner.getvalue(), maintype="application", subtype="octet-stream", filename="rsmf.zip"
            )
            with ctx.zip.entry(f"rsmf/{conv.id}-{part_no:04d}.rsmf") as out:
                out.write(mail.as_bytes())

"""Data subjects' rights: access and portability (GDPR Art. 15/20) and erasure (Art. 17).

Subject access
    ``subject_access_package(subject_id, path)`` writes a zip with ``data.json`` (machine
    readable: the subject's identities, every conversation they take part in and its messages),
    ``transcript.html`` (the same, readable) and ``manifest.json`` (SHA-256 of each file).
    Third parties are protected: other participants appear as pseudonyms ("Participant 1"),
    their names and handles inside any text are replaced by those pseudonyms, and the text of
    messages third parties wrote additionally goes through the redactor (phone numbers, e-mail
    addresses, card numbers and the like become ``[TYPE]``). Attachments of the messages the
    subject sent are included: their bytes are decrypted through the vault one at a time,
    written to ``attachments/<message id>/<n>-<name>`` in the zip and hashed in the manifest
    (and in ``data.json``). Attachments of third parties' messages are listed (type, size) without
    bytes, their names pseudonymized and redacted like the third parties' text. Erased messages
    appear as erased, without content.

Erasure
    ``erase_subject`` refuses, with the reason, when a legal hold covers the subject (as a
    custodian or through any message they sent) or a compliance lock covers any message they
    sent. Otherwise it removes the exact postings of their messages (from the decrypted text),
    deletes their attachments and unreferenced blobs, replaces their names, handles and platform
    ids in other people's messages and in conversation titles by ``[erased]`` (and drops their
    reactions), crypto-shreds every key scoped to their participants (``shred_participants``:
    their message keys and identity keys), their subject label key and consent evidence key,
    blanks the dead ciphertexts, marks the subject erased, and writes a signed certificate and an
    audit event. Message rows stay as dated tombstones (no content, no key). Each erased
    participant identity is recorded as a keyed hash (``compliance.tombstones``), so importing an
    export that still holds their messages does not bring them back.

    Two-person rule: with ``DMVAULT_ERASURE_TWO_PERSON`` on (or ``two_person=True`` on a
    request), ``request_erasure`` by one admin, ``approve_erasure`` by a different admin, then
    ``execute_erasure``.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.roles import Capability
from archive.models import Attachment, Conversation, DataKey, DataSubject, Message, Participant
from archive.reading import OpenedMessage, open_attachment_meta, open_messages
from archive.vault import KeyDestroyed, Vault, get_vault
from archive.vault.operations import shred_participants
from compliance import certificates, purge
from compliance.engine_models import ErasureRequest

ERASED = "[erased]"
_BATCH = 1000


class ErasureRefused(Exception):
    pass


def create_subject(label: str) -> DataSubject:
    """A data subject with its label sealed under its own key (scope ``s:<id>``)."""
    vault = get_vault()
    subject = DataSubject(dek_id=0)
    subject.dek_id, subject.label_ct = vault.seal_field(
        f"s:{subject.id}", "subject.label", subject.id, label.encode()
    )
    subject.save(force_insert=True)
    return subject


def _identity(p: Participant, vault: Vault) -> dict[str, str] | None:
    if not p.identity_ct:
        return None
    try:
        data: dict[str, str] = json.loads(
            vault.open_field(p.dek_id, "participant.identity", p.id, p.identity_ct)
        )
    except KeyDestroyed:
        return None
    return data


def _names_of(identity: dict[str, str] | None) -> list[str]:
    if not identity:
        return []
    handle = identity.get("handle") or ""
    name = identity.get("name") or ""
    # The full name, and each part of it (people are mostly named by their first name in text).
    values = [name, *name.split(), handle, handle.lstrip("@"), identity.get("id") or ""]
    return [v for v in dict.fromkeys(values) if v and len(v) >= 3]


def _replacer(mapping: dict[str, str]) -> Callable[[str], str]:
    """Case-insensitive whole-word replacement, longest names first."""
    if not mapping:
        return lambda text: text
    lowered = {k.lower(): v for k, v in mapping.items()}
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)) + r")(?!\w)",
        re.IGNORECASE,
    )
    return lambda text: (
        pattern.sub(lambda m: lowered.get(m.group(0).lower(), m.group(0)), text) if text else text
    )


def _conversations_of(participant_ids: list[int]) -> list[int]:
    ids = set(Conversation.objects.filter(participants__in=participant_ids).values_list("id", flat=True))
    ids |= set(
        Message.objects.filter(sender_id__in=participant_ids)
        .values_list("conversation_id", flat=True)
        .distinct()
    )
    return sorted(ids)


def _conv_title(conv: Conversation, vault: Vault) -> str:
    try:
        return vault.open_field(conv.dek_id, "conversation.title", conv.id, conv.title_ct).decode()
    except KeyDestroyed:
        return ""


# --- access -------------------------------------------------------------------------------------------


def _third_party_redactor(known_names: list[str]) -> Callable[[str], str]:
    try:
        from compliance.redaction import Redactor
    except ImportError:  # the redactor is optional: names are still pseudonymized
        return lambda text: text
    redactor = Redactor(known_names=known_names)
    finder = getattr(redactor, "find", None) or redactor.detect

    def redact(text: str) -> str:
        if not text:
            return text
        for f in sorted(finder(text), key=lambda f: f.start, reverse=True):
            text = text[: f.start] + f"[{f.type}]" + text[f.end :]
        return text

    return redact


def _attachments_of(
    message_ids: list[int], vault: Vault
) -> dict[int, list[tuple[dict[str, str], Attachment]]]:
    """Each message's attachments with their opened metadata (name, type), in order."""
    return open_attachment_meta(message_ids, vault)


def _blob_bytes(blob_id: int, vault: Vault) -> bytes | None:
    from django.core.files.storage import storages

    from archive.models import Blob

    blob = Blob.objects.filter(id=blob_id).first()
    if blob is None:
        return None
    with storages["blobs"].open(blob.storage_name, "rb") as fh:
        sealed = fh.read()
    try:
        return Vault.open(
            vault.data_keys_for_read([blob.dek_id]).get(blob.dek_id), blob.dek_id, "blob", blob.id, sealed
        )
    except KeyDestroyed:
        return None


def _zip_name(message_id: int, n: int, name: str) -> str:
    safe = re.sub(r"[^\w.\-]+", "_", name).strip("._")[:100] or "attachment"
    return f"attachments/{message_id}/{n}-{safe}"


def subject_access_data(
    subject_id: int, *, files: dict[str, tuple[int, dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """The package's content. Attachments of the subject's own messages are listed with the zip
    path their bytes go to; when ``files`` is given it receives, per zip path, the blob to write
    there and the listing entry (``subject_access_package`` adds each file's SHA-256 to it)."""
    vault = get_vault()
    subject = DataSubject.objects.get(id=subject_id)
    own = list(Participant.objects.filter(subject_id=subject.id))
    own_ids = {p.id for p in own}
    own_identities = {p.id: _identity(p, vault) for p in own}
    own_platform_ids = {i.get("id") for i in own_identities.values() if i}
    label = ""
    if subject.label_ct:
        try:
            label = vault.open_field(subject.dek_id, "subject.label", subject.id, subject.label_ct).decode()
        except KeyDestroyed:
            label = ""
    pseudonyms: dict[int, str] = {}
    conversations = []
    for conv in Conversation.objects.filter(id__in=_conversations_of(list(own_ids))).order_by("id"):
        others = [p for p in conv.participants.all() if p.id not in own_ids]
        names: dict[str, str] = {}
        platform_ids: dict[str, str] = {}
        for p in others:
            pseudonyms.setdefault(p.id, f"Participant {len(pseudonyms) + 1}")
            ident = _identity(p, vault)
            for n in _names_of(ident):
                names[n] = pseudonyms[p.id]
            if ident and ident.get("id"):
                platform_ids[ident["id"]] = pseudonyms[p.id]
        pseudonymize = _replacer(names)
        redact = _third_party_redactor(list(names))
        ids = list(
            Message.objects.filter(conversation_id=conv.id).order_by("id").values_list("id", flat=True)
        )
        messages = []
        for start in range(0, len(ids), _BATCH):
            attachments = _attachments_of(
                list(
                    Message.objects.filter(
                        id__in=ids[start : start + _BATCH], has_attachment=True
                    ).values_list("id", flat=True)
                ),
                vault,
            )
            for m in open_messages(ids[start : start + _BATCH], vault=vault):
                mine = m.sender_id in own_ids
                sender = (
                    "you"
                    if mine
                    else pseudonyms.setdefault(m.sender_id or 0, f"Participant {len(pseudonyms) + 1}")
                )
                item: dict[str, Any] = {
                    "id": str(m.id),
                    "sent_at": m.sent_at.isoformat(),
                    "from": sender,
                    "kind": m.kind,
                    "edited": m.edited,
                    "deleted": m.deleted,
                    "attachments": [],
                }
                if m.erased:
                    item["erased"] = True
                else:

                    def clean(
                        text: str,
                        mine: bool = mine,
                        pseudonymize: Callable[[str], str] = pseudonymize,
                        redact: Callable[[str], str] = redact,
                    ) -> str:
                        text = pseudonymize(text)
                        return text if mine else redact(text)

                    for k, (meta, att) in enumerate(attachments.get(m.id, []), start=1):
                        entry: dict[str, Any] = {
                            "name": clean(meta.get("name", "")),
                            "type": meta.get("type", ""),
                            "size": att.size,
                        }
                        if mine and att.blob_id is not None:
                            entry["file"] = _zip_name(m.id, k, entry["name"])
                            if files is not None:
                                files[entry["file"]] = (att.blob_id, entry)
                        elif mine:
                            entry["included"] = False
                            entry["reason"] = "the export did not contain the file"
                        else:
                            entry["included"] = False
                            entry["reason"] = "another participant's attachment"
                        item["attachments"].append(entry)
                    item["text"] = clean(m.text)
                    if m.previous_versions:
                        item["previous_versions"] = [clean(v) for v in m.previous_versions]
                    if m.share_url:
                        item["link"] = clean(m.share_url)
                    if m.reactions:
                        item["reactions"] = [
                            {
                                "by": "you"
                                if r[0] in own_platform_ids
                                else platform_ids.get(r[0], "another participant"),
                                "reaction": r[1],
                            }
                            for r in m.reactions
                        ]
                messages.append(item)
        conversations.append(
            {
                "id": str(conv.id),
                "platform": conv.platform,
                "kind": conv.kind,
                "title": pseudonymize(_conv_title(conv, vault)),
                "participants": ["you", *[pseudonyms[p.id] for p in others]],
                "messages": messages,
            }
        )
    return {
        "format": "dmvault-subject-access/v2",
        "generated_at": timezone.now().isoformat(),
        "subject": {
            "id": str(subject.id),
            "label": label,
            "erased_at": subject.erased_at.isoformat() if subject.erased_at else None,
            "identities": [
                {"platform": p.platform, **(own_identities[p.id] or {"erased": True})} for p in own
            ],
        },
        "conversations": conversations,
        "notes": [
            "Other participants are shown as pseudonyms; their personal data inside messages is redacted.",
            "Attachments of your own messages are included (see each attachment's file and SHA-256);"
            " other participants' attachments are listed without their content.",
        ],
    }


def _transcript(data: dict[str, Any]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Your messages</title>",
        "<style>body{font-family:sans-serif;max-width:50em;margin:auto}"
        ".m{margin:.3em 0}.t{color:#666;font-size:.85em}.you{color:#064}</style></head><body>",
        f"<h1>Messages archived about you</h1><p>Generated {e(data['generated_at'])}.</p>",
    ]
    for conv in data["conversations"]:
        parts.append(
            f"<h2>{e(conv['title'] or 'Conversation')} <small>({e(conv['platform'])}, "
            f"{e(', '.join(conv['participants']))})</small></h2>"
        )
        for m in conv["messages"]:
            body = "<em>erased</em>" if m.get("erased") else e(m.get("text", ""))
            for a in m.get("attachments", []):
                label = e(a["name"] or a["type"] or "attachment")
                body += (
                    f" <a href='{e(a['file'])}'>[{label}]</a>"
                    if a.get("file")
                    else f" <span class='t'>[{label}, not included]</span>"
                )
            who = "you" if m["from"] == "you" else ""
            parts.append(
                f"<div class='m'><span class='t'>{e(m['sent_at'])}</span> "
                f"<b class='{who}'>{e(m['from'])}</b>: {body}</div>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def subject_access_package(
    subject_id: int, path: str | Path | IO[bytes], *, requested_by: Any = None
) -> dict[str, str]:
    """Write the subject access zip to ``path``; returns the manifest (file name -> SHA-256)."""
    attachments: dict[str, tuple[int, dict[str, Any]]] = {}
    data = subject_access_data(subject_id, files=attachments)
    vault = get_vault()
    manifest: dict[str, str] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        # The subject's own attachments, one at a time: decrypted, hashed, written.
        for name, (blob_id, entry) in attachments.items():
            content = _blob_bytes(blob_id, vault)
            if content is None:  # shredded or gone since it was listed
                entry.pop("file", None)
                entry.update(included=False, reason="the file is no longer held")
                continue
            entry["sha256"] = manifest[name] = hashlib.sha256(content).hexdigest()
            zf.writestr(name, content)
            del content
        files = {
            "data.json": json.dumps(data, ensure_ascii=False, indent=2).encode(),
            "transcript.html": _transcript(data).encode(),
        }
        for name, content in files.items():
            manifest[name] = hashlib.sha256(content).hexdigest()
            zf.writestr(name, content)
        zf.writestr(
            "manifest.json",
            json.dumps(
                {"algorithm": "sha256", "files": manifest, "generated_at": data["generated_at"]}, indent=2
            ),
        )
    _audit("subject.access", requested_by, subject_id, f"{len(data['conversations'])} conversations")
    return manifest


def _audit(
    action: str,
    actor: Any,
    target_id: Any,
    detail: str = "",
    count: int | None = None,
    outcome: str = "allowed",
) -> None:
    from compliance.audit import record_service_event

    record_service_event(
        action, actor, "data_subject", target_id, detail=detail, count=count, outcome=outcome
    )


@dataclass
class ErasureResult:
    subject_id: int
    dry_run: bool
    refused: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    certificate: Any = None

    @property
    def done(self) -> bool:
        return self.refused is None and not self.dry_run


def two_person_default() -> bool:
    return bool(getattr(settings, "DMVAULT_ERASURE_TWO_PERSON", False))


def blockers(subject_id: int, sent_ids: list[int] | None = None) -> str | None:
    """Why the subject cannot be erased now, or None."""
    from compliance.engine_models import Matter
    from compliance.holds import HoldChecker, message_rows
    from compliance.retention import locked_until

    matters = list(
        Matter.objects.filter(holds__active=True, custodians__id=subject_id)
        .values_list("reference", flat=True)
        .distinct()
    )
    if matters:
        return f"legal hold: the subject is a custodian of {', '.join(sorted(matters))}"
    if sent_ids is None:
        participant_ids = list(Participant.objects.filter(subject_id=subject_id).values_list("id", flat=True))
        sent_ids = list(Message.objects.filter(sender_id__in=participant_ids).values_list("id", flat=True))
    checker = HoldChecker()
    if checker:
        rows = message_rows(sent_ids)
        held = checker.held(rows)
        if held:
            refs = sorted({m for r in rows if r[0] in held for m in checker.matters_of(r)})
            return f"legal hold: {len(held)} of the subject's messages are held ({', '.join(refs)})"
    now = timezone.now()
    locks = [until for until in locked_until(sent_ids).values() if until > now]
    if locks:
        return (
            f"compliance lock: {len(locks)} of the subject's messages are locked until "
            f"{max(locks).date().isoformat()} at the latest"
        )
    return None


def erase_subject(
    subject_id: int,
    requested_by: Any,
    approved_by: Any = None,
    dry_run: bool = False,
    *,
    two_person: bool | None = None,
) -> ErasureResult:
    """Erase a data subject (see the module docstring). Refusals come back in ``refused``."""
    two_person = two_person_default() if two_person is None else two_person
    result = ErasureResult(subject_id, dry_run)
    subject = DataSubject.objects.get(id=subject_id)
    participant_ids = list(Participant.objects.filter(subject_id=subject.id).values_list("id", flat=True))
    sent_ids = sorted(Message.objects.filter(sender_id__in=participant_ids).values_list("id", flat=True))
    reason: str | None = None
    if subject.erased_at is not None and not dry_run:
        reason = "the subject is already erased"
    elif (
        two_person
        and not dry_run
        and (approved_by is None or getattr(approved_by, "pk", None) == getattr(requested_by, "pk", None))
    ):
        reason = "two-person rule: the erasure must be approved by a different administrator"
    else:
        reason = blockers(subject.id, sent_ids)
    keys = DataKey.objects.filter(participant_id__in=participant_ids).count()
    result.counts = {"participants": len(participant_ids), "messages": len(sent_ids), "data_keys": keys}
    if reason:
        result.refused = reason
        if not dry_run:
            _audit("subject.erase", requested_by, subject.id, f"refused: {reason}", outcome="denied")
        return result
    if dry_run:
        return result

    vault = get_vault()
    _audit("subject.erase.start", requested_by, subject.id, f"{len(sent_ids)} messages", count=len(sent_ids))
    # Identities first, while they can still be read: they drive the redaction elsewhere.
    identities = [_identity(p, vault) for p in Participant.objects.filter(id__in=participant_ids)]
    names = {n for ident in identities for n in _names_of(ident)}
    platform_ids = {ident["id"] for ident in identities if ident and ident.get("id")}
    counts = purge.PurgeCounts()
    for start in range(0, len(sent_ids), _BATCH):
        batch = sent_ids[start : start + _BATCH]
        with transaction.atomic():
            counts.postings += purge.remove_postings(batch, vault)
            blob_ids = set(
                Attachment.objects.filter(message_id__in=batch, blob_id__isnull=False).values_list(
                    "blob_id", flat=True
                )
            )
            counts.attachments += Attachment.objects.filter(message_id__in=batch).delete()[0]
            blobs, blob_keys = purge._delete_blobs(blob_ids)
            counts.blobs += blobs
            counts.data_keys += blob_keys
    mentions = _redact_mentions(participant_ids, names, platform_ids, vault)
    with transaction.atomic():
        # Before the keys go: the keyed hashes that keep a re-import from bringing them back.
        from compliance import tombstones

        tombstones.record(participant_ids, subject.id)
        shred = shred_participants(participant_ids)
        counts.data_keys += shred.data_keys
        counts.data_keys += DataKey.objects.filter(id=subject.dek_id).delete()[0]
        from compliance.consent import evidence_scope

        counts.data_keys += DataKey.objects.filter(scope=evidence_scope(subject.id)).delete()[0]
        for start in range(0, len(sent_ids), _BATCH):
            Message.objects.filter(id__in=sent_ids[start : start + _BATCH]).update(
                body_ct=b"", has_attachment=False
            )
        Participant.objects.filter(id__in=participant_ids).update(identity_ct=b"")
        now = timezone.now()
        DataSubject.objects.filter(id=subject.id).update(erased_at=now, label_ct=b"")
        body = {
            "subject_id": str(subject.id),
            "participants": [str(p) for p in sorted(participant_ids)],
            "requested_by": getattr(requested_by, "username", None),
            "approved_by": getattr(approved_by, "username", None),
            "two_person": two_person,
            "erased_at": now.isoformat(),
            "ranges": {
                "first_message_time": purge_time(sent_ids[0]) if sent_ids else None,
                "last_message_time": purge_time(sent_ids[-1]) if sent_ids else None,
            },
            "counts": {
                "messages": len(sent_ids),
                "postings": counts.postings,
                "attachments": counts.attachments,
                "blobs": counts.blobs,
                "data_keys": counts.data_keys,
                "mentions_redacted": mentions,
                "identities_tombstoned": len(participant_ids),
            },
            "message_ids_sha256": certificates.ids_sha256(sent_ids),
        }
        cert = certificates.issue("erasure", body)
        _audit("subject.erase", requested_by, subject.id, f"certificate {cert.id}", count=len(sent_ids))
    result.counts.update(counts.as_dict(), mentions_redacted=mentions, messages=len(sent_ids))
    result.certificate = cert
    return result


def purge_time(mid: int) -> str:
    from archive.ids import id_time

    return id_time(mid).isoformat()


def _redact_mentions(
    participant_ids: list[int], names: set[str], platform_ids: set[str], vault: Vault
) -> int:
    """Replace the subject's names in other people's messages and in conversation titles."""
    replace = _replacer(dict.fromkeys(names, ERASED))
    conv_ids = _conversations_of(participant_ids)
    changed = 0

    def change(msg: OpenedMessage) -> OpenedMessage | None:
        text = replace(msg.text)
        versions = [replace(v) for v in msg.previous_versions]
        reactions = [r for r in msg.reactions if not (r and r[0] in platform_ids)]
        if text == msg.text and versions == msg.previous_versions and reactions == msg.reactions:
            return None
        msg.text, msg.previous_versions, msg.reactions = text, versions, reactions
        return msg

    for conv in Conversation.objects.filter(id__in=conv_ids):
        others = list(
            Message.objects.filter(conversation_id=conv.id)
            .exclude(sender_id__in=participant_ids)
            .order_by("id")
            .values_list("id", flat=True)
        )
        with transaction.atomic():
            changed += purge.rewrite_messages(others, change, vault=vault).rewritten
            title = _conv_title(conv, vault)
            new_title = replace(title)
            if new_title != title:
                key = vault.data_keys_for_read([conv.dek_id])[conv.dek_id]
                Conversation.objects.filter(id=conv.id).update(
                    title_ct=Vault.seal(key, conv.dek_id, "conversation.title", conv.id, new_title.encode())
                )
                changed += 1
    return changed


# --- requests (two-person rule) --------------------------------------------------------------------------


def request_erasure(subject_id: int, requested_by: Any, *, two_person: bool | None = None) -> ErasureRequest:
    if not requested_by.can(Capability.SUBJECT_REQUESTS):
        raise ErasureRefused("requesting an erasure needs the admin role")
    req = ErasureRequest.objects.create(
        subject_id=subject_id,
        requested_by=requested_by,
        two_person=two_person_default() if two_person is None else two_person,
    )
    _audit("subject.erase.request", requested_by, subject_id, f"request {req.id}")
    return req


def approve_erasure(request_id: int, approved_by: Any) -> ErasureRequest:
    with transaction.atomic():
        req = ErasureRequest.objects.select_for_update().get(id=request_id)
        if not approved_by.can(Capability.SUBJECT_REQUESTS):
            raise ErasureRefused("approving an erasure needs the admin role")
        if approved_by.pk == req.requested_by_id:
            raise ErasureRefused("two-person rule: the requester cannot approve their own erasure request")
        if req.state != ErasureRequest.State.PENDING:
            raise ErasureRefused(f"the request is {req.state}")
        req.approved_by, req.approved_at, req.state = (
            approved_by,
            timezone.now(),
            ErasureRequest.State.APPROVED,
        )
        req.save(update_fields=["approved_by", "approved_at", "state"])
        _audit("subject.erase.approve", approved_by, req.subject_id, f"request {req.id}")
    return req


def execute_erasure(request_id: int) -> ErasureResult:
    req = ErasureRequest.objects.select_related("requested_by", "approved_by").get(id=request_id)
    if req.state == ErasureRequest.State.EXECUTED:
        raise ErasureRefused("the request was already executed")
    if req.two_person and req.state != ErasureRequest.State.APPROVED:
        raise ErasureRefused("two-person rule: the request has not been approved by a second administrator")
    result = erase_subject(req.subject_id, req.requested_by, req.approved_by, two_person=req.two_person)
    req.result = {"refused": result.refused, **result.counts}
    if result.refused:
        req.state = ErasureRequest.State.REFUSED
    else:
        req.state, req.executed_at, req.certificate = (
            ErasureRequest.State.EXECUTED,
            timezone.now(),
            result.certificate,
        )
    req.save(update_fields=["result", "state", "executed_at", "certificate"])
    return result

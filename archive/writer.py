"""The archive writer: the one write path every importer, the demo and the benchmarks use.

It takes the importers' plain dataclasses and, batch by batch:

1. computes each message's dedup key (an HMAC, never a plain hash of content) and drops
   messages the archive already holds, so a repeated or overlapping import adds nothing twice;
2. gives each new message its time-ordered id;
3. seals body, reactions and earlier versions under the (conversation, author, month) data key;
4. computes the blind-index tokens of its text;
5. stores attachment bytes encrypted and content-addressed in blob storage;
6. writes keys, messages, attachments and postings in one transaction per batch, bypassing
   the ORM's per-row path (``executemany`` on SQLite, ``COPY`` on PostgreSQL); postings go to
   the month's staging table and are merged into the index in key order when the import
   finishes (archive/index.py says why).

Nothing here logs or raises with content. Progress is reported through a callback.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from archive import index
from archive.ids import LOW_MASK, message_id
from archive.importers.base import ParsedConversation, ParsedMessage, ParsedParticipant
from archive.models import Attachment, Blob, Conversation, DataKey, Message, Participant, Source
from archive.vault import NewDataKey, Vault, get_vault, message_scope

_LINK_RE = re.compile(r"https?://|www\.", re.IGNORECASE)
MAX_ATTACHMENT_BYTES = 512 * 1024 * 1024


@dataclass
class WriteSummary:
    conversations: int = 0
    messages: int = 0
    duplicates: int = 0
    attachments: int = 0
    participants: int = 0
    warnings: list[str] = field(default_factory=list)
    months: set[int] = field(default_factory=set)  # posting months written to (not reported)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "messages": self.messages,
            "duplicates_skipped": self.duplicates,
            "attachments": self.attachments,
            "participants": self.participants,
            "warnings": self.warnings[:100],
        }


def _naive(moment: datetime) -> str:
    # The text form Django's SQLite backend stores for an aware datetime: UTC, no offset.
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(sep=" ")


def month_of(moment: datetime) -> int:
    return moment.year * 100 + moment.month


def identity_payload(p: ParsedParticipant) -> bytes:
    return json.dumps({"id": p.platform_id, "name": p.display_name, "handle": p.handle}).encode()


class ArchiveWriter:
    def __init__(
        self,
        source: Source,
        *,
        vault: Vault | None = None,
        batch_size: int | None = None,
        on_progress: Callable[[int], None] | None = None,
        transform_text: Callable[[str], str] | None = None,
        write_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.source = source
        self.vault = vault or get_vault()
        self.batch_size = batch_size or settings.DMVAULT_WRITE_BATCH
        self.on_progress = on_progress
        # Redaction at ingest (irreversible) plugs in here: the original never reaches the vault.
        self.transform_text = transform_text
        self.summary = WriteSummary()
        # Parallel writers on SQLite take turns through this lock (an OS lock wakes the next
        # writer at once, where SQLite's busy handler sleeps and retries), so one writer's
        # commit overlaps the others' CPU work instead of their back-off sleeps.
        self._write_lock = write_lock or nullcontext()
        self._deks: dict[str, tuple[int, AESGCM]] = {}
        self._month_keys: dict[tuple[int | None, int], tuple[int, AESGCM]] = {}
        self._pending_keys: list[NewDataKey] = []
        self._tokenizers: dict[int, index.Tokenizer] = {}
        self._months: set[int] = set()
        self._participants: dict[tuple[str, str], int] = {}
        self._blobs = storages["blobs"]
        self._vendor = connection.vendor
        # Rows prepared but not yet written: batches span conversations, so a transaction
        # holds ``batch_size`` messages however small the conversations are.
        self._rows: list[tuple[Any, ...]] = []
        self._postings: dict[int, index.PostingBuffer] = {}
        self._stage = index.stages_postings()
        self._staged: dict[int, int] = {}  # postings this writer staged per month since its last merge
        self._attachments: list[Attachment] = []
        self._pending_dedup: set[bytes] = set()
        self._pending_ids: set[int] = set()
        self._pending_platform_ids: dict[tuple[int, str], int] = {}
        self._pending_progress = 0
        self._stale_conversations: set[int] = set()
        self._created_conversations: set[int] = set()

    # -- public ----------------------------------------------------------------------------------
    def write(self, conversations: Iterable[ParsedConversation]) -> WriteSummary:
        self.begin()
        for conv in conversations:
            self.write_conversation(conv)
        return self.finish()

    def begin(self) -> None:
        connection.ensure_connection()
        if self._vendor == "sqlite":
            # Checkpoint the WAL every ~80 MB instead of every 4 MB during a bulk import.
            with connection.cursor() as cur:
                cur.execute("PRAGMA wal_autocheckpoint=20000")
                # A bulk import touches every month's posting table in each batch: give this
                # connection a larger page cache (DMVAULT_WRITE_CACHE_MB) while it writes.
                cur.execute(f"PRAGMA cache_size=-{int(settings.DMVAULT_WRITE_CACHE_MB) * 1024}")
        self._months = index.existing_months()

    def finish(self) -> WriteSummary:
        """Write whatever is still pending and merge the staged postings into the blind index.
        ``write`` calls it; callers of ``write_conversation`` must."""
        self._commit()
        self.merge_staged()
        return self.summary

    def merge_staged(self) -> None:
        """Merge every month's staged postings, this writer's and any a crashed import left:
        one transaction per month, months in one order, so parallel writers never deadlock."""
        if not self._stage:
            return
        for month in sorted(index.existing_months()):
            if index.has_staged(month):
                with self._write_lock, transaction.atomic():
                    index.merge_staged(month)
        self._staged = {}

    def write_conversation(self, conv: ParsedConversation) -> int:
        if not self._months:
            connection.ensure_connection()
            self._months = index.existing_months()
        conv_id = self._upsert_conversation(conv)
        self.summary.conversations += 1
        self._load_message_keys(conv_id)
        seen: Counter[bytes] = Counter()
        batch: list[ParsedMessage] = []
        for msg in conv.messages:
            batch.append(msg)
            if len(batch) >= self.batch_size:
                self._flush(conv, conv_id, batch, seen)
                batch = []
        if batch:
            self._flush(conv, conv_id, batch, seen)
        if self._rows:
            self._stale_conversations.add(conv_id)
        else:
            self._update_conversation_stats(conv_id)
        return conv_id

    # -- conversations and participants ---------------------------------------------------------
    def _upsert_conversation(self, conv: ParsedConversation) -> int:
        dedup = self.vault.keyed_hash(b"conversation", conv.platform, conv.thread_id)
        with self._write_lock, transaction.atomic():
            existing = Conversation.objects.filter(dedup_key=dedup).first()
            if existing is None:
                conv_obj = Conversation(platform=conv.platform, dedup_key=dedup, kind=str(conv.kind))
                dek_id, key = self.vault.data_key(f"c:{conv_obj.id}", conversation_id=conv_obj.id)
                conv_obj.dek_id = dek_id
                conv_obj.title_ct = self.vault.seal(
                    key, dek_id, "conversation.title", conv_obj.id, conv.title.encode()
                )
                conv_obj.thread_ct = self.vault.seal(
                    key, dek_id, "conversation.thread", conv_obj.id, conv.thread_id.encode()
                )
                conv_obj.labels = sorted(set(conv.labels))
                conv_obj.save(force_insert=True)
                self._created_conversations.add(conv_obj.id)
            else:
                conv_obj = existing
                new_labels = sorted(set(existing.labels) | set(conv.labels))
                if new_labels != existing.labels:
                    existing.labels = new_labels
                    existing.save(update_fields=["labels"])
            conv_obj.sources.add(self.source)
            pids = [self._participant_id(conv.platform, p) for p in conv.participants]
            conv_obj.participants.add(*pids)
        return conv_obj.id

    def _participant_id(self, platform: str, p: ParsedParticipant) -> int:
        cache_key = (platform, p.platform_id)
        pid = self._participants.get(cache_key)
        if pid is not None:
            return pid
        dedup = self.vault.keyed_hash(b"participant", platform, p.platform_id)
        row = Participant.objects.filter(dedup_key=dedup).only("id").first()
        if row is None:
            row = Participant(platform=platform, dedup_key=dedup)
            new = self.vault.new_data_key(f"p:{row.id}", participant_id=row.id)
            row.dek_id = new.id
            row.identity_ct = self.vault.seal(
                new.aead, new.id, "participant.identity", row.id, identity_payload(p)
            )
            if p.is_owner and self.source.owner_id:
                row.subject_id = self.source.owner_id
            try:
                with self._write_lock, transaction.atomic():
                    DataKey.objects.create(
                        id=new.id,
                        scope=new.scope,
                        participant_id=row.id,
                        kwk_id=new.kwk_id,
                        wrapped=new.wrapped,
                    )
                    row.save(force_insert=True)
                self.summary.participants += 1
            except IntegrityError:  # a parallel worker stored the same identity first
                row = Participant.objects.only("id").get(dedup_key=dedup)
        self._participants[cache_key] = row.id
        return row.id

    def _sender_id(self, platform: str, platform_id: str | None) -> int | None:
        if platform_id is None:
            return None
        known = self._participants.get((platform, platform_id))
        if known is not None:
            return known
        return self._participant_id(
            platform, ParsedParticipant(platform_id=platform_id, display_name=platform_id)
        )

    # -- messages -------------------------------------------------------------------------------
    def _dedup_key(self, conv: ParsedConversation, msg: ParsedMessage, seen: Counter[bytes]) -> bytes:
        if msg.platform_message_id:
            return self.vault.keyed_hash(
                b"message", conv.platform, conv.thread_id, "id", msg.platform_message_id
            )
        # No platform id (WhatsApp, LinkedIn...): time, sender and a digest of the text, plus the
        # occurrence number, so two identical "ok"s in the same minute stay two messages.
        digest = hashlib.sha256(msg.text.encode()).digest()
        base = self.vault.keyed_hash(
            b"message",
            conv.platform,
            conv.thread_id,
            msg.raw_timestamp or msg.sent_at.isoformat(),
            msg.sender_id or "",
            digest,
        )
        seen[base] += 1
        return self.vault.keyed_hash(b"occurrence", base, str(seen[base]))

    def _load_message_keys(self, conv_id: int) -> None:
        """Unwrap the conversation's existing message keys once, instead of a query per scope.
        Only the current conversation's keys are held, so memory stays flat."""
        self._month_keys = {}
        self._deks = {
            row.scope: (row.id, self.vault._unwrap_dek(row))
            for row in DataKey.objects.filter(conversation_id=conv_id, scope__startswith="m:")
        }
        # Keys made earlier in this run and not yet written (the same thread can come twice,
        # e.g. a conversation split over two parts of an X archive).
        self._deks.update(
            (k.scope, (k.id, k.aead)) for k in self._pending_keys if k.conversation_id == conv_id
        )

    def _message_key(self, conv_id: int, author_id: int | None, month: int) -> tuple[int, AESGCM]:
        cached = self._month_keys.get((author_id, month))
        if cached is not None:
            return cached
        scope = message_scope(conv_id, author_id, month)
        cached = self._deks.get(scope)
        if cached is not None:
            self._month_keys[(author_id, month)] = cached
            return cached
        new = self.vault.new_data_key(scope, conversation_id=conv_id, participant_id=author_id, month=month)
        self._pending_keys.append(new)
        cached = self._deks[scope] = self._month_keys[(author_id, month)] = (new.id, new.aead)
        return cached

    def _tokenizer(self, month: int) -> index.Tokenizer:
        tok = self._tokenizers.get(month)
        if tok is None:
            with self._write_lock:
                if month not in self._months:
                    index.ensure_partition(month)
                    self._months.add(month)
                tok = index.tokenizer_for(self.vault, month, create=True)
            assert tok is not None
            self._tokenizers[month] = tok
        return tok

    def _flush(
        self, conv: ParsedConversation, conv_id: int, batch: list[ParsedMessage], seen: Counter[bytes]
    ) -> None:
        keys = [self._dedup_key(conv, m, seen) for m in batch]
        # A conversation this run created cannot hold stored messages yet: skip the lookup.
        existing = set() if conv_id in self._created_conversations else self._existing("dedup_key", keys)
        fresh: list[tuple[bytes, ParsedMessage]] = []
        batch_keys = self._pending_dedup
        for key, msg in zip(keys, batch, strict=True):
            if key in existing or key in batch_keys:
                self.summary.duplicates += 1
                continue
            batch_keys.add(key)
            fresh.append((key, msg))
        self._pending_progress += len(batch)
        if not fresh:
            if not self._rows:
                self._progress()
            return

        ids = [message_id(m.sent_at, k) for k, m in fresh]
        ids = self._unique_ids(ids)
        reply_ids = self._resolve_replies(conv, conv_id, fresh, ids)

        message_rows = self._rows
        postings = self._postings
        attachment_rows = self._attachments
        now = timezone.now()
        for (key, msg), mid in zip(fresh, ids, strict=True):
            sender = self._sender_id(conv.platform, msg.sender_id)
            sent_at = msg.sent_at.astimezone(UTC)
            month = month_of(sent_at)
            dek_id, dek = self._message_key(conv_id, sender, month)
            text = self.transform_text(msg.text) if self.transform_text and msg.text else msg.text
            body: dict[str, Any] = {"t": text}
            if msg.reactions:
                body["r"] = [
                    [r.actor_id, r.reaction, r.timestamp.isoformat() if r.timestamp else None]
                    for r in msg.reactions
                ]
            # Redaction at ingest covers everything a person wrote: earlier versions and shared
            # links too (a link can carry a token or an address).
            transform = self.transform_text
            if msg.previous_versions:
                body["v"] = (
                    [transform(v) for v in msg.previous_versions] if transform else msg.previous_versions
                )
            share_url = transform(msg.share_url) if transform and msg.share_url else msg.share_url
            if share_url:
                body["u"] = share_url
            if msg.call_duration_s is not None:
                body["d"] = msg.call_duration_s
            # Most messages are text alone: encode that JSON directly (same bytes as json.dumps).
            payload = (
                f'{{"t": {json.dumps(text, ensure_ascii=False)}}}'
                if len(body) == 1
                else json.dumps(body, ensure_ascii=False)
            )
            sealed = Vault.seal(dek, dek_id, "message.body", mid, payload.encode())
            tok = self._tokenizer(month)
            month_rows = postings.get(month)
            if month_rows is None:
                month_rows = postings[month] = index.PostingBuffer()
            words = index.message_terms(text, (share_url,))
            try:  # the common case, every term already cached: one C-level loop
                tokens = list(map(tok.cache.__getitem__, words))
            except KeyError:
                tokens = [tok.token(term) for term in words]
            month_rows.add(tokens, mid)
            if tok.prefixes:
                month_rows.add([tok.prefix_token(p) for p in index.prefix_terms(words)], mid)
            if tok.pairs:
                month_rows.add([tok.pair_token(p) for p in index.pair_terms(text)], mid)
            for att in msg.attachments:
                attachment_rows.append(self._attachment(mid, sender, dek_id, dek, att))
            message_rows.append(
                (
                    mid,
                    conv_id,
                    sender,
                    self.source.id,
                    sent_at,
                    msg.raw_timestamp[:64],
                    str(msg.kind),
                    msg.edited,
                    msg.deleted,
                    bool(msg.attachments),
                    bool(_LINK_RE.search(text)) or bool(share_url),
                    reply_ids.get(msg.reply_to),
                    key,
                    dek_id,
                    sealed,
                    now,
                )
            )
            if msg.platform_message_id:
                self._pending_platform_ids[(conv_id, msg.platform_message_id)] = mid
        if len(self._rows) >= self.batch_size:
            self._commit()

    def _commit(self) -> None:
        if self._rows or self._pending_keys:
            with self._write_lock, transaction.atomic():
                self._write_keys()
                self._rows.sort(key=itemgetter(0))  # id order: neighbouring rows share B-tree pages
                self._insert_messages(self._rows)
                if self._attachments:
                    Attachment.objects.bulk_create(self._attachments, batch_size=500)
                for month, buffer in self._postings.items():
                    if not self._stage:
                        # B-tree order: neighbouring inserts touch the same pages.
                        index.insert_postings(month, buffer.sorted_rows())
                        continue
                    index.stage_postings(month, buffer.rows())  # merged into the month's B-tree later
                    self._staged[month] = self._staged.get(month, 0) + len(buffer)
                    if self._staged[month] >= index.STAGE_MERGE_ROWS:
                        index.merge_staged(month)
                        self._staged[month] = 0
            self.summary.messages += len(self._rows)
            self.summary.attachments += len(self._attachments)
            self.summary.months.update(self._postings)
        self._rows, self._postings, self._attachments = [], {}, []
        self._pending_dedup, self._pending_ids, self._pending_platform_ids = set(), set(), {}
        with self._write_lock:
            for conv_id in self._stale_conversations:
                self._update_conversation_stats(conv_id)
        self._stale_conversations = set()
        self._progress()

    def _progress(self) -> None:
        if self.on_progress and self._pending_progress:
            self.on_progress(self._pending_progress)
        self._pending_progress = 0

    def _existing(self, column: str, values: list[Any]) -> set[Any]:
        """Which of ``values`` the message table already holds in ``column`` (``id`` or
        ``dedup_key``). Raw SQL: building an ORM query with hundreds of parameters costs more
        than the index lookups themselves."""
        assert column in {"id", "dedup_key"}
        found: set[Any] = set()
        with connection.cursor() as cur:
            for start in range(0, len(values), 900):
                chunk = values[start : start + 900]
                marks = ", ".join(["%s"] * len(chunk))
                cur.execute(f"SELECT {column} FROM archive_message WHERE {column} IN ({marks})", chunk)
                found.update(bytes(v) if isinstance(v, memoryview) else v for (v,) in cur.fetchall())
        return found

    def _unique_ids(self, ids: list[int]) -> list[int]:
        """Time-ordered ids take 22 low bits from the dedup key; on the rare clash (in the batch
        or with a stored message of the same millisecond) step to the next free low value."""
        taken = self._existing("id", ids)
        out: list[int] = []
        used = self._pending_ids
        for mid in ids:
            candidate = mid
            while candidate in taken or candidate in used:
                candidate = (candidate & ~LOW_MASK) | (((candidate & LOW_MASK) + 1) & LOW_MASK)
                if candidate in taken or candidate in used:
                    continue
                if Message.objects.filter(id=candidate).exists():
                    taken.add(candidate)
            used.add(candidate)
            out.append(candidate)
        return out

    def _resolve_replies(
        self, conv: ParsedConversation, conv_id: int, fresh: list[tuple[bytes, ParsedMessage]], ids: list[int]
    ) -> dict[str, int]:
        wanted = {m.reply_to for _, m in fresh if m.reply_to}
        if not wanted:
            return {}
        pending = {
            pid: self._pending_platform_ids[(conv_id, pid)]
            for pid in wanted
            if (conv_id, pid) in self._pending_platform_ids
        }
        resolved = pending | {
            m.platform_message_id: mid
            for (_, m), mid in zip(fresh, ids, strict=True)
            if m.platform_message_id in wanted
        }
        missing = wanted - set(resolved)
        if missing:
            by_key = {
                self.vault.keyed_hash(b"message", conv.platform, conv.thread_id, "id", pid): pid
                for pid in missing
            }
            for dedup, mid in Message.objects.filter(dedup_key__in=list(by_key)).values_list(
                "dedup_key", "id"
            ):
                resolved[by_key[bytes(dedup)]] = mid
        return resolved

    def _write_keys(self) -> None:
        if not self._pending_keys:
            return
        DataKey.objects.bulk_create(
            [
                DataKey(
                    id=k.id,
                    scope=k.scope,
                    conversation_id=k.conversation_id,
                    participant_id=k.participant_id,
                    month=k.month,
                    kwk_id=k.kwk_id,
                    wrapped=k.wrapped,
                )
                for k in self._pending_keys
            ],
            batch_size=500,
        )
        self._pending_keys = []

    _MESSAGE_COLUMNS = (
        "id",
        "conversation_id",
        "sender_id",
        "source_id",
        "sent_at",
        "raw_timestamp",
        "kind",
        "edited",
        "deleted",
        "has_attachment",
        "has_link",
        "reply_to_id",
        "dedup_key",
        "dek_id",
        "body_ct",
        "imported_at",
    )

    def _insert_messages(self, rows: list[tuple[Any, ...]]) -> None:
        cols = ", ".join(self._MESSAGE_COLUMNS)
        if self._vendor == "postgresql":
            with (
                connection.connection.cursor() as cur,
                cur.copy(f"COPY archive_message ({cols}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        elif self._vendor == "sqlite":
            placeholders = ", ".join("?" * len(self._MESSAGE_COLUMNS))
            converted = [(*r[:4], _naive(r[4]), *r[5:15], _naive(r[15])) for r in rows]
            connection.connection.executemany(
                f"INSERT INTO archive_message ({cols}) VALUES ({placeholders})", converted
            )
        else:  # any other backend Django supports: the slower ORM path
            Message.objects.bulk_create(
                [Message(**dict(zip(self._MESSAGE_COLUMNS, r, strict=True))) for r in rows]
            )

    # -- attachments ----------------------------------------------------------------------------
    def _attachment(self, mid: int, sender: int | None, dek_id: int, dek: AESGCM, att: Any) -> Attachment:
        row = Attachment(message_id=mid, size=att.size)
        meta = {"name": att.name, "type": att.content_type, "uri": att.uri}
        if att.open is not None:
            try:
                with att.open() as fh:
                    data = fh.read(MAX_ATTACHMENT_BYTES + 1)
            except (OSError, KeyError):
                data = None
                self.summary.warnings.append("an attachment named in the export is missing from it")
            if data is not None and len(data) <= MAX_ATTACHMENT_BYTES:
                row.blob_id = self._store_blob(data, sender)
                row.size = len(data)
            elif data is not None:
                self.summary.warnings.append("an attachment over the size limit was not stored")
        row.meta_ct = Vault.seal(dek, dek_id, "attachment.meta", row.id, json.dumps(meta).encode())
        return row

    def _store_blob(self, data: bytes, sender: int | None) -> int:
        content_key = self.vault.keyed_hash(b"blob", hashlib.sha256(data).digest())
        existing = Blob.objects.filter(content_key=content_key).values_list("id", flat=True).first()
        if existing is not None:
            return existing
        blob = Blob(content_key=content_key, size=len(data))
        new = self.vault.new_data_key(f"b:{blob.id}", participant_id=sender)
        self._pending_keys.append(new)
        hexname = content_key.hex()
        sealed = Vault.seal(new.aead, new.id, "blob", blob.id, data)
        blob.storage_name = self._blobs.save(f"{hexname[:2]}/{hexname[2:4]}/{hexname}", ContentFile(sealed))
        blob.dek_id = new.id
        try:
            with self._write_lock, transaction.atomic():
                self._write_keys()
                blob.save(force_insert=True)
        except IntegrityError:  # a parallel worker stored the same bytes first
            self._blobs.delete(blob.storage_name)
            DataKey.objects.filter(id=new.id).delete()
            return Blob.objects.values_list("id", flat=True).get(content_key=content_key)
        return blob.id

    def _update_conversation_stats(self, conv_id: int) -> None:
        stats = Message.objects.filter(conversation_id=conv_id).aggregate(
            n=Count("id"), first=Min("sent_at"), last=Max("sent_at")
        )
        Conversation.objects.filter(id=conv_id).update(
            message_count=stats["n"], first_message_at=stats["first"], last_message_at=stats["last"]
        )

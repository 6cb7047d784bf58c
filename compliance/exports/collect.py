"""What a production holds, read back from the archive one conversation at a time.

``resolve_scope`` turns a job's scope into conversation ids (and, for a query, the matching
message ids). ``Reader`` opens conversation metadata, participants and attachment metadata,
and streams a conversation's messages in id order in batches through
``archive.reading.open_messages`` (the only decryption path for messages), applying the
export's redaction as it goes. Only ``done`` sources are exported, as search sees them, and only
what the requester's review scope (``accounts.scope.scope_for``) holds: the job's scope is
intersected with it when the job runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.files.storage import storages

from archive.models import Attachment, Blob, Conversation, Message, Participant, Source
from archive.reading import open_messages
from archive.vault import KeyDestroyed, Vault, get_vault
from compliance.exports.redact import ExportRedactor

if TYPE_CHECKING:
    from archive.search.service import SearchScope

BATCH = 1000


class ScopeError(ValueError):
    """The job's scope cannot be resolved (unknown saved search, no compliance engine...)."""


@dataclass
class XParticipant:
    id: int
    platform_id: str
    name: str
    handle: str
    is_owner: bool = False


@dataclass
class XAttachment:
    id: int
    message_id: int
    name: str
    content_type: str
    uri: str
    size: int | None
    blob_id: int | None
    path: str = ""  # where the production holds the bytes ("" when it does not)


@dataclass
class XMessage:
    id: int
    conversation_id: int
    sender_id: int | None
    sent_at: datetime
    raw_timestamp: str
    kind: str
    edited: bool
    deleted: bool
    reply_to_id: int | None
    source_id: int
    text: str = ""
    reactions: list[Any] = field(default_factory=list)
    previous_versions: list[str] = field(default_factory=list)
    share_url: str = ""
    call_duration_s: int | None = None
    erased: bool = False
    attachments: list[XAttachment] = field(default_factory=list)


@dataclass
class XConversation:
    id: int
    platform: str
    kind: str
    title: str
    thread_id: str
    labels: list[str]
    participants: list[XParticipant]
    source_ids: list[int]
    erased: bool = False


@dataclass
class Selection:
    conversation_ids: list[int]
    message_ids: set[int] | None = None  # None: every message of those conversations
    id_ranges: list[tuple[int, int]] = field(default_factory=list)  # [low, high) message ids; [] = all
    within: SearchScope | None = None  # the requester's review scope; None = no limit

    def rows(self, qs: Any) -> Any:
        """``qs`` (archive.Message rows) limited to the requester's review scope."""
        return qs if self.within is None else qs.filter(self.within.message_q())

    def wants(self, message_id: int) -> bool:
        if self.message_ids is not None and message_id not in self.message_ids:
            return False
        return not self.id_ranges or any(lo <= message_id < hi for lo, hi in self.id_ranges)


# -- scope ------------------------------------------------------------------------------------


def matter_scope(matter_id: int) -> tuple[set[int] | None, list[tuple[int, int]], str]:
    """A matter's conversations (``None``: the whole archive), message-id ranges of its date
    ranges, and its query, from the compliance engine (``compliance.engine_models.Matter``).

    Listed custodians, sources and conversations select whole conversations (a production keeps
    a conversation's context together); date ranges and the query then narrow the messages.
    """
    from compliance.engine_models import Matter
    from compliance.holds import matter_coverage, matter_id_ranges, matter_query

    try:
        matter = Matter.objects.get(id=matter_id)
    except Matter.DoesNotExist:
        raise ScopeError(f"matter {matter_id} does not exist") from None
    covered = matter_coverage([matter.id])[matter.id]
    if not covered.listed:
        return None, matter_id_ranges(matter), matter_query(matter)
    convs = set(covered.conversations)
    if covered.sources:  # a production takes whole conversations, so a source's conversations
        convs |= set(
            Conversation.objects.filter(sources__id__in=covered.sources).values_list("id", flat=True)
        )
    return convs, matter_id_ranges(matter), matter_query(matter)


def query_message_ids(query: str, within: SearchScope | None = None) -> set[int]:
    from archive.search.service import SearchScope, search

    ids: set[int] = set()
    cursor: str | None = None
    while True:
        result = search(
            query,
            scope=within or SearchScope.everything(),
            order="oldest",
            limit=500,
            cursor=cursor,
            max_candidates=10_000_000,
        )
        ids.update(hit.message.id for hit in result.items)
        cursor = result.next_cursor
        if not cursor:
            return ids


def resolve_scope(
    *,
    query: str = "",
    saved_search_id: int | None = None,
    owner: Any = None,
    matter_id: int | None = None,
    conversation_ids: Iterable[int] = (),
    data_subject_id: int | None = None,
    within: SearchScope | None = None,
) -> Selection:
    """Every axis given must hold. No axis at all is refused: a production is never 'everything'
    by accident. ``within`` (the requester's review scope) limits every axis: queries run inside
    it, only conversations with a message in it are chosen, and only its messages are read."""
    sets: list[set[int]] = []
    message_ids: set[int] | None = None
    conversation_ids = [int(c) for c in conversation_ids]
    queries = [query] if query else []
    if saved_search_id is not None:
        from archive.search.service import get_saved_search

        try:
            saved = get_saved_search(owner=owner, saved_id=saved_search_id)
        except Exception as exc:
            raise ScopeError(f"saved search {saved_search_id} is not available to the requester") from exc
        # Each query runs on its own and their matches are intersected: gluing them into one
        # query string would put filters inside parentheses, which the language refuses.
        queries.append(saved.query)
    for text in queries:
        matched = query_message_ids(text, within)
        message_ids = matched if message_ids is None else message_ids & matched
    if message_ids is not None:
        sets.append(
            set(Message.objects.filter(id__in=list(message_ids)).values_list("conversation_id", flat=True))
            if len(message_ids) < 20_000
            else _conversations_of_messages(message_ids)
        )
    id_ranges: list[tuple[int, int]] = []
    if matter_id is not None:
        matter_convs, id_ranges, matter_q = matter_scope(matter_id)
        if matter_convs is not None:
            sets.append(matter_convs)
        elif not sets and not conversation_ids and data_subject_id is None:
            sets.append(set(Conversation.objects.values_list("id", flat=True)))
        if matter_q:
            matter_ids = query_message_ids(matter_q, within)
            message_ids = matter_ids if message_ids is None else message_ids & matter_ids
            sets.append(_conversations_of_messages(matter_ids))
    if conversation_ids:
        sets.append(set(conversation_ids))
    if data_subject_id is not None:
        sets.append(
            set(
                Conversation.objects.filter(participants__subject_id=data_subject_id).values_list(
                    "id", flat=True
                )
            )
        )
    if not sets:
        raise ScopeError("an export needs a scope: a query, saved search, matter, conversations or subject")
    chosen = set.intersection(*sets)
    rows = Conversation.objects.filter(id__in=list(chosen))
    if within is not None:
        rows = rows.filter(within.covers_conversation_q())
    ordered = list(rows.order_by("first_message_at", "id").values_list("id", flat=True))
    return Selection(ordered, message_ids, id_ranges, within)


def _conversations_of_messages(ids: set[int]) -> set[int]:
    found: set[int] = set()
    items = list(ids)
    for start in range(0, len(items), 5000):
        found.update(
            Message.objects.filter(id__in=items[start : start + 5000]).values_list(
                "conversation_id", flat=True
            )
        )
    return found


# -- reading ------------------------------------------------------------------------------------


class Reader:
    def __init__(self, selection: Selection, redactor: ExportRedactor, *, vault: Vault | None = None) -> None:
        self.selection = selection
        self.redactor = redactor
        self.vault = vault or get_vault()
        self._people: dict[int, XParticipant] = {}
        self._raw_names: dict[int, tuple[str, ...]] = {}
        self._blobs = storages["blobs"]

    # -- conversations and people -------------------------------------------------------------
    def conversations(self) -> Iterator[XConversation]:
        for start in range(0, len(self.selection.conversation_ids), 200):
            chunk = self.selection.conversation_ids[start : start + 200]
            rows = {c.id: c for c in Conversation.objects.filter(id__in=chunk)}
            for cid in chunk:
                if cid in rows:
                    yield self.conversation(rows[cid])

    def conversation(self, conv: Conversation) -> XConversation:
        key = self.vault.data_keys_for_read([conv.dek_id]).get(conv.dek_id)
        erased = False
        try:
            title = Vault.open(key, conv.dek_id, "conversation.title", conv.id, conv.title_ct).decode()
            thread = Vault.open(key, conv.dek_id, "conversation.thread", conv.id, conv.thread_ct).decode()
        except KeyDestroyed:
            title, thread, erased = "", f"erased-{conv.id}", True
        if self.redactor.active and self.redactor.policy.participant_names != "keep":
            thread = f"thread-{conv.id}"  # platform thread ids can be built from people's names
        source_ids = sorted(conv.sources.values_list("id", flat=True))
        owners = set(
            Source.objects.filter(id__in=source_ids, owner__isnull=False).values_list("owner_id", flat=True)
        )
        people = self.participants(list(conv.participants.values_list("id", flat=True)), owners)
        self.redactor.for_conversation([n for p in people for n in self._raw_names.get(p.id, ())])
        return XConversation(
            id=conv.id,
            platform=conv.platform,
            kind=conv.kind,
            title=self.redactor.text(title),
            thread_id=thread,
            labels=list(conv.labels),
            participants=people,
            source_ids=source_ids,
            erased=erased,
        )

    def participants(self, ids: list[int], owners: set[int] | None = None) -> list[XParticipant]:
        missing = [i for i in ids if i not in self._people]
        if missing:
            rows = list(Participant.objects.filter(id__in=missing))
            keys = self.vault.data_keys_for_read(r.dek_id for r in rows)
            for row in rows:
                try:
                    ident = json.loads(
                        Vault.open(
                            keys.get(row.dek_id), row.dek_id, "participant.identity", row.id, row.identity_ct
                        )
                    )
                except KeyDestroyed:
                    ident = {"id": f"erased-{row.id}", "name": "", "handle": ""}
                raw_id, raw_name, raw_handle = (
                    ident.get("id", ""),
                    ident.get("name", ""),
                    ident.get("handle", ""),
                )
                self._raw_names[row.id] = (raw_name, raw_handle)
                pid, name, handle = self.redactor.participant(row.id, raw_id, raw_name, raw_handle)
                self._people[row.id] = XParticipant(
                    row.id, pid, name, handle, is_owner=bool(owners and row.subject_id in owners)
                )
        return [self._people[i] for i in ids if i in self._people]

    def person(self, participant_id: int | None) -> XParticipant | None:
        if participant_id is None:
            return None
        if participant_id not in self._people:
            self.participants([participant_id])
        return self._people.get(participant_id)

    # -- messages ---------------------------------------------------------------------------------
    def messages(self, conv: XConversation) -> Iterator[XMessage]:
        """The conversation's messages in scope, oldest first, ``BATCH`` at a time."""
        filtered = self.selection.message_ids is not None or bool(self.selection.id_ranges)
        last = -1
        base = self.selection.rows(
            Message.objects.filter(conversation_id=conv.id, source__status=Source.Status.DONE)
        )
        while True:
            rows = list(
                base.filter(id__gt=last)
                .order_by("id")
                .values_list("id", "raw_timestamp", "reply_to_id", "source_id")[:BATCH]
            )
            if not rows:
                return
            last = rows[-1][0]
            if filtered:
                rows = [r for r in rows if self.selection.wants(r[0])]
            if not rows:
                continue
            plain = {r[0]: r for r in rows}
            opened = open_messages([r[0] for r in rows], vault=self.vault)
            attachments = self._attachments([m.id for m in opened if m.has_attachment])
            for m in opened:
                _, raw_ts, reply_to, source_id = plain[m.id]
                yield XMessage(
                    id=m.id,
                    conversation_id=m.conversation_id,
                    sender_id=m.sender_id,
                    sent_at=m.sent_at,
                    raw_timestamp=raw_ts,
                    kind=m.kind,
                    edited=m.edited,
                    deleted=m.deleted,
                    reply_to_id=reply_to,
                    source_id=source_id,
                    text=self.redactor.text(m.text),
                    reactions=[self._reaction(r) for r in m.reactions],
                    previous_versions=[self.redactor.text(v) for v in m.previous_versions],
                    share_url=self.redactor.text(m.share_url),
                    call_duration_s=m.call_duration_s,
                    erased=m.erased,
                    attachments=attachments.get(m.id, []),
                )

    def attachments(self, conv: XConversation) -> Iterator[XAttachment]:
        """The conversation's attachments in scope, without opening any message body."""
        filtered = self.selection.message_ids is not None or bool(self.selection.id_ranges)
        last = -1
        base = self.selection.rows(
            Message.objects.filter(
                conversation_id=conv.id, has_attachment=True, source__status=Source.Status.DONE
            )
        )
        while True:
            ids = list(base.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:BATCH])
            if not ids:
                return
            last = ids[-1]
            if filtered:
                ids = [i for i in ids if self.selection.wants(i)]
            for atts in self._attachments(ids).values():
                yield from atts

    def _reaction(self, r: Any) -> list[Any]:
        actor, value, ts = ([*list(r), None, None, None])[:3]
        if self.redactor.active and self.redactor.policy.participant_names != "keep":
            actor = "redacted"
        return [actor, value, ts]

    def _attachments(self, message_ids: list[int]) -> dict[int, list[XAttachment]]:
        if not message_ids:
            return {}
        dek_of = dict(Message.objects.filter(id__in=message_ids).values_list("id", "dek_id"))
        keys = self.vault.data_keys_for_read(dek_of.values())
        out: dict[int, list[XAttachment]] = {}
        for att in Attachment.objects.filter(message_id__in=message_ids).order_by("message_id", "id"):
            dek_id = dek_of[att.message_id]
            try:
                meta = json.loads(
                    Vault.open(keys.get(dek_id), dek_id, "attachment.meta", att.id, att.meta_ct)
                )
            except KeyDestroyed:
                continue
            name = self.redactor.attachment_name(att.id, meta.get("name", ""))
            uri = meta.get("uri", "")
            if self.redactor.active:
                uri = self.redactor.attachment_name(att.id, uri.rsplit("/", 1)[-1]) if uri else ""
            out.setdefault(att.message_id, []).append(
                XAttachment(att.id, att.message_id, name, meta.get("type", ""), uri, att.size, att.blob_id)
            )
        return out

    def attachment_bytes(self, att: XAttachment) -> bytes | None:
        if att.blob_id is None:
            return None
        blob = Blob.objects.filter(id=att.blob_id).first()
        if blob is None:
            return None
        with self._blobs.open(blob.storage_name, "rb") as fh:
            sealed = fh.read()
        key = self.vault.data_keys_for_read([blob.dek_id]).get(blob.dek_id)
        try:
            return Vault.open(key, blob.dek_id, "blob", blob.id, sealed)
        except KeyDestroyed:
            return None

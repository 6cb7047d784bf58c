"""The one search service: the API, the UI and exports all call :func:`search`.

How a query runs (see ``archive.search.query`` for the language):

1. The query is parsed; filters become conditions on plain message columns: participants are
   resolved to participant ids (by the keyed hash of a platform id, otherwise by decrypting the
   identities of the participants in the searcher's scope, once per request), platforms, labels
   and participants to conversation ids, dates to an id range (ids are time-ordered).
2. Words go through the blind index (``archive.search.engine``): AND of groups, OR inside a
   group, excluded words as ``NOT EXISTS``, filters joined on the message rows. A phrase also
   brings its word pairs, looked up instead of its words in months that have pair tokens.
3. Phrases, long prefixes, words the normalizer splits, and all exclusions are checked on the
   decrypted text of the candidates, fetched in growing batches until the page is full (or the
   ``max_candidates`` budget, 2,000 decryptions by default, is spent: the result is then
   ``truncated`` and ``next_cursor`` resumes the scan where it stopped; exports pass a larger
   budget). Excluded single words are also dropped early in SQL (``NOT EXISTS`` on the same
   tokens the positive search uses), which only saves decryptions: the decrypted check
   decides. Without a post-check only the page itself is decrypted. A query without words
   scans the message table in id order with its filters.
4. Scope: only messages of sources whose ``status`` is ``done`` and inside the caller's
   :class:`SearchScope` are ever looked at, counted or shown as context.

Counts: ``count`` is exact when ``count_exact`` is true, otherwise it is a lower bound ("at
least N"): index-only queries count up to ``count_cap`` (default 500) matches, on the first page in the
same pass over the index that finds the page (pass
``count_cap=0`` on later pages to skip counting: ``count`` is then the page's size, "at least");
queries with a post-check can only count what they verified, so they are exact only when the
whole result fit in one call. Messages whose key has been shredded never match a text query (their text cannot
be checked); a filters-only query lists them, marked ``erased``.

Cursors are opaque strings signed with ``django.core.signing`` and bound to the query, order,
time zone and scope; pages never repeat or skip a message, because the cursor is a message id.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from archive import index
from archive.ids import id_floor
from archive.models import Conversation, Message, Participant, SavedSearch, Source
from archive.reading import KeyCache, OpenedMessage, open_messages
from archive.search.engine import (
    IdRange,
    IndexQuery,
    IndexTerm,
    MessageFilter,
    count_matching,
    find_matching,
    months_without_prefixes,
)
from archive.search.query import (
    Filter,
    ParsedQuery,
    QuerySyntaxError,
    Term,
    parse,
    phrase_tokens,
    time_bounds,
)
from archive.vault import Vault, get_vault
from archive.vault.blind_index import _CJK_RE, _TERM_RE, normalize
from compliance.redaction_service import PresentedMessage, Viewer, redact_for_viewer

Order = Literal["newest", "oldest"]
MAX_LIMIT = 500
MAX_CONTEXT = 20
_CURSOR_SALT = "dmvault.search.cursor"


class InvalidCursor(ValueError):
    """A cursor that was tampered with, or belongs to another query, order or scope."""


@dataclass(frozen=True)
class SearchScope:
    """What the searcher may see, built by the caller from the user (for a person:
    ``accounts.scope.scope_for``). ``None`` means no limit on that axis; both given means both
    must hold; ``also_conversation_ids`` adds every message of those conversations whatever the
    other two say (an assignment of sources *or* conversations). So a message is visible when
    ``(source in source_ids and conversation in conversation_ids) or conversation in
    also_conversation_ids``. Sources that are not ``done`` are never visible."""

    source_ids: frozenset[int] | None = None
    conversation_ids: frozenset[int] | None = None
    also_conversation_ids: frozenset[int] = frozenset()

    @classmethod
    def everything(cls) -> SearchScope:
        return cls()

    @classmethod
    def nothing(cls) -> SearchScope:
        return cls(source_ids=frozenset())

    @classmethod
    def of(
        cls,
        *,
        sources: Iterable[int] | None = None,
        conversations: Iterable[int] | None = None,
        also_conversations: Iterable[int] = (),
    ) -> SearchScope:
        return cls(
            frozenset(sources) if sources is not None else None,
            frozenset(conversations) if conversations is not None else None,
            frozenset(also_conversations),
        )

    @property
    def is_everything(self) -> bool:
        return self.source_ids is None and self.conversation_ids is None

    @property
    def is_nothing(self) -> bool:
        return not self.also_conversation_ids and (
            (self.source_ids is not None and not self.source_ids)
            or (self.conversation_ids is not None and not self.conversation_ids)
        )

    def message_q(self, prefix: str = "") -> Q:
        """The scope as a condition on ``archive.Message`` rows (``prefix`` for a related
        model, e.g. ``"messages__"``); for reads outside the search service. Does not check
        that the source is done."""
        if self.is_everything:
            return Q()
        base = Q()
        if self.source_ids is not None:
            base &= Q(**{f"{prefix}source_id__in": sorted(self.source_ids)})
        if self.conversation_ids is not None:
            base &= Q(**{f"{prefix}conversation_id__in": sorted(self.conversation_ids)})
        if self.also_conversation_ids:
            base |= Q(**{f"{prefix}conversation_id__in": sorted(self.also_conversation_ids)})
        return base

    def covers_conversation_q(self) -> Q:
        """Conversations with at least one message in scope, as a condition on
        ``archive.Conversation`` rows (exact, without scanning messages, when the scope names
        conversations only)."""
        if self.is_everything:
            return Q()
        if self.source_ids is None:
            ids = set(self.conversation_ids or ()) | set(self.also_conversation_ids)
            return Q(id__in=sorted(ids))
        return Q(id__in=Message.objects.filter(self.message_q()).values("conversation_id"))

    def key(self) -> str:
        def part(ids: frozenset[int] | None) -> str:
            return "*" if ids is None else ",".join(map(str, sorted(ids)))

        key = f"s={part(self.source_ids)};c={part(self.conversation_ids)}"
        return key + (f";a={part(self.also_conversation_ids)}" if self.also_conversation_ids else "")


@dataclass
class SearchHit:
    message: OpenedMessage
    highlights: list[tuple[int, int]] = field(default_factory=list)  # [start, end) in message.text
    before: list[OpenedMessage] = field(default_factory=list)  # oldest first
    after: list[OpenedMessage] = field(default_factory=list)  # oldest first


@dataclass
class SearchResult:
    items: list[SearchHit]
    count: int
    count_exact: bool
    next_cursor: str | None
    query: ParsedQuery
    truncated: bool = False  # the candidate budget ran out before the page was full
    candidates_checked: int = 0  # decrypted to check phrases/exclusions (0 when none needed)
    # Months a ``word*`` term could not search: indexed before DMVAULT_INDEX_PREFIXES was on.
    # Shown to the searcher, since matches there are missing from the results and the count.
    months_without_prefixes: int = 0

    @property
    def count_label(self) -> str:
        return f"{self.count}" if self.count_exact else f"at least {self.count}"


# --- participants --------------------------------------------------------------------------------


class ParticipantDirectory:
    """Resolves ``from:``/``to:``/``with:`` values to participant ids. Exact platform ids go
    through the keyed hash (no decryption); anything else decrypts the identities of the
    participants in scope once and keeps them for the request. Share one per request."""

    def __init__(self, vault: Vault | None = None) -> None:
        self.vault = vault or get_vault()
        self._identities: dict[int, tuple[str, ...]] | None = None
        self._names: dict[int, tuple[str, ...]] = {}
        self._scope_conversations: tuple[int, ...] | None = None

    def resolve(
        self, value: str, *, platforms: Iterable[str], conversations: tuple[int, ...] | None
    ) -> set[int]:
        lowered = value.lower()
        if lowered.startswith("subject:"):
            return set(Participant.objects.filter(subject_id=int(value[8:])).values_list("id", flat=True))
        if lowered.startswith("participant:"):
            return set(Participant.objects.filter(id=int(value[12:])).values_list("id", flat=True))
        raw = [value, value[1:]] if value.startswith("@") and len(value) > 1 else [value]
        keys = [self.vault.keyed_hash(b"participant", p, v) for p in platforms for v in raw]
        by_hash = set(Participant.objects.filter(dedup_key__in=keys).values_list("id", flat=True))
        if by_hash:
            return by_hash
        return self._by_identity(value, conversations)

    def _load(self, conversations: tuple[int, ...] | None) -> dict[int, tuple[str, ...]]:
        if self._identities is not None and self._scope_conversations == conversations:
            return self._identities
        rows = Participant.objects.all()
        if conversations is not None:
            through = Conversation.participants.through.objects.filter(conversation_id__in=conversations)
            rows = rows.filter(id__in=through.values("participant_id"))
        rows_list = list(rows.values_list("id", "dek_id", "identity_ct"))
        keys = self.vault.data_keys_for_read(dek for _, dek, _ in rows_list)
        found: dict[int, tuple[str, ...]] = {}
        for pid, dek_id, sealed in rows_list:
            key = keys.get(dek_id)
            if key is None:
                continue  # a shredded identity can no longer be found by name
            ident = json.loads(Vault.open(key, dek_id, "participant.identity", pid, sealed))
            handle = (ident.get("handle") or "").lstrip("@")
            found[pid] = tuple(
                normalize(str(v)).strip() for v in (ident.get("id") or "", handle, ident.get("name") or "")
            )
            self._names[pid] = tuple(phrase_tokens(ident.get("name") or ""))
        self._identities, self._scope_conversations = found, conversations
        return found

    def _by_identity(self, value: str, conversations: tuple[int, ...] | None) -> set[int]:
        wanted = normalize(value.lstrip("@") if len(value) > 1 else value).strip()
        words = phrase_tokens(value)
        out = set()
        for pid, fields in self._load(conversations).items():
            if wanted in fields or (words and _contains_seq(self._names[pid], words)):
                out.add(pid)
        return out


# --- building the plan ---------------------------------------------------------------------------


@dataclass
class _Plan:
    index_query: IndexQuery
    filt: MessageFilter
    id_range: IdRange
    post_check: bool
    visible_sources: tuple[int, ...] | None
    nothing: bool = False


def _pairs_of(term: Term) -> list[str]:
    """The word pairs a phrase (or a word the normalizer splits, like ``e-mail``) needs in the
    index: every two adjacent index terms of it. Only used in months with pair tokens, where
    they narrow the candidates to messages with the words next to each other; the phrase is
    still checked on the decrypted text (stop words, order across a skipped word, punctuation).
    Not for CJK, checked as a substring."""
    if term.kind == "prefix" or not term.needs_check or _is_cjk(term.words):
        return []
    return sorted(index.pair_terms(term.text))


def _conversations_of(pids: set[int]) -> set[int]:
    through = Conversation.participants.through.objects.filter(participant_id__in=pids)
    return set(through.values_list("conversation_id", flat=True))


def _build_plan(parsed: ParsedQuery, scope: SearchScope, tz: str, directory: ParticipantDirectory) -> _Plan:
    for f in parsed.filters:
        if f.key == "lang":
            raise QuerySyntaxError(
                "lang: is not supported yet: message language is not detected or indexed", f.position
            )
        if f.key == "to" and f.negated:
            raise QuerySyntaxError("-to: is not supported; use -with: or -from:", f.position)

    # A scope that adds whole conversations to its sources (``also_conversation_ids``) is an OR
    # and goes into the filter as one condition; otherwise it is folded into the AND below.
    union = bool(scope.also_conversation_ids)
    folded = SearchScope.everything() if union else scope
    scope_any = (
        (
            tuple(sorted(scope.source_ids)) if scope.source_ids is not None else None,
            tuple(sorted(scope.conversation_ids)) if scope.conversation_ids is not None else None,
            tuple(sorted(scope.also_conversation_ids)),
        )
        if union
        else None
    )

    # Sources: done, inside the scope, and as the query narrows them.
    statuses = dict(Source.objects.values_list("id", "status"))
    done = {sid for sid, status in statuses.items() if status == Source.Status.DONE}
    visible = done if folded.source_ids is None else done & folded.source_ids
    for f in parsed.filter_values("source"):
        ids = {int(v) for v in f.values}
        visible = visible - ids if f.negated else visible & ids
    unrestricted = folded.source_ids is None and not parsed.filter_values("source")
    if unrestricted and len(done) == len(statuses):
        source_ids: tuple[int, ...] | None = None
    else:
        source_ids = tuple(sorted(visible))

    # Conversations.
    convs: set[int] | None = set(folded.conversation_ids) if folded.conversation_ids is not None else None
    excluded_convs: set[int] = set()

    def narrow(ids: set[int], negated: bool) -> None:
        nonlocal convs
        if negated:
            excluded_convs.update(ids)
        else:
            convs = ids if convs is None else convs & ids

    platforms = [v for f in parsed.filter_values("platform") if not f.negated for v in f.values]
    for f in parsed.filter_values("platform"):
        narrow(
            set(Conversation.objects.filter(platform__in=f.values).values_list("id", flat=True)), f.negated
        )
    for f in parsed.filter_values("conversation"):
        narrow({int(v) for v in f.values}, f.negated)
    labels = parsed.filter_values("label")
    if labels:
        all_labels = list(Conversation.objects.values_list("id", "labels"))
        for f in labels:
            wanted = {normalize(v) for v in f.values}
            narrow(
                {cid for cid, ls in all_labels if wanted & {normalize(str(x)) for x in ls or ()}}, f.negated
            )

    # Participants.
    from archive.models import Platform

    hash_platforms = platforms or list(Platform.values)
    senders: set[int] | None = None
    excluded_senders: set[int] = set()
    scope_convs = tuple(sorted(folded.conversation_ids)) if folded.conversation_ids is not None else None

    def people(f: Filter) -> set[int]:
        out: set[int] = set()
        for v in f.values:
            out |= directory.resolve(v, platforms=hash_platforms, conversations=scope_convs)
        return out

    for f in parsed.filters:
        if f.key not in ("from", "to", "with"):
            continue
        pids = people(f)
        if f.key == "from":
            if f.negated:
                excluded_senders |= pids
            else:
                senders = pids if senders is None else senders & pids
        elif f.key == "with":
            narrow(_conversations_of(pids), f.negated)
        else:  # to: someone in the conversation who did not send it
            narrow(_conversations_of(pids), False)
            excluded_senders |= pids

    # Kinds and flags.
    kinds: set[str] | None = None
    excluded_kinds: set[str] = set()
    flags: list[tuple[str, bool]] = []
    columns = {"attachment": "has_attachment", "link": "has_link", "edited": "edited", "deleted": "deleted"}
    for f in parsed.filters:
        if f.key == "kind":
            if f.negated:
                excluded_kinds |= set(f.values)
            else:
                kinds = set(f.values) if kinds is None else kinds & set(f.values)
        elif f.key in ("has", "is"):
            if len(f.values) > 1 and not f.negated:
                raise QuerySyntaxError(f"{f.key}: takes one value; repeat it to require several", f.position)
            flags.extend((columns[v], not f.negated) for v in f.values)

    if convs is not None:
        convs -= excluded_convs
        excluded_convs = set()
    if senders is not None:
        senders -= excluded_senders
        excluded_senders = set()
    filt = MessageFilter(
        source_ids=source_ids,
        conversation_ids=tuple(sorted(convs)) if convs is not None else None,
        exclude_conversation_ids=tuple(sorted(excluded_convs)),
        sender_ids=tuple(sorted(senders)) if senders is not None else None,
        exclude_sender_ids=tuple(sorted(excluded_senders)),
        kinds=tuple(sorted(kinds)) if kinds is not None else None,
        exclude_kinds=tuple(sorted(excluded_kinds)),
        flags=tuple(flags),
        scope_any=scope_any,
    )

    # Dates.
    low, high = time_bounds(parsed, tz)
    id_range = IdRange(id_floor(low) if low else 0, id_floor(high) if high else IdRange().high)

    # Terms.
    groups = []
    post_check = False
    for anyof in parsed.required:
        alternatives = []
        usable = True
        for alt in anyof.alternatives:
            terms = tuple(
                dict.fromkeys(
                    [IndexTerm(t, prefix=term.kind == "prefix") for term in alt.terms for t in term.terms]
                    + [IndexTerm(p, pair=True) for term in alt.terms for p in _pairs_of(term)]
                )
            )
            post_check = post_check or any(term.needs_check for term in alt.terms)
            usable = usable and bool(terms)
            alternatives.append(terms)
        if usable:
            groups.append(tuple(alternatives))
        else:
            post_check = True  # an alternative with no indexed word: decided on the text alone
    excluded = tuple(IndexTerm(t.terms[0]) for t in parsed.excluded if t.kind == "word" and not t.needs_check)
    if parsed.excluded:
        post_check = True
    if parsed.required and not groups and not parsed.filters and not parsed.dates:
        term = parsed.required[0].alternatives[0].terms[0]
        raise QuerySyntaxError(
            "this needs at least one indexed word (stop words and one-letter words are not "
            "indexed) or a filter to narrow it",
            term.position,
        )
    nothing = filt.matches_nothing or id_range.empty
    return _Plan(
        IndexQuery(tuple(groups), excluded if groups else ()), filt, id_range, post_check, source_ids, nothing
    )


# --- checking decrypted text -----------------------------------------------------------------------


def _contains_seq(tokens: tuple[str, ...] | list[str], words: tuple[str, ...] | list[str]) -> bool:
    n = len(words)
    if n == 0:
        return False
    first = words[0]
    return any(
        tokens[i] == first and tuple(tokens[i : i + n]) == tuple(words) for i in range(len(tokens) - n + 1)
    )


def _is_cjk(words: tuple[str, ...]) -> bool:
    return any(_CJK_RE.search(w) for w in words)


class _Content:
    """The decrypted content of one message, normalized lazily for the checks."""

    def __init__(self, msg: OpenedMessage) -> None:
        self.msg = msg
        self._terms: set[str] | None = None
        self._tokens: list[str] | None = None
        self._norm: str | None = None

    @property
    def terms(self) -> set[str]:
        if self._terms is None:
            self._terms = index.message_terms(self.msg.text, (self.msg.share_url,))
        return self._terms

    @property
    def tokens(self) -> list[str]:
        if self._tokens is None:
            self._tokens = [w.replace("’", "'") for w in _TERM_RE.findall(self.norm)]
        return self._tokens

    @property
    def norm(self) -> str:
        if self._norm is None:
            self._norm = _normalized_map(self.msg.text, with_map=False)[0]
        return self._norm

    def has(self, term: Term) -> bool:
        if term.kind == "prefix":
            prefix = term.words[0]
            return any(t.startswith(prefix) for t in self.terms)
        if term.kind == "word" and not term.needs_check:
            return set(term.terms) <= self.terms
        if _is_cjk(term.words):
            return normalize(term.text).strip() in self.norm
        return _contains_seq(self.tokens, term.words)


def _matches(msg: OpenedMessage, parsed: ParsedQuery) -> bool:
    if msg.erased:
        return False
    content = _Content(msg)
    for group in parsed.required:
        if not any(all(content.has(t) for t in alt.terms) for alt in group.alternatives):
            return False
    return not any(content.has(t) for t in parsed.excluded)


_CHAR_CACHE: dict[str, str] = {}
_ASCII_RUN = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]")


def _normalized_map(text: str, *, with_map: bool = True) -> tuple[str, list[int]]:
    """``text`` normalized character by character (as ``blind_index.normalize`` does to a whole
    text, but ASCII runs take a fast path), with each normalized character's offset in ``text``
    (one past the end appended), so matches map back to the original."""
    if text.isascii():
        return text.lower(), [*range(len(text)), len(text)] if with_map else []
    parts: list[str] = []
    origin: list[int] = []
    for run in _ASCII_RUN.finditer(text):
        start, piece = run.start(), run.group()
        if piece.isascii():  # ASCII maps one to one
            parts.append(piece.lower())
            if with_map:
                origin.extend(range(start, run.end()))
            continue
        n = _CHAR_CACHE.get(piece)
        if n is None:
            n = normalize(piece)
            if len(_CHAR_CACHE) < 100_000:
                _CHAR_CACHE[piece] = n
        parts.append(n)
        if with_map:
            origin.extend([start] * len(n))
    origin.append(len(text))
    return "".join(parts), origin


def _plain_word(term: Term) -> bool:
    """A one-token word of letters/digits outside CJK: found with one regex, no tokenizing."""
    w = term.words[0] if term.words else ""
    return term.kind == "word" and not term.needs_check and w[:1].isalnum() and not _CJK_RE.search(w)


@functools.lru_cache(maxsize=256)
def _word_pattern(words: tuple[str, ...], prefixes: tuple[str, ...]) -> re.Pattern[str]:
    # The same boundaries as the index tokenizer: letters and digits, an inner apostrophe.
    alts = [re.escape(w) for w in words] + [re.escape(p) + r"[^\W_]*(?:['’][^\W_]+)?" for p in prefixes]
    return re.compile(r"(?<![^\W_])(?:" + "|".join(alts) + r")(?![^\W_])(?!['’][^\W_])")


def highlights(text: str, parsed: ParsedQuery) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of ``text`` where the query's positive words, phrases and
    prefixes occur, sorted and merged."""
    wanted = [t for g in parsed.required for alt in g.alternatives for t in alt.terms]
    if not text or not wanted:
        return []
    norm, origin = _normalized_map(text)
    spans: list[tuple[int, int]] = []
    simple = tuple(sorted({t.words[0] for t in wanted if _plain_word(t)}))
    prefixes = tuple(sorted({t.words[0] for t in wanted if t.kind == "prefix"}))
    rest = [t for t in wanted if t.kind != "prefix" and not _plain_word(t)]
    toks = (
        [(m.group().replace("’", "'"), m.start(), m.end()) for m in _TERM_RE.finditer(norm)] if rest else []
    )
    words = [t[0] for t in toks]

    def add(start: int, end: int) -> None:
        stop = origin[end - 1] + 1
        while stop < len(text) and unicodedata.combining(text[stop]):
            stop += 1  # a decomposed accent belongs to the letter before it
        spans.append((origin[start], stop))

    if simple or prefixes:
        for m in _word_pattern(simple, prefixes).finditer(norm):
            add(m.start(), m.end())
    for term in rest:
        if _is_cjk(term.words):
            needle = normalize(term.text).strip()
            start = norm.find(needle) if needle else -1
            while start >= 0:
                add(start, start + len(needle))
                start = norm.find(needle, start + 1)
        else:
            n = len(term.words)
            for i in range(len(words) - n + 1):
                if tuple(words[i : i + n]) == term.words:
                    add(toks[i][1], toks[i + n - 1][2])
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# --- cursors ----------------------------------------------------------------------------------


def _binding(parsed: ParsedQuery, order: str, tz: str, scope: SearchScope) -> str:
    return salted_hmac(_CURSOR_SALT, f"{parsed.text}\x00{order}\x00{tz}\x00{scope.key()}").hexdigest()[:24]


def _encode_cursor(last_id: int, binding: str) -> str:
    return signing.dumps({"i": last_id, "b": binding}, salt=_CURSOR_SALT)


def _decode_cursor(cursor: str, binding: str) -> int:
    try:
        payload = signing.loads(cursor, salt=_CURSOR_SALT)
    except signing.BadSignature:
        raise InvalidCursor("the cursor is not valid") from None
    if not isinstance(payload, dict) or payload.get("b") != binding or not isinstance(payload.get("i"), int):
        raise InvalidCursor("the cursor belongs to another query, order or scope")
    return int(payload["i"])


# --- the search ----------------------------------------------------------------------------------


def _context(
    hits: list[SearchHit], n: int, plan: _Plan, scope: SearchScope, vault: Vault, keys: KeyCache
) -> None:
    wanted: dict[int, tuple[list[int], list[int]]] = {}
    for hit in hits:
        rows = Message.objects.filter(scope.message_q(), conversation_id=hit.message.conversation_id)
        if plan.visible_sources is not None:
            rows = rows.filter(source_id__in=plan.visible_sources)
        before = list(rows.filter(id__lt=hit.message.id).order_by("-id").values_list("id", flat=True)[:n])
        after = list(rows.filter(id__gt=hit.message.id).order_by("id").values_list("id", flat=True)[:n])
        wanted[hit.message.id] = (before[::-1], after)
    ids = list(dict.fromkeys(i for b, a in wanted.values() for i in (*b, *a)))
    opened = {m.id: m for m in open_messages(ids, vault=vault, keys=keys)} if ids else {}
    for hit in hits:
        before_ids, after_ids = wanted[hit.message.id]
        hit.before = [opened[i] for i in before_ids if i in opened]
        hit.after = [opened[i] for i in after_ids if i in opened]


def search(
    query: str | ParsedQuery,
    *,
    scope: SearchScope,
    order: Order = "newest",
    limit: int = 50,
    cursor: str | None = None,
    context: int = 0,
    tz: str = "UTC",
    count_cap: int = 500,
    max_candidates: int = 2000,
    directory: ParticipantDirectory | None = None,
    vault: Vault | None = None,
) -> SearchResult:
    """Run a query within ``scope``; see the module docstring. Raises ``QuerySyntaxError``,
    ``InvalidCursor`` or ``ValueError`` (bad order, limit, context or time zone)."""
    if order not in ("newest", "oldest"):
        raise ValueError("order must be 'newest' or 'oldest'")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= context <= MAX_CONTEXT:
        raise ValueError(f"context must be between 0 and {MAX_CONTEXT}")
    parsed = parse(query) if isinstance(query, str) else query
    vault = vault or get_vault()
    directory = directory or ParticipantDirectory(vault)
    keys: KeyCache = {}  # data keys unwrapped once per search, never kept beyond it
    plan = _build_plan(parsed, scope, tz, directory)
    binding = _binding(parsed, order, tz, scope)
    after_id = _decode_cursor(cursor, binding) if cursor else None
    if plan.nothing:
        return SearchResult([], 0, True, None, parsed)

    page_range = plan.id_range
    if after_id is not None:
        page_range = (
            IdRange(page_range.low, min(page_range.high, after_id))
            if order == "newest"
            else IdRange(max(page_range.low, after_id + 1), page_range.high)
        )

    has_text = parsed.has_text
    tokenizers: dict[int, Any] = {}
    stats: dict[Any, int] = {}  # term and filter estimates, shared by the page batches and the count
    items: list[OpenedMessage] = []
    pending: list[int] = []
    exhausted = False
    checked = 0
    truncated = False
    last_examined: int | None = None
    batch = limit + 1 if not plan.post_check else max(2 * limit, 100)
    # The first page of an index-only query fetches up to ``count_cap + 1`` ids (ids only; just
    # the page is decrypted), so the same pass gives the count: a second pass over the index
    # would redo the work, most of all for rare terms, whose every month must be read.
    count_in_first_batch = count_cap > 0 and not plan.post_check and after_id is None
    if count_in_first_batch:
        batch = max(batch, count_cap + 1)
    first_batch: int | None = None
    scan_range = page_range
    while len(items) < limit:
        if not pending:
            if exhausted:
                break
            want = max(1, min(batch, max_candidates - checked)) if plan.post_check else batch
            ids = find_matching(
                plan.index_query,
                limit=want,
                id_range=scan_range,
                order=order,
                filt=plan.filt,
                vault=vault,
                tokenizers=tokenizers,
                stats=stats,
            )
            if first_batch is None:
                first_batch = len(ids)
            if len(ids) < want:
                exhausted = True
            if not ids:
                break
            pending = ids
            scan_range = (
                IdRange(scan_range.low, ids[-1])
                if order == "newest"
                else IdRange(ids[-1] + 1, scan_range.high)
            )
            batch = min(batch * 2, 2000) if plan.post_check else batch
        missing = limit - len(items)
        take = min(len(pending), max(2 * missing, 32) if plan.post_check else missing)
        chunk, pending = pending[:take], pending[take:]
        opened = open_messages(chunk, vault=vault, keys=keys)
        for n, msg in enumerate(opened):
            if plan.post_check:
                checked += 1
            last_examined = msg.id
            if (not has_text or not msg.erased) and (not plan.post_check or _matches(msg, parsed)):
                items.append(msg)
                if len(items) == limit:
                    # Candidates decrypted past the full page are looked at again by the next page.
                    pending = [m.id for m in opened[n + 1 :]] + pending
                    break
        if len(items) < limit and checked >= max_candidates:
            truncated = not (exhausted and not pending)
            break

    more = bool(pending) or not exhausted
    next_cursor = None
    if len(items) == limit and more:
        next_cursor = _encode_cursor(items[-1].id, binding)
    elif truncated and last_examined is not None:
        next_cursor = _encode_cursor(last_examined, binding)

    # Counts.
    if count_cap <= 0:
        count, exact = len(items), next_cursor is None and after_id is None and not truncated
    elif count_in_first_batch:
        found = first_batch or 0
        count, exact = min(found, count_cap), found <= count_cap
    elif not plan.post_check:
        count, exact = count_matching(
            plan.index_query,
            cap=count_cap,
            id_range=plan.id_range,
            filt=plan.filt,
            vault=vault,
            tokenizers=tokenizers,
            stats=stats,
        )
    else:
        count, exact = len(items), after_id is None and next_cursor is None and not truncated

    hits = [SearchHit(m, highlights(m.text, parsed) if has_text else []) for m in items]
    if context and hits:
        _context(hits, context, plan, scope, vault, keys)
    return SearchResult(
        hits, count, exact, next_cursor, parsed, truncated, checked, months_without_prefixes(stats)
    )


# --- what a person sees ----------------------------------------------------------------------------


def present(messages: list[OpenedMessage], viewer: Viewer) -> list[PresentedMessage]:
    """Opened messages as ``viewer`` may see them: the redaction view policy of their role and
    declared purpose (``compliance.redaction_service.redact_for_viewer``). Every path that shows
    decrypted message text to a person goes through here (or :func:`search_for`, which calls it)."""
    return redact_for_viewer(messages, viewer.user, viewer.purpose)


def _outside(spans: list[tuple[int, int]], redactions: list[dict[str, Any]]) -> list[tuple[int, int]]:
    marked = [(r["start"], r["end"]) for r in redactions if r.get("field") == "text"]
    return [(s, e) for s, e in spans if not any(s < re_ and rs < e for rs, re_ in marked)]


def present_result(result: SearchResult, viewer: Viewer) -> SearchResult:
    """``result`` with every message it carries (hits and their context) passed through
    :func:`present`. Highlights are recomputed on the presented text and never cover a
    redaction, so a highlight can neither point into a hidden value nor spell it out."""
    hits = result.items
    everything = [m for h in hits for m in (*h.before, h.message, *h.after)]
    shown = {id(m): p for m, p in zip(everything, present(everything, viewer), strict=True)}
    has_text = result.query.has_text
    out = []
    for h in hits:
        m = shown[id(h.message)]
        spans = _outside(highlights(m.text, result.query), m.redactions) if has_text else []
        out.append(SearchHit(m, spans, [shown[id(b)] for b in h.before], [shown[id(a)] for a in h.after]))
    return SearchResult(
        out,
        result.count,
        result.count_exact,
        result.next_cursor,
        result.query,
        result.truncated,
        result.candidates_checked,
        result.months_without_prefixes,
    )


def search_for(
    viewer: Viewer, query: str | ParsedQuery, *, scope: SearchScope, **options: Any
) -> SearchResult:
    """:func:`search` for a person: the same query, scope and options, with the result passed
    through :func:`present_result` (the view policy of the viewer's role). The API, the UI and
    saved-search runs call this; :func:`search` itself returns the archive's text unredacted and
    is for code that applies its own policy (exports) or shows no text (counts, holds, charts)."""
    return present_result(search(query, scope=scope, **options), viewer)


def search_ids(
    query: str | ParsedQuery, *, scope: SearchScope, tz: str = "UTC", cap: int = 20_000
) -> list[int]:
    """Ids of up to ``cap`` matching messages, oldest first, for charts and counts.

    Decrypts nothing when the index and the plain columns decide the query alone (no phrase,
    exclusion or other text check); otherwise falls back to ``search`` page by page, which
    checks the candidates' decrypted text."""
    parsed = parse(query) if isinstance(query, str) else query
    vault = get_vault()
    plan = _build_plan(parsed, scope, tz, ParticipantDirectory(vault))
    if plan.nothing:
        return []
    if not plan.post_check and parsed.has_text:
        return find_matching(
            plan.index_query, limit=cap, id_range=plan.id_range, order="oldest", filt=plan.filt, vault=vault
        )
    ids: list[int] = []
    cursor = None
    while len(ids) < cap:
        result = search(
            parsed, scope=scope, order="oldest", limit=MAX_LIMIT, cursor=cursor, tz=tz, count_cap=0
        )
        ids.extend(h.message.id for h in result.items)
        cursor = result.next_cursor
        if not cursor:
            break
    return ids[:cap]


# --- saved searches --------------------------------------------------------------------------------


def _saved_key_scope(owner_id: int) -> str:
    return f"saved-search:{owner_id}"


@dataclass
class SavedSearchView:
    id: int
    owner_id: int
    name: str
    query: str
    shared: bool
    share_token: str | None
    created_at: Any
    updated_at: Any


def _open_saved(row: SavedSearch, vault: Vault) -> SavedSearchView:
    name = vault.open_field(row.dek_id, "saved_search.name", row.id, bytes(row.name_ct)).decode()
    text = vault.open_field(row.dek_id, "saved_search.query", row.id, bytes(row.query_ct)).decode()
    return SavedSearchView(
        row.id, row.owner_id, name, text, row.shared, row.share_token, row.created_at, row.updated_at
    )


def create_saved_search(
    owner: Any, name: str, query: str, *, shared: bool = False, vault: Vault | None = None
) -> SavedSearchView:
    """Save a query (validated by parsing it first); name and query are sealed."""
    vault = vault or get_vault()
    if not name.strip():
        raise ValueError("a saved search needs a name")
    parse(query)
    row = SavedSearch(owner=owner, shared=shared, share_token=secrets.token_urlsafe(24) if shared else None)
    with transaction.atomic():
        row.dek_id, row.name_ct = vault.seal_field(
            _saved_key_scope(owner.pk), "saved_search.name", row.id, name.strip().encode()
        )
        _, row.query_ct = vault.seal_field(
            _saved_key_scope(owner.pk), "saved_search.query", row.id, query.encode()
        )
        row.save(force_insert=True)
    return _open_saved(row, vault)


def update_saved_search(
    saved_id: int,
    owner: Any,
    *,
    name: str | None = None,
    query: str | None = None,
    shared: bool | None = None,
    vault: Vault | None = None,
) -> SavedSearchView:
    vault = vault or get_vault()
    row = SavedSearch.objects.get(id=saved_id, owner=owner)
    scope = _saved_key_scope(owner.pk)
    if name is not None:
        if not name.strip():
            raise ValueError("a saved search needs a name")
        row.dek_id, row.name_ct = vault.seal_field(scope, "saved_search.name", row.id, name.strip().encode())
    if query is not None:
        parse(query)
        row.dek_id, row.query_ct = vault.seal_field(scope, "saved_search.query", row.id, query.encode())
    if shared is not None:
        row.shared = shared
        row.share_token = (row.share_token or secrets.token_urlsafe(24)) if shared else None
    row.updated_at = timezone.now()
    row.save()
    return _open_saved(row, vault)


def list_saved_searches(owner: Any, *, vault: Vault | None = None) -> list[SavedSearchView]:
    """The owner's saved searches, newest first."""
    vault = vault or get_vault()
    return [
        _open_saved(r, vault) for r in SavedSearch.objects.filter(owner=owner).order_by("-created_at", "-id")
    ]


def get_saved_search(
    *,
    owner: Any = None,
    saved_id: int | None = None,
    share_token: str | None = None,
    vault: Vault | None = None,
) -> SavedSearchView:
    """One saved search: the owner's by id, or anyone's shared one by its token.
    Raises ``SavedSearch.DoesNotExist`` otherwise."""
    vault = vault or get_vault()
    if share_token:
        row = SavedSearch.objects.get(share_token=share_token, shared=True)
    elif owner is not None and saved_id is not None:
        row = SavedSearch.objects.get(id=saved_id, owner=owner)
    else:
        raise SavedSearch.DoesNotExist("give owner and saved_id, or share_token")
    return _open_saved(row, vault)


def delete_saved_search(saved_id: int, owner: Any) -> bool:
    return SavedSearch.objects.filter(id=saved_id, owner=owner).delete()[0] > 0


def run_saved_search(
    saved: SavedSearchView, *, viewer: Viewer, scope: SearchScope, **options: Any
) -> SearchResult:
    """Re-run a saved query through :func:`search_for`, always within the *runner's* scope and
    under the *runner's* view policy (not the owner's: a shared search shows each runner what
    their own role may see)."""
    return search_for(viewer, saved.query, scope=scope, **options)

"""The search query language: a query string becomes a :class:`ParsedQuery`.

Syntax (whitespace separates clauses; every clause must match):

``invoice paid``
    words: each must occur (blind index). Stop words and one-letter words are not indexed and
    are ignored when they stand alone (listed in ``ParsedQuery.ignored``); a query made only of
    them is an error. A word the normalizer cuts into several terms (``rendez-vous``, a CJK run)
    is matched like a phrase.
``"exact phrase"``
    the words in this order, next to each other, checked on the decrypted text of the
    candidates the index finds for the phrase's indexed words (stop words inside a phrase count).
``-word``, ``-"a phrase"``, ``-(a OR b)``
    exclusion, checked on the decrypted candidates (``-(a OR b)`` is ``-a -b``).
``invoice OR receipt``
    either. ``OR`` (upper case) binds tighter than the implicit AND: ``paid invoice OR receipt``
    is ``paid AND (invoice OR receipt)``. Parentheses are optional and only group alternatives;
    inside them a group of words is an AND: ``(red car OR "blue bike") sold``. Parentheses do not
    nest, and filters cannot be OR-ed (give several values instead: ``from:alice,bob``).
``budg*``
    prefix (at least 3 characters), only when the prefix index is on (``DMVAULT_INDEX_PREFIXES``);
    otherwise an error. Prefixes longer than 8 characters are confirmed on the decrypted text.
Filters ``key:value`` (values may be quoted, ``from:"Ana Lima"``; commas give alternatives,
``platform:slack,discord``; a leading ``-`` negates, ``-has:attachment``):
    ``from:`` sender, ``to:`` a participant of the conversation who did not send the message,
    ``with:`` a participant of the conversation. A participant is named by platform id, handle
    (``@`` optional), display name or one word of it (case and accents ignored),
    ``subject:<id>`` (a data subject) or ``participant:<id>``.
    ``platform:``, ``conversation:<id>``, ``source:<id>``, ``label:`` (conversation folder),
    ``kind:`` (text, media, system, call, share, sticker, poll, location, unknown),
    ``has:attachment``, ``has:link``, ``is:edited``, ``is:deleted``.
    ``after:`` (inclusive) / ``before:`` (exclusive) / ``on:`` take ``YYYY``, ``YYYY-MM``,
    ``YYYY-MM-DD`` or an ISO datetime; a value without offset is read in the search's ``tz``
    (``after:2025-01-01T00:00+02:00`` carries its own). ``on:`` takes dates only.
    ``lang:`` parses, but message language is not indexed yet: searching with it is an error.
A ``key:value`` whose key is none of these is plain text (``10:30``, ``re:meeting``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from archive import index
from archive.models import Message, Platform
from archive.vault.blind_index import _TERM_RE, normalize, query_terms

TermKind = Literal["word", "phrase", "prefix"]

PARTICIPANT_KEYS = ("from", "to", "with")
DATE_KEYS = ("after", "before", "on")
FILTER_KEYS = (
    *PARTICIPANT_KEYS,
    *DATE_KEYS,
    "platform",
    "conversation",
    "source",
    "label",
    "kind",
    "has",
    "is",
    "lang",
)
HAS_VALUES = {"attachment": "attachment", "attachments": "attachment", "link": "link", "links": "link"}
IS_VALUES = ("edited", "deleted")
_QUOTES = {'"': '"', "“": "”", "„": "“", "«": "»"}


class QuerySyntaxError(ValueError):
    """A query that cannot be run. ``position`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.message = message
        self.position = position


def phrase_tokens(text: str) -> list[str]:
    """The normalized words of ``text`` in order, stop words included: what phrases compare."""
    return [w.replace("’", "'") for w in _TERM_RE.findall(normalize(text))]


@dataclass(frozen=True)
class Term:
    """A word, phrase or prefix. ``terms`` are its blind-index terms (for a prefix: the prefix,
    cut to 8 characters); ``words`` its normalized words in order, for checks on decrypted text."""

    kind: TermKind
    text: str
    position: int
    terms: tuple[str, ...]
    words: tuple[str, ...]

    @property
    def needs_check(self) -> bool:
        """Whether the index alone cannot decide a match (a phrase, a long prefix...)."""
        if self.kind == "phrase":
            return True
        if self.kind == "prefix":
            return len(self.words[0]) > index.PREFIX_MAX
        return len(self.words) != 1 or self.terms != self.words


@dataclass(frozen=True)
class Alternative:
    """Terms that must all match."""

    terms: tuple[Term, ...]


@dataclass(frozen=True)
class AnyOf:
    """Alternatives of which at least one must match (a lone term is an AnyOf of one)."""

    alternatives: tuple[Alternative, ...]


@dataclass(frozen=True)
class Filter:
    key: str
    values: tuple[str, ...]
    position: int
    negated: bool = False


@dataclass(frozen=True)
class DateBound:
    key: Literal["after", "before", "on"]
    raw: str
    position: int
    value: date | datetime
    precision: Literal["year", "month", "day", "time"]


@dataclass(frozen=True)
class ParsedQuery:
    text: str
    required: tuple[AnyOf, ...] = ()
    excluded: tuple[Term, ...] = ()
    filters: tuple[Filter, ...] = ()
    dates: tuple[DateBound, ...] = ()
    ignored: tuple[str, ...] = field(default=())

    @property
    def has_text(self) -> bool:
        return bool(self.required or self.excluded)

    def filter_values(self, key: str) -> list[Filter]:
        return [f for f in self.filters if f.key == key]


# --- lexing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    type: Literal["word", "phrase", "prefix", "filter", "or", "neg", "lparen", "rparen"]
    text: str
    position: int
    key: str = ""
    quoted: bool = False


def _read_quoted(s: str, start: int) -> tuple[str, int]:
    closing = _QUOTES[s[start]]
    end = s.find(closing, start + 1)
    if end < 0:
        raise QuerySyntaxError("unclosed quote", start)
    return s[start + 1 : end], end + 1


def _lex(s: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            out.append(_Tok("lparen", ch, i))
            i += 1
        elif ch == ")":
            out.append(_Tok("rparen", ch, i))
            i += 1
        elif ch in _QUOTES:
            text, end = _read_quoted(s, i)
            out.append(_Tok("phrase", text, i))
            i = end
        elif ch == "-" and (i + 1 >= n or s[i + 1].isspace() or s[i + 1] == "-"):
            i += 1  # a dash standing alone is punctuation
        elif ch == "-":
            out.append(_Tok("neg", ch, i))
            i += 1
        else:
            start = i
            while i < n and not s[i].isspace() and s[i] not in "()" and s[i] not in _QUOTES:
                i += 1
            word = s[start:i]
            key, colon, value = word.partition(":")
            if colon and key.lower() in FILTER_KEYS:
                quoted = False
                if not value and i < n and s[i] in _QUOTES:
                    value, i = _read_quoted(s, i)
                    quoted = True
                if not value.strip():
                    raise QuerySyntaxError(f"{key.lower()}: needs a value", start)
                out.append(_Tok("filter", value, start, key=key.lower(), quoted=quoted))
            elif word == "OR":
                out.append(_Tok("or", word, start))
            elif "*" in word:
                if word.count("*") > 1 or not word.endswith("*"):
                    raise QuerySyntaxError("'*' is only allowed once, at the end of a word", start)
                out.append(_Tok("prefix", word[:-1], start))
            else:
                out.append(_Tok("word", word, start))
    return out


# --- terms, filters and dates --------------------------------------------------------------------


def _term(tok: _Tok) -> Term | None:
    """The Term of a word, phrase or prefix token; None for a word that is not indexed."""
    words = tuple(phrase_tokens(tok.text))
    if tok.type == "prefix":
        if not tok.text:
            raise QuerySyntaxError("'*' needs a prefix before it", tok.position)
        if not index.prefixes_enabled():
            raise QuerySyntaxError(
                "prefix search (word*) is not enabled on this archive (DMVAULT_INDEX_PREFIXES)",
                tok.position,
            )
        if len(words) != 1 or not index.is_prefixable(words[0]):
            raise QuerySyntaxError(
                f"a prefix needs at least {index.PREFIX_MIN} letters and must be a single word",
                tok.position,
            )
        return Term("prefix", tok.text, tok.position, (words[0][: index.PREFIX_MAX],), words)
    if tok.type == "phrase" and not words:
        raise QuerySyntaxError("empty phrase", tok.position)
    terms = tuple(query_terms(tok.text))
    if tok.type == "word" and not terms:
        return None
    kind: TermKind = "phrase" if tok.type == "phrase" else "word"
    return Term(kind, tok.text, tok.position, terms, words)


def _split_values(tok: _Tok) -> tuple[str, ...]:
    if tok.quoted:
        return (tok.text,)
    values = tuple(v.strip() for v in tok.text.split(","))
    if any(not v for v in values):
        raise QuerySyntaxError(f"{tok.key}: has an empty value in its list", tok.position)
    return values


def _check_choice(
    tok: _Tok, values: tuple[str, ...], allowed: list[str] | tuple[str, ...]
) -> tuple[str, ...]:
    lowered = tuple(v.lower() for v in values)
    for v in lowered:
        if v not in allowed:
            raise QuerySyntaxError(
                f"{tok.key}:{v} is not known; use one of {', '.join(sorted(set(allowed)))}", tok.position
            )
    return lowered


def _filter(tok: _Tok, negated: bool) -> Filter:
    key = tok.key
    values = _split_values(tok)
    if key == "platform":
        values = _check_choice(tok, values, Platform.values)
    elif key == "kind":
        values = _check_choice(tok, values, Message.Kind.values)
    elif key == "has":
        values = tuple(HAS_VALUES[v] for v in _check_choice(tok, values, tuple(HAS_VALUES)))
    elif key == "is":
        values = _check_choice(tok, values, IS_VALUES)
    elif key in ("conversation", "source"):
        if not all(v.isdigit() for v in values):
            raise QuerySyntaxError(f"{key}: takes a numeric id", tok.position)
    elif key == "lang":
        if not all(re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", v) for v in values):
            raise QuerySyntaxError("lang: takes a language code such as en or pt-BR", tok.position)
        values = tuple(v.lower() for v in values)
    elif key in PARTICIPANT_KEYS:
        for v in values:
            for prefix in ("subject:", "participant:"):
                if v.lower().startswith(prefix) and not v[len(prefix) :].isdigit():
                    raise QuerySyntaxError(f"{key}:{prefix} takes a numeric id", tok.position)
    return Filter(key, values, tok.position, negated)


_DATE_RE = re.compile(r"(\d{4})(?:[-/](\d{1,2})(?:[-/](\d{1,2}))?)?")


def _date(tok: _Tok, negated: bool) -> DateBound:
    key = tok.key
    if negated:
        raise QuerySyntaxError(f"{key}: cannot be negated (use the opposite of before:/after:)", tok.position)
    raw = tok.text.strip()
    example = f"{key}: expects a date such as 2025-01-31" + (
        "" if key == "on" else " or a time such as 2025-01-31T09:00+02:00"
    )
    m = _DATE_RE.fullmatch(raw)
    try:
        if m:
            year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
            value = date(year, month, day)
            precision: Literal["year", "month", "day", "time"] = (
                "day" if m[3] else "month" if m[2] else "year"
            )
            return DateBound(key, raw, tok.position, value, precision)  # type: ignore[arg-type]
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise QuerySyntaxError(example, tok.position) from None
    if key == "on":
        raise QuerySyntaxError("on: takes a date (YYYY, YYYY-MM or YYYY-MM-DD), not a time", tok.position)
    return DateBound(key, raw, tok.position, moment, "time")  # type: ignore[arg-type]


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def _start(bound: DateBound, tzinfo: ZoneInfo) -> datetime:
    value = bound.value
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tzinfo)
    return datetime(value.year, value.month, value.day, tzinfo=tzinfo)


def _end(bound: DateBound, tzinfo: ZoneInfo) -> datetime:
    d = bound.value
    assert not isinstance(d, datetime)
    if bound.precision == "year":
        d = date(d.year + 1, 1, 1)
    elif bound.precision == "month":
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    else:
        d = d + timedelta(days=1)
    return datetime(d.year, d.month, d.day, tzinfo=tzinfo)


def time_bounds(query: ParsedQuery, tz: str = "UTC") -> tuple[datetime | None, datetime | None]:
    """The query's dates as one [low, high) interval of aware datetimes (None = open);
    date-only values and datetimes without an offset are read in ``tz``."""
    tzinfo = zone(tz)
    low: datetime | None = None
    high: datetime | None = None
    for bound in query.dates:
        lo = hi = None
        if bound.key == "after":
            lo = _start(bound, tzinfo)
        elif bound.key == "before":
            hi = _start(bound, tzinfo)
        else:
            lo, hi = _start(bound, tzinfo), _end(bound, tzinfo)
        if lo is not None and (low is None or lo > low):
            low = lo
        if hi is not None and (high is None or hi < high):
            high = hi
    return low, high


# --- parsing ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0
        self.required: list[AnyOf] = []
        self.excluded: list[Term] = []
        self.filters: list[Filter] = []
        self.dates: list[DateBound] = []
        self.ignored: list[str] = []
        self.dropped_content = False

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok | None:
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self) -> ParsedQuery:
        while (tok := self.take()) is not None:
            self.clause(tok)
        if self.dropped_content and not (self.required or self.excluded or self.filters or self.dates):
            raise QuerySyntaxError(
                "nothing to search for: stop words and one-letter words are not indexed "
                "(put them in a phrase with other words)",
                0,
            )
        return ParsedQuery(
            self.text,
            tuple(self.required),
            tuple(self.excluded),
            tuple(self.filters),
            tuple(self.dates),
            tuple(self.ignored),
        )

    def clause(self, tok: _Tok) -> None:
        negated = False
        if tok.type == "neg":
            negated = True
            nxt = self.take()
            if nxt is None or nxt.type in ("or", "rparen", "neg"):
                raise QuerySyntaxError(
                    "'-' must be followed by a word, phrase, filter or group", tok.position
                )
            tok = nxt
        if tok.type == "or":
            raise QuerySyntaxError("OR needs a word, phrase or group on each side", tok.position)
        if tok.type == "rparen":
            raise QuerySyntaxError("')' without a matching '('", tok.position)
        if tok.type == "filter":
            self.filter(tok, negated)
            if (nxt := self.peek()) is not None and nxt.type == "or":
                raise QuerySyntaxError(
                    f"filters cannot be joined with OR; list values instead ({tok.key}:a,b)", nxt.position
                )
            return
        alternatives = self.unit(tok)
        if negated:
            if (nxt := self.peek()) is not None and nxt.type == "or":
                raise QuerySyntaxError("a negated term cannot be joined with OR", nxt.position)
            for alt in alternatives:
                if len(alt) > 1:
                    raise QuerySyntaxError(
                        "-( ) excludes alternatives of one word or phrase each", tok.position
                    )
                self.excluded.extend(alt)
            return
        while (nxt := self.peek()) is not None and nxt.type == "or":
            self.take()
            other = self.take()
            if other is None or other.type in ("or", "rparen"):
                raise QuerySyntaxError("OR needs a word, phrase or group on each side", nxt.position)
            if other.type == "neg":
                raise QuerySyntaxError("a negated term cannot be joined with OR", other.position)
            if other.type == "filter":
                raise QuerySyntaxError(
                    f"filters cannot be joined with OR; list values instead ({other.key}:a,b)",
                    other.position,
                )
            alternatives.extend(self.unit(other))
        kept = tuple(Alternative(tuple(alt)) for alt in alternatives if alt)
        if kept:
            self.required.append(AnyOf(kept))

    def unit(self, tok: _Tok) -> list[list[Term]]:
        """A word, phrase, prefix or parenthesized group, as alternatives (each an AND)."""
        if tok.type == "lparen":
            return self.group(tok)
        term = self.term(tok)
        return [[term]] if term is not None else [[]]

    def term(self, tok: _Tok) -> Term | None:
        term = _term(tok)
        if term is None:
            self.ignored.append(tok.text)
            self.dropped_content = True
        return term

    def group(self, open_tok: _Tok) -> list[list[Term]]:
        alternatives: list[list[Term]] = [[]]
        seen_any = False
        while True:
            tok = self.take()
            if tok is None:
                raise QuerySyntaxError("'(' is never closed", open_tok.position)
            if tok.type == "rparen":
                break
            if tok.type == "lparen":
                raise QuerySyntaxError("parentheses cannot be nested", tok.position)
            if tok.type == "neg":
                raise QuerySyntaxError(
                    "'-' is not allowed inside parentheses; exclude outside them", tok.position
                )
            if tok.type == "filter":
                raise QuerySyntaxError("filters are not allowed inside parentheses", tok.position)
            if tok.type == "or":
                if not seen_any:
                    raise QuerySyntaxError("OR needs a word, phrase or group on each side", tok.position)
                alternatives.append([])
                seen_any = False
                continue
            seen_any = True
            term = self.term(tok)
            if term is not None:
                alternatives[-1].append(term)
        if not seen_any:
            where = open_tok.position if len(alternatives) == 1 else tok.position
            raise QuerySyntaxError(
                "empty parentheses"
                if len(alternatives) == 1
                else "OR needs a word, phrase or group on each side",
                where,
            )
        # An alternative of only stop words would match nearly everything: it is dropped.
        return [alt for alt in alternatives if alt] or [[]]

    def filter(self, tok: _Tok, negated: bool) -> None:
        if tok.key in DATE_KEYS:
            self.dates.append(_date(tok, negated))
        else:
            self.filters.append(_filter(tok, negated))


def parse(text: str) -> ParsedQuery:
    """Parse a query string; raises :class:`QuerySyntaxError` with a position on bad syntax."""
    if len(text) > 2000:
        raise QuerySyntaxError("query is too long (2000 characters at most)", 2000)
    return _Parser(text).parse()


__all__ = [
    "Alternative",
    "AnyOf",
    "DateBound",
    "Filter",
    "ParsedQuery",
    "QuerySyntaxError",
    "Term",
    "parse",
    "phrase_tokens",
    "time_bounds",
]

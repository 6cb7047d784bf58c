"""Blind-index terms: how text is normalized and cut into searchable terms.

The same function runs at ingest and at query time, so a query matches whatever the writer
indexed. Normalization: NFKC (fullwidth and compatibility forms fold), casefold (ß → ss),
optional accent folding (é → e), then words on Unicode boundaries; CJK and Thai runs become
character bigrams; emoji are terms of their own. Stop words and one-letter words are not
indexed: they have no search value and are what frequency analysis would identify first.
Word pairs (:func:`pair_terms`, for phrases) are each two of these terms that follow each other
once stop words and one-letter words are left out.
Bump ``NORMALIZATION_VERSION`` when any of this changes: existing postings need a re-index.
"""

from __future__ import annotations

import re
import unicodedata

NORMALIZATION_VERSION = 1

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "of",
        "on",
        "or",
        "so",
        "the",
        "to",
        "was",
        "were",
        "with",
        "der",
        "die",
        "das",
        "und",
        "ist",
        "zu",
        "den",
        "ein",
        "eine",
        "nicht",
        "mit",
        "es",
        "im",
        "le",
        "la",
        "les",
        "et",
        "est",
        "un",
        "une",
        "des",
        "du",
        "en",
        "que",
        "pas",
        "el",
        "los",
        "las",
        "y",
        "es",
        "un",
        "una",
        "de",
        "que",
        "no",
        "por",
        "o",
        "os",
        "as",
        "e",
        "um",
        "uma",
        "não",
        "que",
    ]
)

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f"
_EMOJI = r"\U0001F000-\U0001FAFF\u2600-\u27BF"
_TERM_RE = re.compile(rf"[{_CJK}]+|[{_EMOJI}]|[^\W_{_CJK}]+(?:['’][^\W_]+)?")
_CJK_RE = re.compile(rf"[{_CJK}]")
_EMOJI_RE = re.compile(rf"[{_EMOJI}]")


def _fold_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str, *, fold_accents: bool = True) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    if fold_accents and not folded.isascii():
        folded = _fold_accents(folded)
    return folded


# word -> its terms, one cache per accent-folding mode (a plain str key is cheaper than a tuple).
_WORD_CACHE: dict[bool, dict[str, tuple[str, ...]]] = {True: {}, False: {}}


def _word_terms(word: str, fold_accents: bool) -> tuple[str, ...]:
    if fold_accents and not word.isascii():
        word = _fold_accents(word)
    first = word[0]
    if _CJK_RE.match(first):
        if len(word) == 1:
            return (word,)
        return tuple(word[i : i + 2] for i in range(len(word) - 1))
    if _EMOJI_RE.match(first):
        return (word,)
    if len(word) >= 2 and word not in STOP_WORDS:
        return (word.replace("’", "'"),)
    return ()


def terms(text: str, *, fold_accents: bool = True) -> set[str]:
    """The distinct index terms of ``text``."""
    out: set[str] = set()
    cache = _WORD_CACHE[fold_accents]
    for word in set(_TERM_RE.findall(unicodedata.normalize("NFKC", text).casefold())):
        found = cache.get(word)
        if found is None:
            found = _word_terms(word, fold_accents)
            if len(cache) < 1_000_000:
                cache[word] = found
        out.update(found)
    return out


def pair_terms(text: str, *, fold_accents: bool = True) -> set[str]:
    """The distinct word pairs of ``text``: each two index terms that follow each other once stop
    words and one-letter words are left out, as ``"first second"`` (a term never holds a space).
    "Meet me at the station" gives ``{"meet me", "me station"}``, so the phrase
    "meet at the station" (pair ``"meet station"``) still finds it; the decrypted check then
    decides on the words left out. Only words of alphabetic scripts and digits pair: a CJK or
    Thai run (already indexed as overlapping bigrams) or an emoji breaks the chain. Must stay in
    step with :func:`terms`: a pair is only indexed where both its words are."""
    out: set[str] = set()
    cache = _PAIR_WORD_CACHE if fold_accents else _PAIR_WORD_CACHE_UNFOLDED
    prev: str | None = None
    for word in _TERM_RE.findall(unicodedata.normalize("NFKC", text).casefold()):
        term = cache.get(word)
        if term is None:
            term = _pair_word(word, fold_accents)
            if len(cache) < 1_000_000:
                cache[word] = term
        if term == _BREAK:
            prev = None
        elif term:
            if prev is not None:
                out.add(prev + " " + term)
            prev = term
        # else a stop word or a one-letter word: skipped, the chain goes on
    return out


_BREAK = "\x00"  # a CJK run or an emoji: no pair across it
_PAIR_WORD_CACHE: dict[str, str] = {}
_PAIR_WORD_CACHE_UNFOLDED: dict[str, str] = {}


def _pair_word(word: str, fold_accents: bool) -> str:
    """What a word is in a chain of pairs: its index term, "" (skipped) or ``_BREAK``."""
    found = _word_terms(word, fold_accents)
    if not found:
        return ""
    if len(found) > 1 or _CJK_RE.match(word[0]) or _EMOJI_RE.match(word[0]):
        return _BREAK
    return found[0]


def query_terms(text: str, *, fold_accents: bool = True) -> list[str]:
    """Terms of a query word or phrase, in order, for matching against the index."""
    return sorted(terms(text, fold_accents=fold_accents))
